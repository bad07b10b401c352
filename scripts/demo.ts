// `npm run demo`: the whole migration on one machine, with callers that find services the way real
// consumers do. Starts ZooKeeper (Debian's package), a legacy Dubbo provider registered in it and
// its mesh-side twin, a Spring-Cloud-style HTTP service registered through eureka-js-client with the
// bridge's embedded Eureka and its mesh twin, then the bridge and three callers that never dial the
// bridge themselves: a Dubbo caller that honours override configurators as Java Dubbo does, an
// apache-dubbo-js caller (both discover through ZooKeeper), and an HTTP caller that discovers through
// Eureka with eureka-js-client. It moves the mesh weight of both services in steps through the admin
// API and prints, per step and caller, the share of calls each stack answered as the caller saw it.
//
//   npm run demo [-- --step-seconds 3]
import { createServer, Server } from 'node:http';
import { request } from 'undici';
import { Bridge } from '../src/bridge/bridge-process';
import { validateBridgeConfig } from '../src/bridge/config';
import { createLogger } from '../src/telemetry/logger';
import { startConfiguratorConsumer } from '../test/support/configurator-consumer';
import { SofaProvider, java, startDubboJsConsumer, startSofaProvider } from '../test/support/dubbo-peers';
import { StartedEurekaClient, startEurekaClient } from '../test/support/eureka-client';
import { ZookeeperServer, freePort, zookeeperAvailable } from '../test/support/zookeeper';

const IFACE = 'com.example.demo.GreetingService';
const VERSION = '1.0.0';
const APP = 'ORDERS';
const STEPS = [0, 25, 50, 100, 0];

type Answer = 'legacy' | 'mesh' | 'error';

interface Caller {
  label: string;
  service: string;
  call(): Promise<Answer>;
}

/** What one caller saw during one step. */
class Tally {
  legacy = 0;
  mesh = 0;
  errors = 0;
  readonly micros: number[] = [];

  add(answer: Answer, micros: number): void {
    this[answer === 'error' ? 'errors' : answer]++;
    if (this.micros.length < 100_000) this.micros.push(micros);
  }

  row(weight: number, label: string): string {
    const calls = this.legacy + this.mesh + this.errors;
    const pct = (n: number): string => (calls === 0 ? '-' : `${((100 * n) / calls).toFixed(1)}%`);
    const sorted = [...this.micros].sort((a, b) => a - b);
    const p99 = sorted.length === 0 ? '-' : (sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] / 1000).toFixed(1);
    return `${String(weight).padStart(5)}%  ${label.padEnd(44)} ${String(calls).padStart(6)} ${pct(this.legacy).padStart(7)} ${pct(this.mesh).padStart(7)} ${String(this.errors).padStart(6)} ${p99.padStart(7)}`;
  }
}

function argValue(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}

async function httpService(stack: string): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ stack, order: req.url }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

function stackOf(text: unknown): Answer {
  return typeof text === 'string' && text.startsWith('mesh') ? 'mesh' : typeof text === 'string' && text.startsWith('legacy') ? 'legacy' : 'error';
}

async function main(): Promise<void> {
  if (!zookeeperAvailable()) {
    process.stderr.write(
      'The demo needs ZooKeeper from Debian: apt-get install -y zookeeper\n' +
        'To run the bridge against an existing ZooKeeper and Eureka instead, see "Point it at your registries" in the README.\n',
    );
    process.exitCode = 1;
    return;
  }
  const stepMs = argValue('--step-seconds', 3) * 1000;
  const stopping: Array<() => Promise<unknown> | unknown> = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stopping.reverse()) await Promise.resolve(stop()).catch(() => undefined);
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  try {
    console.log('starting ZooKeeper ...');
    const zk = await ZookeeperServer.start();
    stopping.push(() => zk.destroy());

    console.log('starting a legacy Dubbo provider (registered in ZooKeeper) and its mesh twin ...');
    const providers: SofaProvider[] = [];
    for (const stack of ['legacy', 'mesh']) {
      const provider = await startSofaProvider({
        zk: zk.connectString,
        interface: IFACE,
        version: VERSION,
        methods: { sayHello: (name: string) => `${stack} says hello to ${name}` },
        register: stack === 'legacy',
        application: `greeting-${stack}`,
      });
      providers.push(provider);
      stopping.push(() => provider.stop());
    }
    const legacyHttp = await httpService('legacy');
    const meshHttp = await httpService('mesh');
    stopping.push(() => legacyHttp.server.close(), () => meshHttp.server.close());

    const [adminPort, dubboPort, httpPort] = [await freePort(), await freePort(), await freePort()];
    const config = validateBridgeConfig({
      bridge: { id: 'demo-bridge' },
      admin: { port: adminPort },
      zookeeper: { connect: zk.connectString, sessionTimeoutMs: 10_000, export: { target: 'bridge' } },
      dubbo: { port: dubboPort },
      http: { port: httpPort },
      mesh: {
        services: [
          { name: IFACE, protocol: 'dubbo', instances: [{ host: '127.0.0.1', port: providers[1].port, version: VERSION }] },
          { name: APP, protocol: 'http', instances: [{ host: '127.0.0.1', port: meshHttp.port }] },
        ],
      },
      // apache-dubbo-js sends its timeout attachment in seconds: the route's own timeout wins over it.
      routes: [{ service: IFACE, timeoutMs: 3000 }],
      log: { level: 'warn' },
    });
    const bridge = new Bridge(config, createLogger({ level: 'warn' }));
    const addresses = await bridge.start();
    stopping.push(() => bridge.stop(2000));
    console.log(`bridge: admin http://${addresses.admin}  dubbo ${addresses.dubbo}  http ${addresses.http}`);

    console.log('registering the legacy HTTP service through eureka-js-client ...');
    const orders: StartedEurekaClient = await startEurekaClient({ port: adminPort, app: APP, instanceId: 'orders-legacy-1', instancePort: legacyHttp.port });
    stopping.push(() => orders.stop());

    console.log('starting callers that discover through ZooKeeper and Eureka ...');
    const honouring = await startConfiguratorConsumer(zk.connectString, { interface: IFACE, version: VERSION, application: 'demo-java-rules' });
    stopping.push(() => honouring.stop());
    const dubboJs = await startDubboJsConsumer({ zk: zk.connectString, interface: IFACE, version: VERSION, methods: ['sayHello'], application: 'demo-dubbo-js' });
    stopping.push(() => dubboJs.stop());
    // A Spring-Cloud-style caller: registered itself, it fetches the registry and calls an instance of ORDERS it found there.
    const web: StartedEurekaClient = await startEurekaClient({ port: adminPort, app: 'DEMO-WEB', instanceId: 'demo-web-1', instancePort: 1 });
    stopping.push(() => web.stop());

    const callers: Caller[] = [
      {
        label: 'Dubbo, honours configurators (Java rules)',
        service: IFACE,
        call: () => honouring.call('sayHello', ['demo']).then((r) => stackOf(r.value), () => 'error' as const),
      },
      {
        label: 'Dubbo, apache-dubbo-js',
        service: IFACE,
        call: () => dubboJs.call('sayHello', [java.String('demo')]).then(({ err, res }) => (err ? 'error' : stackOf(res))),
      },
      {
        label: 'HTTP, eureka-js-client',
        service: APP,
        async call() {
          const found = web.instances(APP);
          if (found.length === 0) return 'error';
          const instance = found[Math.floor(Math.random() * found.length)] as { ipAddr: string; port: { $: number } };
          try {
            const res = await request(`http://${instance.ipAddr}:${instance.port.$}/orders/42`, { headers: { host: 'orders' } });
            return stackOf(((await res.body.json()) as { stack?: string }).stack);
          } catch {
            return 'error';
          }
        },
      },
    ];

    let tallies = callers.map(() => new Tally());
    let running = true;
    const loops = callers.flatMap((caller, index) =>
      Array.from({ length: 4 }, async () => {
        while (running) {
          const started = process.hrtime.bigint();
          const answer = await caller.call();
          tallies[index].add(answer, Number((process.hrtime.bigint() - started) / 1000n));
          if (answer === 'error') await new Promise((r) => setTimeout(r, 50));
        }
      }),
    );
    stopping.push(async () => {
      running = false;
      await Promise.all(loops);
    });

    console.log(`\nmoving the mesh weight of ${IFACE} and ${APP} in steps of ${stepMs / 1000} s; the share each stack answered, as each caller saw it:`);
    console.log('weight  caller                                        calls  legacy    mesh errors  p99 ms');
    for (const mesh of STEPS) {
      for (const service of [IFACE, APP]) {
        await request(`http://${addresses.admin}/weights/${service}`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ mesh }),
        }).then((r) => r.body.text());
      }
      // Counted once the registries say what the weight implies (consumers follow within moments).
      const deadline = Date.now() + 10_000;
      const steered = (): boolean => honouring.enabled().every((address) => (mesh > 0) === (address === addresses.dubbo));
      while (!steered() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 500));
      tallies = callers.map(() => new Tally());
      await new Promise((r) => setTimeout(r, stepMs));
      const done = tallies;
      callers.forEach((caller, index) => console.log(done[index].row(mesh, caller.label)));
    }
    console.log(
      '\nThe Java-rules caller calls only the bridge while a service is migrated (the bridge writes override' +
        '\nconfigurators disabling the legacy provider) and gets the weight; apache-dubbo-js reads no configurators' +
        '\nand still calls the legacy provider directly beside the bridge. At 0 nothing of the bridge is in ZooKeeper.' +
        '\nFor consumers like it, `zookeeper.export.steering: slots` (with `dubbo.slotPorts`) lists the bridge at enough' +
        '\nendpoints that a uniform pick gives the weight, up to a cap the slot ports set.' +
        '\nSee "How the weight reaches registry consumers" in the README.',
    );
  } finally {
    await stopAll();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
