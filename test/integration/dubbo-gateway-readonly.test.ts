// Graceful restarts on the Dubbo path. A provider that is shutting down says READONLY (Dubbo's
// event "R") and then closes once its calls are answered: the bridge sends it nothing new, so a
// rolling restart of the providers behind the bridge fails no call of a real apache-dubbo-js
// consumer. And when the bridge itself stops, it tells its consumers READONLY, refuses new calls
// with an error they retry elsewhere, and finishes those in flight.
import { Catalog, Instance, instanceDefaults } from '../../src/catalog';
import { encodeResponse, readRoutingView } from '../../src/dubbo-codec';
import { Registry, metricValue } from '../../src/telemetry/metrics';
import { RawDubboClient } from '../support/dubbo-client';
import { CodecProvider, startCodecProvider } from '../support/dubbo-codec-provider';
import { DubboJsConsumer, java, registerProvider, startDubboJsConsumer } from '../support/dubbo-peers';
import { dubboGateway } from '../support/gateway';
import { ZookeeperServer } from '../support/zookeeper';

const IFACE = 'com.example.demo.PaymentService';
const VERSION = '1.0.0';

function instanceAt(provider: CodecProvider): Instance {
  return { ...instanceDefaults(), id: provider.address, service: IFACE, protocol: 'dubbo', host: '127.0.0.1', port: provider.port, stack: 'legacy', version: VERSION, origin: { source: 'static' } };
}

/** A provider that answers `<name>:<argument>` after `delayMs`. */
function namedProvider(name: string, delayMs: number): Promise<CodecProvider> {
  return startCodecProvider({
    answer: (_method, requestId, frame) => {
      const view = readRoutingView(frame.body);
      return { bytes: encodeResponse({ requestId, value: `${name}:${view.method}` }), delayMs };
    },
  });
}

describe('READONLY on the Dubbo path', () => {
  it('carries a real apache-dubbo-js consumer across a rolling restart of the providers without a failed call', async () => {
    const zk = await ZookeeperServer.start();
    const catalog = new Catalog();
    const metrics = new Registry();
    const providers = [await namedProvider('a', 20), await namedProvider('b', 20)];
    catalog.replaceSource('static', IFACE, providers.map(instanceAt));
    const gateway = dubboGateway(catalog, { metrics, policy: () => ({ idempotentMethods: new Set(), retries: 0, timeoutMs: 3000 }) });
    await gateway.listener.start();
    let consumer: DubboJsConsumer | null = null;
    const registration = await registerProvider(zk.connectString, { interface: IFACE, version: VERSION, port: gateway.listener.address.port, methods: ['pay'], application: 'mesh-bridge' });
    try {
      consumer = await startDubboJsConsumer({ zk: zk.connectString, interface: IFACE, version: VERSION, methods: ['pay'] });
      const answers: string[] = [];
      const failures: unknown[] = [];
      let running = true;
      const workers = Array.from({ length: 8 }, async () => {
        while (running) {
          const { err, res } = await (consumer as DubboJsConsumer).call('pay', [java.String('x')]);
          if (err) failures.push(err);
          else answers.push(String(res));
        }
      });
      await new Promise((r) => setTimeout(r, 300));
      for (let i = 0; i < providers.length; i++) {
        const old = providers[i];
        // Dubbo's graceful close: READONLY, answer what is in flight (2 s at most), close. The
        // registry learns of it only afterwards, as it often does.
        await old.stopGracefully(2000);
        providers[i] = await namedProvider(i === 0 ? 'a2' : 'b2', 20);
        catalog.replaceSource('static', IFACE, providers.map(instanceAt));
        await new Promise((r) => setTimeout(r, 300));
      }
      running = false;
      await Promise.all(workers);
      expect(failures).toEqual([]);
      expect(answers.length).toBeGreaterThan(100);
      expect(answers.some((a) => a.startsWith('a2:'))).toBe(true);
      expect(answers.some((a) => a.startsWith('b2:'))).toBe(true);
      expect(await metricValue(metrics, 'mesh_bridge_dubbo_upstream_readonly_total')).toBe(2);
    } finally {
      await consumer?.stop();
      await registration.unregister();
      await gateway.stop();
      await Promise.all(providers.map((p) => p.close()));
      await zk.destroy();
    }
  });

  it('on its own stop tells consumers READONLY, refuses new calls so they go elsewhere, and finishes those in flight', async () => {
    const provider = await namedProvider('p', 400);
    const catalog = new Catalog();
    catalog.replaceSource('static', IFACE, [instanceAt(provider)]);
    const gateway = dubboGateway(catalog, { policy: () => ({ idempotentMethods: new Set(), retries: 0, timeoutMs: 3000 }) });
    await gateway.listener.start();
    const client = await RawDubboClient.connect(gateway.listener.address.port);
    try {
      const inFlight = Array.from({ length: 3 }, () => client.call({ path: IFACE, version: VERSION, method: 'pay' }));
      await new Promise((r) => setTimeout(r, 100));
      const stopped = gateway.listener.stop(3000);
      const started = Date.now();
      const late = await client.call({ path: IFACE, version: VERSION, method: 'pay' });
      expect(Date.now() - started).toBeLessThan(200);
      expect(late.status).not.toBe(20);
      expect(late.errorMessage).toContain('shutting down');
      expect(client.readonlyReceived).toBe(true);
      expect((await Promise.all(inFlight)).map((a) => a.value)).toEqual(['p:pay', 'p:pay', 'p:pay']);
      await stopped;
    } finally {
      client.close();
      gateway.routes.close();
      await provider.close();
    }
  });

  it('answers calls that reach it while it drains with status 100: Java retries that elsewhere, apache-dubbo-js and sofa-rpc-node (which retry no status) get an error naming the shutdown', async () => {
    const zk = await ZookeeperServer.start();
    const provider = await namedProvider('p', 400);
    const catalog = new Catalog();
    catalog.replaceSource('static', IFACE, [instanceAt(provider)]);
    const gateway = dubboGateway(catalog, { policy: () => ({ idempotentMethods: new Set(), retries: 0, timeoutMs: 3000 }) });
    await gateway.listener.start();
    const port = gateway.listener.address.port;
    const registration = await registerProvider(zk.connectString, { interface: IFACE, version: VERSION, port, methods: ['pay'], application: 'mesh-bridge' });
    const client = await RawDubboClient.connect(port);
    const noop = (): void => undefined;
    const { RpcClient } = require('sofa-rpc-node').client as { RpcClient: new (options: object) => SofaRpcClient };
    const sofa = new RpcClient({ logger: { debug: noop, info: noop, warn: noop, error: noop }, protocol: require('js-remoting-for-apache-dubbo') });
    let dubboJs: DubboJsConsumer | null = null;
    let stopped: Promise<void> | null = null;
    try {
      dubboJs = await startDubboJsConsumer({ zk: zk.connectString, interface: IFACE, version: VERSION, methods: ['pay'] });
      const sofaConsumer = sofa.createConsumer({ interfaceName: IFACE, version: VERSION, serverHost: `127.0.0.1:${port}` });
      await sofaConsumer.ready();
      // Both connected before the drain (a draining bridge accepts no connection).
      expect((await dubboJs.call('pay', [java.String('x')])).res).toBe('p:pay');
      expect(await sofaConsumer.invoke('pay', [java.String('x')], { responseTimeout: 3000 })).toBe('p:pay');

      const inFlight = Array.from({ length: 3 }, () => client.call({ path: IFACE, version: VERSION, method: 'pay' }));
      await new Promise((r) => setTimeout(r, 100));
      stopped = gateway.listener.stop(3000);

      const raw = await client.call({ path: IFACE, version: VERSION, method: 'pay' });
      expect(raw.status).toBe(100); // SERVER_THREADPOOL_EXHAUSTED_ERROR: a refusal before any work, retried by Java's failover
      expect(raw.errorMessage).toContain('shutting down');
      const viaDubboJs = await dubboJs.call('pay', [java.String('x')]);
      expect(viaDubboJs.res).toBeNull();
      expect(String(viaDubboJs.err?.message)).toContain('shutting down');
      const viaSofa = await sofaConsumer.invoke('pay', [java.String('x')], { responseTimeout: 3000 }).then(
        () => null,
        (err: Error & { resultCode?: string }) => err,
      );
      expect(viaSofa?.message).toContain('shutting down');
      // sofa files every non-20 status under '01' ("business exception"): no status reads otherwise.
      expect(viaSofa?.resultCode).toBe('01');
      expect((await Promise.all(inFlight)).map((a) => a.value)).toEqual(['p:pay', 'p:pay', 'p:pay']);
      await stopped;
    } finally {
      sofa.close();
      await dubboJs?.stop();
      client.close();
      await stopped;
      gateway.routes.close();
      await registration.unregister();
      await provider.close();
      await zk.destroy();
    }
  });
});

/** The part of sofa-rpc-node's RpcClient used here (it ships no types). */
interface SofaRpcClient {
  createConsumer(options: { interfaceName: string; version: string; serverHost: string }): {
    ready(): Promise<void>;
    invoke(method: string, args: unknown[], options: { responseTimeout: number }): Promise<unknown>;
  };
  close(): void;
}
