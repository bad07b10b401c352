// The Dubbo listener's deadlines against real sockets: a consumer that went silent (died without
// a FIN) is closed after missed heartbeats, and an upstream address that never completes a
// connection costs the connect timeout, is retried elsewhere and counted as connect_timeout.
import { Socket, connect } from 'node:net';
import { Catalog, Instance, instanceDefaults } from '../../src/catalog';
import { encodeResponse } from '../../src/dubbo-codec';
import { Registry, metricValue } from '../../src/telemetry/metrics';
import { BlackHole, startBlackHole } from '../support/black-hole';
import { RawDubboClient } from '../support/dubbo-client';
import { CodecProvider, startCodecProvider } from '../support/dubbo-codec-provider';
import { dubboGateway } from '../support/gateway';

const IFACE = 'com.example.demo.LedgerService';

function instanceAt(port: number): Instance {
  return { ...instanceDefaults(), id: `127.0.0.1:${port}`, service: IFACE, protocol: 'dubbo', host: '127.0.0.1', port, stack: 'legacy', origin: { source: 'static' } };
}

const policy = () => ({ idempotentMethods: new Set<string>(), retries: 0, timeoutMs: 5000 });

describe('Dubbo deadlines', () => {
  let provider: CodecProvider;
  beforeAll(async () => {
    provider = await startCodecProvider({ answer: (_method, requestId) => ({ bytes: encodeResponse({ requestId, value: 'ok' }) }) });
  });
  afterAll(async () => provider?.close());

  it('closes a consumer that went silent after missed heartbeats, and keeps one that answers them', async () => {
    const catalog = new Catalog();
    catalog.replaceSource('static', IFACE, [instanceAt(provider.port)]);
    const metrics = new Registry();
    // Heartbeats after 200 ms of silence; closed after three intervals (600 ms) of it.
    const gateway = dubboGateway(catalog, { metrics, heartbeatIdleMs: 200, policy });
    await gateway.listener.start();
    const port = gateway.listener.address.port;
    const alive = await RawDubboClient.connect(port);
    const silent: Socket = connect({ host: '127.0.0.1', port });
    silent.on('error', () => undefined);
    try {
      await new Promise((r) => silent.once('connect', r));
      // A peer that died without FIN: it never writes, so heartbeats go unanswered. (Reading
      // here only lets the test see the bridge close it.)
      silent.resume();
      const started = Date.now();
      await new Promise((r) => silent.once('close', r));
      const after = Date.now() - started;
      expect(after).toBeGreaterThanOrEqual(500);
      expect(after).toBeLessThan(3000);
      expect(await metricValue(metrics, 'mesh_bridge_dubbo_consumers_closed_total', { reason: 'idle' })).toBe(1);
      // The consumer that answers heartbeats (as Java consumers do) is still served.
      expect(alive.closed).toBe(false);
      expect((await alive.call({ path: IFACE, method: 'still' })).value).toBe('ok');
    } finally {
      alive.close();
      silent.destroy();
      await gateway.stop();
    }
  });

  it('honours a configured idle deadline', async () => {
    const catalog = new Catalog();
    catalog.replaceSource('static', IFACE, [instanceAt(provider.port)]);
    const gateway = dubboGateway(catalog, { limits: { consumerIdleTimeoutMs: 400 }, policy });
    await gateway.listener.start();
    const client = await RawDubboClient.connect(gateway.listener.address.port);
    try {
      const started = Date.now();
      await new Promise((r) => client.socket.once('close', r));
      expect(Date.now() - started).toBeLessThan(2500);
    } finally {
      client.close();
      await gateway.stop();
    }
  });

  describe('an address that never completes a connection', () => {
    let hole: BlackHole;
    beforeAll(async () => {
      hole = await startBlackHole();
    });
    afterAll(async () => hole?.close());

    it('costs the connect timeout, is retried elsewhere and counted as connect_timeout', async () => {
      const catalog = new Catalog();
      catalog.replaceSource('static', IFACE, [instanceAt(hole.port), instanceAt(provider.port)]);
      const metrics = new Registry();
      const gateway = dubboGateway(catalog, { metrics, connectTimeoutMs: 300, policy });
      await gateway.listener.start();
      const client = await RawDubboClient.connect(gateway.listener.address.port);
      try {
        const slowest = { ms: 0 };
        for (let i = 0; i < 30; i++) {
          const started = Date.now();
          const reply = await client.call({ path: IFACE, method: 'post' });
          slowest.ms = Math.max(slowest.ms, Date.now() - started);
          expect(reply).toMatchObject({ status: 20, value: 'ok' });
        }
        expect(slowest.ms).toBeLessThan(1500);
        expect(await metricValue(metrics, 'mesh_bridge_dubbo_attempt_failures_total', { reason: 'connect_timeout' })).toBeGreaterThanOrEqual(1);
        expect(await metricValue(metrics, 'mesh_bridge_dubbo_upstream_failures_total')).toBe(0);
      } finally {
        client.close();
        await gateway.stop();
      }
    });
  });
});
