// The latency histogram the cutover planner's gates read: real calls through both listeners land
// in mesh_bridge_request_duration_seconds under their service, stack, method and failure class.
import { createServer } from 'node:http';
import { request } from 'undici';
import { Catalog, Instance, instanceDefaults } from '../../src/catalog';
import { encodeResponse } from '../../src/dubbo-codec';
import { CALL_LATENCY_METRIC } from '../../src/proxy/stats/call-latency';
import { Registry } from '../../src/telemetry/metrics';
import { RawDubboClient } from '../support/dubbo-client';
import { CodecProvider, startCodecProvider } from '../support/dubbo-codec-provider';
import { dubboGateway, httpGateway } from '../support/gateway';

const IFACE = 'com.example.demo.OrderService';

function instance(service: string, protocol: 'dubbo' | 'http', port: number, stack: 'legacy' | 'mesh'): Instance {
  return { ...instanceDefaults(), id: `127.0.0.1:${port}`, service, protocol, host: '127.0.0.1', port, stack, origin: { source: 'static' } };
}

function count(text: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${CALL_LATENCY_METRIC}_count{${labels}}`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('latency histogram per service, stack, method and outcome', () => {
  let provider: CodecProvider;

  beforeAll(async () => {
    const thrown = { $class: 'java.lang.IllegalStateException', $: { detailMessage: 'no such order' } };
    provider = await startCodecProvider({
      answer: (method, requestId) => ({ bytes: method === 'cancel' ? encodeResponse({ requestId, exception: thrown }) : encodeResponse({ requestId, value: 'ok' }) }),
    });
  });
  afterAll(async () => provider?.close());

  it('records Dubbo calls by method, with a business exception as application_exception', async () => {
    const catalog = new Catalog();
    catalog.replaceSource('static', IFACE, [instance(IFACE, 'dubbo', provider.port, 'mesh')]);
    const metrics = new Registry();
    const gateway = dubboGateway(catalog, { metrics, policy: () => ({ idempotentMethods: new Set(), retries: 0, timeoutMs: 3000 }) });
    await gateway.listener.start();
    const client = await RawDubboClient.connect(gateway.listener.address.port);
    try {
      for (let i = 0; i < 7; i++) await client.call({ path: IFACE, method: 'place' });
      for (let i = 0; i < 3; i++) await client.call({ path: IFACE, method: 'cancel' });
      const text = await metrics.metrics();
      const base = `protocol="dubbo",service="${IFACE}",stack="mesh"`;
      expect(count(text, `${base},method="place",outcome="ok"`)).toBe(7);
      expect(count(text, `${base},method="cancel",outcome="application_exception"`)).toBe(3);
    } finally {
      client.close();
      await gateway.stop();
    }
  });

  it('records HTTP calls by method, with an app 5xx as application_exception', async () => {
    const app = createServer((req, res) => {
      res.statusCode = req.method === 'DELETE' ? 500 : 200;
      res.end('x');
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    const port = (app.address() as { port: number }).port;
    const catalog = new Catalog();
    catalog.replaceSource('static', 'ORDERS', [instance('ORDERS', 'http', port, 'legacy')]);
    const metrics = new Registry();
    const gateway = httpGateway(catalog, { metrics, routeBy: 'host', policy: () => ({ timeoutMs: 3000 }) });
    await gateway.listener.start();
    try {
      const url = `http://127.0.0.1:${gateway.listener.address.port}/o`;
      for (let i = 0; i < 4; i++) await (await request(url, { headers: { host: 'orders' } })).body.text();
      for (let i = 0; i < 2; i++) await (await request(url, { method: 'DELETE', headers: { host: 'orders' } })).body.text();
      const text = await metrics.metrics();
      expect(count(text, 'protocol="http",service="ORDERS",stack="legacy",method="GET",outcome="ok"')).toBe(4);
      expect(count(text, 'protocol="http",service="ORDERS",stack="legacy",method="DELETE",outcome="application_exception"')).toBe(2);
    } finally {
      await gateway.stop();
      app.close();
    }
  });
});
