// The Dubbo listener's deadlines judge a peer only after reading what it already sent. A timer
// runs before the reads that are waiting in the kernel: after the event loop was held up (a long
// garbage collection, a slow synchronous task) a check run straight from the timer saw an answer,
// a heartbeat's answer or a completed connection as missing. Each test holds up this process's
// event loop (the bridge runs in it) past a deadline, with the peer's bytes already sent.
// The sidecar's Dubbo mirror sweeps its copies' deadlines the same way.
import { Catalog, Instance, instanceDefaults } from '../../src/catalog';
import { Frame, FrameDecoder, encodeRequest, encodeResponse } from '../../src/dubbo-codec';
import { DubboMirror } from '../../src/proxy/mirror/dubbo-mirror';
import { shadowConfigSchema } from '../../src/proxy/mirror/mirror-config';
import { Shadow } from '../../src/proxy/mirror/shadow';
import { ServiceRoutes } from '../../src/proxy/router/service-routes';
import { StackWeights } from '../../src/proxy/router/stack-weights';
import { Registry, metricValue } from '../../src/telemetry/metrics';
import { RawDubboClient } from '../support/dubbo-client';
import { CodecProvider, holdUpEventLoop, startCodecProvider } from '../support/dubbo-codec-provider';
import { dubboGateway } from '../support/gateway';

const IFACE = 'com.example.demo.LedgerService';

function instanceAt(port: number): Instance {
  return { ...instanceDefaults(), id: `127.0.0.1:${port}`, service: IFACE, protocol: 'dubbo', host: '127.0.0.1', port, stack: 'legacy', origin: { source: 'static' } };
}

const policy = () => ({ idempotentMethods: new Set<string>(), retries: 0, timeoutMs: 300 });

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('Dubbo deadlines after a held-up event loop', () => {
  let provider: CodecProvider | undefined;
  afterEach(async () => {
    await provider?.close();
    provider = undefined;
  });

  it('delivers an answer that arrived before the call deadline though the loop was held up past it', async () => {
    // Answered 100 ms into a 300 ms deadline; then the process is held up until well past it.
    const started = await startCodecProvider({
      answer: (method, requestId) => ({ bytes: encodeResponse({ requestId, value: method }), ...(method === 'heldUp' ? { delayMs: 100, holdUpMs: 700 } : {}) }),
    });
    provider = started;
    const catalog = new Catalog();
    catalog.replaceSource('static', IFACE, [instanceAt(started.port)]);
    const metrics = new Registry();
    const gateway = dubboGateway(catalog, { metrics, policy });
    await gateway.listener.start();
    const client = await RawDubboClient.connect(gateway.listener.address.port);
    try {
      expect(await client.call({ path: IFACE, method: 'warmUp' })).toMatchObject({ status: 20, value: 'warmUp' });
      expect(await client.call({ path: IFACE, method: 'heldUp' })).toMatchObject({ status: 20, value: 'heldUp' });
      expect(await metricValue(metrics, 'mesh_bridge_dubbo_upstream_failures_total', { reason: 'response_timeout' })).toBe(0);
      // The deadline still holds for a provider that really is late.
      const late = await startCodecProvider({ answer: (_method, requestId) => ({ bytes: encodeResponse({ requestId, value: 'late' }), delayMs: 1000 }) });
      try {
        catalog.replaceSource('static', IFACE, [instanceAt(late.port)]);
        expect((await client.call({ path: IFACE, method: 'slow' })).status).toBe(31);
      } finally {
        await late.close();
      }
    } finally {
      client.close();
      await gateway.stop();
    }
  });

  it('keeps a provider whose answer to its third heartbeat arrived before the loop was held up', async () => {
    // The first two heartbeats go unanswered; the third is answered, then the process is held up
    // for three heartbeat intervals with that answer unread.
    const started = await startCodecProvider({
      answer: (method, requestId) => ({ bytes: encodeResponse({ requestId, value: method }) }),
      onHeartbeat: (count, answer) => {
        if (count < 3) return;
        if (count > 3) return answer();
        setImmediate(() => {
          answer();
          holdUpEventLoop(700);
        });
      },
    });
    provider = started;
    const catalog = new Catalog();
    catalog.replaceSource('static', IFACE, [instanceAt(started.port)]);
    // Consumers are left alone here: only the upstream connection's upkeep is judged.
    const gateway = dubboGateway(catalog, { heartbeatIdleMs: 200, limits: { consumerIdleTimeoutMs: 60_000 }, policy });
    await gateway.listener.start();
    const client = await RawDubboClient.connect(gateway.listener.address.port);
    try {
      expect((await client.call({ path: IFACE, method: 'first' })).value).toBe('first');
      const began = Date.now();
      while (started.heartbeats() < 4 && Date.now() - began < 10_000) await sleep(25);
      expect(started.heartbeats()).toBeGreaterThanOrEqual(4);
      await sleep(300);
      expect((await client.call({ path: IFACE, method: 'second' })).value).toBe('second');
      // The same upstream connection carried both calls: it was never declared dead.
      expect(started.accepted()).toBe(1);
    } finally {
      client.close();
      await gateway.stop();
    }
  });

  it('keeps a consumer whose bytes arrived before its idle deadline though the loop was held up past it', async () => {
    const started = await startCodecProvider({ answer: (method, requestId) => ({ bytes: encodeResponse({ requestId, value: method }) }) });
    provider = started;
    const catalog = new Catalog();
    catalog.replaceSource('static', IFACE, [instanceAt(started.port)]);
    const metrics = new Registry();
    // Idle for 300 ms: closed (the bridge sends no heartbeat of its own before that).
    const gateway = dubboGateway(catalog, { metrics, heartbeatIdleMs: 10_000, limits: { consumerIdleTimeoutMs: 300 }, policy });
    await gateway.listener.start();
    const client = await RawDubboClient.connect(gateway.listener.address.port);
    try {
      await sleep(150);
      const answered = new Promise<void>((resolve) => {
        setImmediate(() => {
          // Settled either way: the old sweep closed this consumer before reading its heartbeat.
          void client.heartbeat().then(
            () => resolve(),
            () => resolve(),
          );
          holdUpEventLoop(700);
        });
      });
      await answered;
      expect(client.closed).toBe(false);
      expect(await metricValue(metrics, 'mesh_bridge_dubbo_consumers_closed_total', { reason: 'idle' })).toBe(0);
      // ... and a consumer that really goes silent is still closed.
      await new Promise((resolve) => client.socket.once('close', resolve));
      expect(await metricValue(metrics, 'mesh_bridge_dubbo_consumers_closed_total', { reason: 'idle' })).toBe(1);
    } finally {
      client.close();
      await gateway.stop();
    }
  });

  it('uses a connection completed before its connect timeout though the loop was held up past it', async () => {
    const started = await startCodecProvider({ answer: (method, requestId) => ({ bytes: encodeResponse({ requestId, value: method }) }) });
    provider = started;
    const catalog = new Catalog();
    catalog.replaceSource('static', IFACE, [instanceAt(started.port)]);
    const metrics = new Registry();
    const gateway = dubboGateway(catalog, { metrics, connectTimeoutMs: 200, policy: () => ({ ...policy(), timeoutMs: 5000 }) });
    await gateway.listener.start();
    const client = await RawDubboClient.connect(gateway.listener.address.port);
    try {
      const answer = client.call({ path: IFACE, method: 'connectThenHold' });
      // Once the bridge has sent the call (its connection being made, the connect issued), the
      // loop is held up past the connect timeout: the handshake completes in the kernel meanwhile.
      await new Promise<void>((resolve) => {
        const check = () => {
          if (gateway.listener.pendingOf(started.address) === 0) return void setImmediate(check);
          holdUpEventLoop(700);
          resolve();
        };
        setImmediate(check);
      });
      expect(await answer).toMatchObject({ status: 20, value: 'connectThenHold' });
      expect(await metricValue(metrics, 'mesh_bridge_dubbo_attempt_failures_total', { reason: 'connect_timeout' })).toBe(0);
    } finally {
      client.close();
      await gateway.stop();
    }
  });

  it("compares a mirror copy whose answer arrived before the copy's deadline though the loop was held up past it", async () => {
    const started = await startCodecProvider({ answer: (_method, requestId) => ({ bytes: encodeResponse({ requestId, value: 'same' }), delayMs: 100, holdUpMs: 700 }) });
    provider = started;
    const catalog = new Catalog();
    catalog.replaceSource('static', IFACE, [{ ...instanceAt(started.port), stack: 'mesh' }]);
    const routes = new ServiceRoutes(catalog, new StackWeights(), () => 0, 'dubbo');
    const shadow = new Shadow(new Registry(), shadowConfigSchema.parse({ timeoutMs: 300, dubbo: [{ service: IFACE }] }), () => new Set(['lookup']));
    const mirror = new DubboMirror(shadow, routes);
    try {
      let request: Frame | undefined;
      new FrameDecoder().push(encodeRequest({ requestId: 5n, path: IFACE, version: '', method: 'lookup', parameterTypes: '', args: [] }), (frame) => (request = frame));
      const call = mirror.start(IFACE, '', '', 'lookup', request as Frame, 'legacy');
      expect(call).toBeDefined();
      call?.primaryAnswered(encodeResponse({ requestId: 5n, value: 'same' }));
      call?.primaryEnded('ok');
      const row = async () => (shadow.report.toJSON().methods as Array<Record<string, unknown>>).find((r) => r.method === 'lookup');
      const began = Date.now();
      while ((await row())?.compared !== 1 && Date.now() - began < 10_000) await sleep(25);
      expect(await row()).toMatchObject({ compared: 1, matched: 1, shadowErrors: 0 });
    } finally {
      shadow.close();
      routes.close();
    }
  });
});
