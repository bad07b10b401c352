// `npm run demo`: the whole migration on one machine. Starts ZooKeeper (Debian's package), a legacy
// Dubbo provider registered in it, a mesh-side provider of the same interface, a Spring-Cloud-style
// HTTP service registered through eureka-js-client with the bridge's embedded Eureka and its mesh
// twin, then the bridge and callers in a loop; moves the mesh weight 0 -> 100 in steps through the
// admin API, printing each stack's traffic and errors, and stops everything it started.
//
//   npm run demo [-- --step-seconds 3]
import { createServer, Server } from 'node:http';
import { request } from 'undici';
import { Bridge } from '../src/bridge/bridge-process';
import { validateBridgeConfig } from '../src/bridge/config';
import { createLogger } from '../src/telemetry/logger';
import { RawDubboClient } from '../test/support/dubbo-client';
import { SofaProvider, startSofaProvider } from '../test/support/dubbo-peers';
import { StartedEurekaClient, startEurekaClient } from '../test/support/eureka-client';
import { ZookeeperServer, freePort, zookeeperAvailable } from '../test/support/zookeeper';

const IFACE = 'com.example.demo.GreetingService';
const VERSION = '1.0.0';
const APP = 'ORDERS';
const STEPS = [0, 10, 25, 50, 75, 100];

interface TrafficRow {
  service: string;
  stack: string;
  requests: number;
  errors: number;
  p50Ms: number | null;
  p99Ms: number | null;
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
      log: { level: 'warn' },
    });
    const bridge = new Bridge(config, createLogger({ level: 'warn' }));
    const addresses = await bridge.start();
    stopping.push(() => bridge.stop(2000));
    console.log(`bridge: admin http://${addresses.admin}  dubbo ${addresses.dubbo}  http ${addresses.http}`);

    console.log('registering the legacy HTTP service through eureka-js-client ...');
    const eureka: StartedEurekaClient = await startEurekaClient({ port: adminPort, app: APP, instanceId: 'orders-legacy-1', instancePort: legacyHttp.port });
    stopping.push(() => eureka.stop());

    // Callers: a Dubbo consumer on one multiplexed socket and an HTTP client, 8 calls in flight each.
    const dubbo = await RawDubboClient.connect(dubboPort);
    stopping.push(() => dubbo.close());
    let running = true;
    const callers: Promise<void>[] = [];
    for (let i = 0; i < 8; i++) {
      callers.push(
        (async () => {
          while (running) {
            await dubbo.call({ path: IFACE, version: VERSION, method: 'sayHello', parameterTypes: 'Ljava/lang/String;', args: ['demo'] }).catch(() => undefined);
          }
        })(),
        (async () => {
          while (running) {
            await request(`http://127.0.0.1:${httpPort}/orders/42`, { headers: { host: 'orders' } })
              .then((r) => r.body.text())
              .catch(() => undefined);
          }
        })(),
      );
    }
    stopping.push(async () => {
      running = false;
      await Promise.all(callers);
    });

    console.log(`\nmoving the mesh weight of ${IFACE} and ${APP} in steps of ${stepMs / 1000} s:`);
    console.log('weight  service                              legacy req  err   p99 ms | mesh req  err   p99 ms');
    let before = new Map<string, TrafficRow>();
    for (const mesh of STEPS) {
      for (const service of [IFACE, APP]) {
        await request(`http://${addresses.admin}/weights/${service}`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ mesh }),
        }).then((r) => r.body.text());
      }
      await new Promise((r) => setTimeout(r, stepMs));
      const traffic = (await (await request(`http://${addresses.admin}/traffic`)).body.json()) as { dubbo: TrafficRow[]; http: TrafficRow[] };
      const now = new Map<string, TrafficRow>();
      for (const row of [...traffic.dubbo, ...traffic.http]) now.set(`${row.service}|${row.stack}`, row);
      for (const service of [IFACE, APP]) {
        const cells = ['legacy', 'mesh'].map((stack) => {
          const row = now.get(`${service}|${stack}`);
          const prev = before.get(`${service}|${stack}`);
          const requests = (row?.requests ?? 0) - (prev?.requests ?? 0);
          const errors = (row?.errors ?? 0) - (prev?.errors ?? 0);
          return `${String(Math.max(0, requests)).padStart(9)} ${String(Math.max(0, errors)).padStart(4)} ${String(row?.p99Ms ?? '-').padStart(8)}`;
        });
        console.log(`${String(mesh).padStart(5)}%  ${service.padEnd(36)} ${cells[0]} | ${cells[1]}`);
      }
      before = now;
    }
    console.log('\ndone: every step moved traffic without a failed call unless the err columns say otherwise.');
  } finally {
    await stopAll();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
