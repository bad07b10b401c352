// Every request that entered a filter chain ends there exactly once, however it ends: a one-way
// Dubbo call, a caller that hangs up while a filter holds its request or while it is in flight, a
// request no instance can take. A bulkhead slot or a half-open breaker's probe taken by a request
// that never ends is taken for ever; one ended twice is counted twice. Real sockets, real filters
// built from config, the listeners as the sidecar wires them.
import { Catalog, instanceDefaults } from '../../src/catalog';
import { encodeRequest, encodeResponse } from '../../src/dubbo-codec';
import { buildFilterChain, FilterSpec } from '../../src/proxy/filters';
import { silentLogger } from '../../src/telemetry/logger';
import { Registry, metricValue } from '../../src/telemetry/metrics';
import { RawDubboClient } from '../support/dubbo-client';
import { CodecProvider, startCodecProvider } from '../support/dubbo-codec-provider';
import { dubboGateway, httpGateway } from '../support/gateway';
import { httpInstance, okResponse, rawCaller, rawUpstream, TEST_APP } from '../support/http-raw';
import { waitFor } from '../support/wait';

const IFACE = 'com.example.demo.NoticeService';

function chain(specs: FilterSpec[]): ReturnType<typeof buildFilterChain> {
  return buildFilterChain(specs, { logger: silentLogger(), metrics: new Registry() });
}

async function counterValue(metrics: Registry, name: string, reason: string): Promise<number> {
  const metric = (await metrics.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? []).filter((v) => v.labels.reason === reason).reduce((n, v) => n + v.value, 0);
}

/** Resolves once `ms` have passed: for checks that something did NOT happen after the moment it could. */
function after(ms: number): Promise<void> {
  const until = Date.now() + ms;
  return waitFor(`${ms} ms to pass`, () => Date.now() >= until, ms + 5000, 20);
}

describe('filter chain: every request that entered it ends there once', () => {
  let provider: CodecProvider;
  beforeAll(async () => {
    provider = await startCodecProvider({ answer: (method, requestId) => ({ bytes: encodeResponse({ requestId, value: method }) }) });
  });
  afterAll(async () => provider?.close());

  function dubboCatalog(): Catalog {
    const catalog = new Catalog();
    catalog.replaceSource('static', IFACE, [{ ...instanceDefaults(), id: provider.address, service: IFACE, protocol: 'dubbo', host: '127.0.0.1', port: provider.port, stack: 'legacy', origin: { source: 'static' } }]);
    return catalog;
  }

  it('releases the bulkhead slot a one-way Dubbo call took, sent or refused by a later filter', async () => {
    const filters = chain([
      { name: 'isolation', config: { rules: [{ name: 'one-at-a-time', maxConcurrent: 1 }] } },
      { name: 'rate-limit', config: { rules: [{ name: 'notify-once', match: { method: 'notify' }, perSecond: 0.001, burst: 1 }] } },
    ]);
    const gateway = dubboGateway(dubboCatalog(), { filters, policy: () => ({ idempotentMethods: new Set(), retries: 0, timeoutMs: 3000 }) });
    await gateway.listener.start();
    const client = await RawDubboClient.connect(gateway.listener.address.port);
    try {
      const oneWay = (id: bigint): Buffer => encodeRequest({ requestId: id, twoWay: false, path: IFACE, method: 'notify', parameterTypes: '', args: [] });
      const before = provider.requests();
      client.write(oneWay(1001n));
      await waitFor('the provider to get the one-way call', () => provider.requests() === before + 1);
      const first = await client.call({ path: IFACE, method: 'lookup' });
      expect([first.status, first.errorMessage]).toEqual([20, undefined]);
      // The second one-way call takes the slot, then the rate limit refuses it (no answer: one-way).
      client.write(oneWay(1002n));
      const second = await client.call({ path: IFACE, method: 'lookup' });
      expect([second.status, second.errorMessage]).toEqual([20, undefined]);
      expect(provider.requests()).toBe(before + 3); // the refused one-way call never left
    } finally {
      client.close();
      await gateway.stop();
    }
  });

  it('never counts a Dubbo call a filter answered as an error of a stack it never reached', async () => {
    const metrics = new Registry();
    const filters = chain([{ name: 'rate-limit', config: { rules: [{ name: 'one', perSecond: 0.001, burst: 1 }] } }]);
    const gateway = dubboGateway(dubboCatalog(), { metrics, filters, policy: () => ({ idempotentMethods: new Set(), retries: 0, timeoutMs: 3000 }) });
    await gateway.listener.start();
    const client = await RawDubboClient.connect(gateway.listener.address.port);
    try {
      expect((await client.call({ path: IFACE, method: 'lookup' })).value).toBe('lookup');
      expect((await client.call({ path: IFACE, method: 'lookup' })).status).toBe(100);
      const requests = (await metrics.getMetricsAsJSON()).find((m) => m.name === 'mesh_bridge_requests_total');
      expect((requests?.values ?? []).map((v) => [v.labels.stack, v.labels.outcome, v.value])).toEqual([['legacy', 'ok', 1]]);
      expect(await metricValue(metrics, 'mesh_bridge_dubbo_upstream_failures_total', { reason: 'bridge_refusal', refusal: 'rate_limited' })).toBe(1);
    } finally {
      client.close();
      await gateway.stop();
    }
  });

  it('ends a Dubbo call held by a fault delay once when its consumer hangs up: the abort after the delay is not counted again', async () => {
    const metrics = new Registry();
    const filters = chain([
      { name: 'isolation', config: { rules: [{ maxConcurrent: 1 }] } },
      { name: 'fault', config: { rules: [{ name: 'slow-abort', match: { method: 'doomed' }, delay: { ms: 200, percent: 100 }, abort: { percent: 100 } }] } },
    ]);
    const gateway = dubboGateway(dubboCatalog(), { metrics, filters, policy: () => ({ idempotentMethods: new Set(), retries: 0, timeoutMs: 3000 }) });
    await gateway.listener.start();
    try {
      const leaving = await RawDubboClient.connect(gateway.listener.address.port);
      void leaving.call({ path: IFACE, method: 'doomed' }).catch(() => undefined);
      await waitFor('the call to be held', () => (filters.filters[1] as unknown as { injected: { delays: number } }).injected.delays === 1);
      leaving.close();
      await waitFor('the hang-up to be seen', async () => (await counterValue(metrics, 'mesh_bridge_dubbo_upstream_failures_total', 'caller_gone')) === 1);
      const client = await RawDubboClient.connect(gateway.listener.address.port);
      try {
        expect((await client.call({ path: IFACE, method: 'lookup' })).value).toBe('lookup');
        await after(400); // past the delay: where the abort would have landed
        expect(await metricValue(metrics, 'mesh_bridge_dubbo_upstream_failures_total', { refusal: 'fault_injected' })).toBe(0);
        expect(await counterValue(metrics, 'mesh_bridge_dubbo_upstream_failures_total', 'caller_gone')).toBe(1);
        expect((await client.call({ path: IFACE, method: 'lookup' })).value).toBe('lookup');
      } finally {
        client.close();
      }
    } finally {
      await gateway.stop();
    }
  });

  it('releases the bulkhead slot of an HTTP request whose caller hangs up while a fault delay holds it', async () => {
    const upstream = await rawUpstream(() => okResponse('fine'));
    const catalog = new Catalog();
    catalog.replaceSource('static', TEST_APP, [httpInstance(upstream.port)]);
    const filters = chain([
      { name: 'isolation', config: { rules: [{ name: 'one-at-a-time', maxConcurrent: 1 }] } },
      { name: 'fault', config: { rules: [{ name: 'slow', match: { method: 'GET /held' }, delay: { ms: 300, percent: 100 } }] } },
    ]);
    const gateway = httpGateway(catalog, { policy: () => ({ timeoutMs: 5000 }), listener: { filters } });
    await gateway.listener.start();
    try {
      const leaving = await rawCaller(gateway.listener.address.port);
      leaving.socket.write('GET /held HTTP/1.1\r\nHost: greeting-service\r\n\r\n');
      await waitFor('the request to be held', () => (filters.filters[1] as unknown as { injected: { delays: number } }).injected.delays === 1);
      leaving.socket.destroy();
      await leaving.closed;
      await after(500); // past the delay
      const caller = await rawCaller(gateway.listener.address.port);
      caller.socket.write('GET /now HTTP/1.1\r\nHost: greeting-service\r\n\r\n');
      await waitFor('an answer', () => caller.reader.responses.length === 1);
      expect([caller.reader.responses[0].status, caller.reader.responses[0].body]).toEqual([200, 'fine']);
      expect(upstream.requests.map((r) => r.url)).toEqual(['/now']);
      caller.socket.destroy();
    } finally {
      await gateway.stop();
      await upstream.close();
    }
  });

  it('releases the bulkhead slot of an HTTP request that found no instance', async () => {
    const upstream = await rawUpstream(() => okResponse('fine'));
    const catalog = new Catalog();
    const filters = chain([{ name: 'isolation', config: { rules: [{ name: 'one-at-a-time', maxConcurrent: 1 }] } }]);
    const gateway = httpGateway(catalog, { policy: () => ({ timeoutMs: 5000 }), listener: { filters } });
    await gateway.listener.start();
    try {
      const caller = await rawCaller(gateway.listener.address.port);
      caller.socket.write('GET /a HTTP/1.1\r\nHost: GREETING-SERVICE\r\n\r\n');
      await waitFor('an answer', () => caller.reader.responses.length === 1);
      expect(caller.reader.responses[0].headers['x-mesh-bridge-error']).toBe('HTTP_NO_INSTANCE');
      catalog.replaceSource('static', TEST_APP, [httpInstance(upstream.port)]);
      await waitFor('the instance to be routable', () => gateway.routes.routeSet(TEST_APP, '', '').legacy.length === 1);
      caller.socket.write('GET /b HTTP/1.1\r\nHost: GREETING-SERVICE\r\n\r\n');
      await waitFor('a second answer', () => caller.reader.responses.length === 2);
      expect([caller.reader.responses[1].status, caller.reader.responses[1].body]).toEqual([200, 'fine']);
      caller.socket.destroy();
    } finally {
      await gateway.stop();
      await upstream.close();
    }
  });

  it('gives a half-open breaker its probe back when the probe caller hangs up, so the breaker can close', async () => {
    let failing = true;
    const upstream = await rawUpstream((request) => {
      if (request.url === '/hang') return null; // never answers: its caller gives up
      return failing ? 'HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\ndown' : okResponse('fine');
    });
    const catalog = new Catalog();
    catalog.replaceSource('static', TEST_APP, [httpInstance(upstream.port)]);
    const filters = chain([{ name: 'circuit-breaker', config: { rules: [{ name: 'one-error', per: 'service', errorCount: 1, openMs: 100, halfOpenProbes: 1 }] } }]);
    const gateway = httpGateway(catalog, { policy: () => ({ timeoutMs: 5000 }), listener: { filters } });
    await gateway.listener.start();
    const ask = async (path: string): Promise<{ status: number; error: string | undefined }> => {
      const caller = await rawCaller(gateway.listener.address.port);
      caller.socket.write(`GET ${path} HTTP/1.1\r\nHost: greeting-service\r\n\r\n`);
      await waitFor(`an answer to ${path}`, () => caller.reader.responses.length === 1);
      caller.socket.destroy();
      const r = caller.reader.responses[0];
      return { status: r.status, error: r.headers['x-mesh-bridge-error'] };
    };
    try {
      expect((await ask('/fail')).status).toBe(500);
      expect(await ask('/now')).toEqual({ status: 503, error: 'HTTP_CIRCUIT_OPEN' });
      await after(150); // past openMs: the next call is the probe
      const probe = await rawCaller(gateway.listener.address.port);
      probe.socket.write('GET /hang HTTP/1.1\r\nHost: greeting-service\r\n\r\n');
      await waitFor('the probe to reach the upstream', () => upstream.requests.some((r) => r.url === '/hang'));
      probe.socket.destroy();
      await probe.closed;
      failing = false;
      await waitFor('a probe to be admitted and close the breaker', async () => (await ask('/ok')).status === 200, 5000, 50);
      expect(await ask('/ok')).toEqual({ status: 200, error: undefined });
    } finally {
      await gateway.stop();
      await upstream.close();
    }
  });
});
