// One set of failure classes whatever the protocol: the Dubbo and HTTP listeners count the same
// failures under the same labels (`reason` from failure-class.ts, and `refusal` naming the kind of
// a bridge_refusal), so outlier detection, stats, dashboards and gates read one vocabulary.
import { Catalog, Instance, instanceDefaults } from '../../src/catalog';
import { encodeRequest, encodeResponse } from '../../src/dubbo-codec';
import { FAILURE_LABEL_NAMES, OUTCOMES } from '../../src/proxy/failure-class';
import { buildFilterChain } from '../../src/proxy/filters';
import { silentLogger } from '../../src/telemetry/logger';
import { Registry } from '../../src/telemetry/metrics';
import { RawDubboClient } from '../support/dubbo-client';
import { CodecProvider, startCodecProvider } from '../support/dubbo-codec-provider';
import { dubboGateway, httpGateway } from '../support/gateway';
import { httpInstance, okResponse, rawCaller, rawUpstream, TEST_APP } from '../support/http-raw';
import { waitFor } from '../support/wait';

const IFACE = 'com.example.demo.LedgerService';

/** The same failures on both protocols: an application's error, a rate limit, no instance, an unreadable request. */
const EXPECTED = [
  { reason: 'application_exception' },
  { reason: 'bridge_refusal', refusal: 'bad_request' },
  { reason: 'bridge_refusal', refusal: 'no_instance' },
  { reason: 'bridge_refusal', refusal: 'rate_limited' },
];

/** The failure counter's series: labels and value, in a stable order. */
async function failureSeries(metrics: Registry, name: string): Promise<Array<Record<string, string | number>>> {
  const metric = (await metrics.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? []).map((v) => ({ ...v.labels, value: v.value })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

function limitOne(method: string) {
  return buildFilterChain([{ name: 'rate-limit', config: { rules: [{ name: 'once', match: { method }, perSecond: 0.001, burst: 1 }] } }], { logger: silentLogger(), metrics: new Registry() });
}

function pinned(series: Array<Record<string, string | number>>): void {
  expect(series).toEqual(EXPECTED.map((labels) => ({ ...labels, value: 1 })));
  for (const labels of series) {
    expect(Object.keys(labels).filter((k) => k !== 'value').every((k) => (FAILURE_LABEL_NAMES as readonly string[]).includes(k))).toBe(true);
    expect(OUTCOMES).toContain(labels.reason);
  }
}

describe('failure labels, the same for Dubbo and HTTP', () => {
  let provider: CodecProvider;
  beforeAll(async () => {
    provider = await startCodecProvider({
      answer: (method, requestId) => ({ bytes: method === 'broken' ? encodeResponse({ requestId, status: 70, errorMessage: 'ledger is broken' }) : encodeResponse({ requestId, value: method }) }),
    });
  });
  afterAll(async () => provider?.close());

  it('counts Dubbo failures by failure class, with the refusal kind apart', async () => {
    const catalog = new Catalog();
    const instance: Instance = { ...instanceDefaults(), id: provider.address, service: IFACE, protocol: 'dubbo', host: '127.0.0.1', port: provider.port, stack: 'legacy', origin: { source: 'static' } };
    catalog.replaceSource('static', IFACE, [instance]);
    const metrics = new Registry();
    const gateway = dubboGateway(catalog, { metrics, filters: limitOne('limited'), policy: () => ({ idempotentMethods: new Set<string>(), retries: 0, timeoutMs: 3000 }) });
    await gateway.listener.start();
    const client = await RawDubboClient.connect(gateway.listener.address.port);
    try {
      expect((await client.call({ path: IFACE, method: 'fine' })).status).toBe(20);
      expect((await client.call({ path: IFACE, method: 'broken' })).status).toBe(70);
      expect((await client.call({ path: IFACE, method: 'limited' })).status).toBe(20);
      expect((await client.call({ path: IFACE, method: 'limited' })).status).toBe(100);
      expect((await client.call({ path: 'com.example.demo.NobodyService', method: 'fine' })).status).toBe(60);
      // A body whose first value cannot be read (an object of a class never defined).
      const unreadable = encodeRequest({ requestId: 77n, path: IFACE, version: '', method: 'fine', parameterTypes: '', args: [] });
      unreadable[16] = 0x4f;
      expect((await client.sendFrame(unreadable)).status).toBe(40);
      pinned(await failureSeries(metrics, 'mesh_bridge_dubbo_upstream_failures_total'));
    } finally {
      client.close();
      await gateway.stop();
    }
  });

  it('counts HTTP failures under the same labels', async () => {
    const upstream = await rawUpstream((request) => (request.url === '/broken' ? 'HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n' : okResponse('fine')));
    const catalog = new Catalog();
    catalog.replaceSource('static', TEST_APP, [httpInstance(upstream.port)]);
    const metrics = new Registry();
    const gateway = httpGateway(catalog, { metrics, policy: () => ({ timeoutMs: 3000 }), listener: { filters: limitOne('GET /limited') } });
    await gateway.listener.start();
    const status = async (head: string): Promise<number> => {
      const caller = await rawCaller(gateway.listener.address.port);
      try {
        caller.socket.write(head);
        await waitFor('an answer', () => caller.reader.responses.length === 1);
        return caller.reader.responses[0].status;
      } finally {
        caller.socket.destroy();
      }
    };
    try {
      expect(await status('GET /fine HTTP/1.1\r\nHost: greeting-service\r\n\r\n')).toBe(200);
      expect(await status('GET /broken HTTP/1.1\r\nHost: greeting-service\r\n\r\n')).toBe(500);
      expect(await status('GET /limited HTTP/1.1\r\nHost: greeting-service\r\n\r\n')).toBe(200);
      expect(await status('GET /limited HTTP/1.1\r\nHost: greeting-service\r\n\r\n')).toBe(429);
      expect(await status('GET /fine HTTP/1.1\r\nHost: nobody-service\r\n\r\n')).toBe(503);
      expect(await status('GET /fine HTTP/1.1\r\nHost: greeting-service\r\nHost: other-service\r\n\r\n')).toBe(400);
      pinned(await failureSeries(metrics, 'mesh_bridge_http_upstream_failures_total'));
    } finally {
      await gateway.stop();
      await upstream.close();
    }
  });
});
