// Caps per upstream service in the sidecar (Envoy's circuit-breaking thresholds), seen from real
// callers: past maxRequests, maxConnections or maxPending a call is refused at once (HTTP 503,
// Dubbo status 100) with the cap named, and the others go through; a request that ends without
// reaching an upstream gives its place back.
import { Server, createServer, request } from 'node:http';
import { BlackHole, startBlackHole } from '../support/black-hole';
import { RawDubboClient } from '../support/dubbo-client';
import { HttpReply, httpCall } from '../support/http-call';
import { SofaProvider, java, startSofaProvider } from '../support/dubbo-peers';
import { SidecarDubboLab, startSidecarDubboLab } from '../support/sidecar-dubbo-lab';

const IFACE = 'com.example.demo.QuotaService';
const VERSION = '1.0.0';
/** A Dubbo service whose only instance never completes a connection. */
const COLD = 'com.example.demo.ColdService';

type Reply = HttpReply;

const get = (port: number, host: string, path = '/'): Promise<Reply> => httpCall(port, { host, path });

const refusals = (replies: Reply[]): Reply[] => replies.filter((r) => r.status === 503);

/** An HTTP app that answers after 400 ms. */
async function slowServer(): Promise<{ server: Server; address: string }> {
  const server = createServer((req, res) => {
    req.resume();
    setTimeout(() => res.end('slow'), 400);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { server, address: `127.0.0.1:${(server.address() as { port: number }).port}` };
}

describe('mesh-bridge sidecar: caps per upstream service', () => {
  const servers: Server[] = [];
  let blackHole: BlackHole;
  let slowDubbo: SofaProvider;
  let lab: SidecarDubboLab;
  let port: number;

  beforeAll(async () => {
    // Pooled connections are per address: the connection cap gets an app of its own.
    const [shared, own] = [await slowServer(), await slowServer()];
    servers.push(shared.server, own.server);
    blackHole = await startBlackHole();
    slowDubbo = await startSofaProvider({
      interface: IFACE,
      version: VERSION,
      methods: { take: async (x: unknown) => new Promise((done) => setTimeout(() => done(`took:${String(x)}`), 400)) },
      register: false,
    });
    const slow = shared.address;
    lab = await startSidecarDubboLab(
      {
        app: 'quota-client',
        admin: { listen: '127.0.0.1:0' },
        outbound: {
          listen: '127.0.0.1:0',
          filters: [{ name: 'fault', config: { rules: [{ name: 'hold-300', match: { service: 'held' }, delay: { ms: 300, percent: 100 } }] } }],
          services: [
            { name: 'requests', legacy: [slow], caps: { maxRequests: 2 } },
            { name: 'connections', legacy: [own.address], caps: { maxConnections: 2 } },
            { name: 'pending', legacy: [`127.0.0.1:${blackHole.port}`], caps: { maxPending: 1 } },
            {
              name: 'labelled',
              legacy: [{ address: slow, labels: { track: 'stable' } }],
              routes: [{ name: 'beta-only', match: { pathPrefix: '/beta' }, subset: { track: 'beta' }, fallback: false }],
              caps: { maxRequests: 1 },
            },
            { name: 'held', legacy: [slow], caps: { maxRequests: 1 } },
          ],
        },
        dubbo: {
          outbound: {
            listen: '127.0.0.1:0',
            services: [
              { name: IFACE, legacy: [slowDubbo.address], caps: { maxRequests: 1 } },
              { name: COLD, legacy: [`127.0.0.1:${blackHole.port}`], caps: { maxPending: 1 } },
            ],
          },
        },
      },
      { interface: IFACE, version: VERSION, methods: ['take'] },
    );
    port = lab.sidecar.outbound;
  }, 90_000);

  afterAll(async () => {
    await lab?.stop();
    await slowDubbo?.stop();
    await blackHole?.close();
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    }
  });

  it('refuses an HTTP call past maxRequests with 503 naming the cap', async () => {
    const replies = await Promise.all([1, 2, 3].map(() => get(port, 'requests')));
    expect(replies.filter((r) => r.status === 200)).toHaveLength(2);
    expect(refusals(replies)).toHaveLength(1);
    expect(refusals(replies)[0].body).toContain('bulkhead outbound.services[0].caps.maxRequests for requests is full (2 in flight)');
    expect(await get(port, 'requests')).toEqual({ status: 200, body: 'slow' });
  });

  it('refuses an HTTP call that needs a connection past maxConnections, and reuses the open ones', async () => {
    const replies = await Promise.all([1, 2, 3].map(() => get(port, 'connections')));
    expect(replies.filter((r) => r.status === 200)).toHaveLength(2);
    expect(refusals(replies)[0].body).toContain('cap outbound.services[1].caps.maxConnections reached: 2 upstream connections open for connections');
    // The two connections went back to the pool: calls one at a time reuse them.
    for (let i = 0; i < 3; i++) expect(await get(port, 'connections')).toEqual({ status: 200, body: 'slow' });
  });

  it('refuses a call past maxPending while its upstream connection cannot be made', async () => {
    const started = performance.now();
    const [first, second] = await Promise.all([get(port, 'pending'), new Promise<Reply>((done) => setTimeout(() => done(get(port, 'pending')), 100))]);
    expect(second.status).toBe(503);
    expect(second.body).toContain('cap outbound.services[2].caps.maxPending reached: 1 requests waiting for a connection for pending');
    expect(first.status).toBe(504); // its connect timed out
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('gives the place back when a request ends without an upstream (no instance in its subset)', async () => {
    for (let i = 0; i < 3; i++) expect((await get(port, 'labelled', '/beta/x')).status).toBe(503);
    expect(await get(port, 'labelled', '/x')).toEqual({ status: 200, body: 'slow' });
  });

  it('gives the place back when the caller leaves while a filter holds its request', async () => {
    await new Promise<void>((done) => {
      const req = request({ host: '127.0.0.1', port, headers: { host: 'held' }, agent: false });
      req.on('error', () => done());
      req.end();
      setTimeout(() => req.destroy(), 50);
    });
    // Once the held request would have gone on (300 ms), its place is free again.
    await new Promise((done) => setTimeout(done, 500));
    expect(await get(port, 'held')).toEqual({ status: 200, body: 'slow' });
  });

  it('answers a Dubbo call past maxRequests with status 100 naming the cap, which the consumer decodes', async () => {
    const results = await Promise.all(['a', 'b'].map((x) => lab.consumer.call<string>('take', [java.String(x)])));
    const ok = results.filter((r) => r.err === null);
    const refused = results.filter((r) => r.err !== null);
    expect(ok).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(String(refused[0].err?.message)).toContain(`bulkhead dubbo.outbound.services[0].caps.maxRequests for ${IFACE} is full (1 in flight)`);
    expect(await lab.metric('mesh_sidecar_cap_refusals_total', `stack="dubbo.outbound",service="${IFACE}",cap="maxRequests"`)).toBe(1);
    expect(await lab.metric('mesh_sidecar_cap_refusals_total', 'stack="outbound",service="connections",cap="maxConnections"')).toBe(1);
  });

  it('answers a Dubbo call past maxPending with status 100 while its provider connection cannot be made', async () => {
    const client = await RawDubboClient.connect(lab.sidecar.ports['dubbo.outbound']);
    try {
      const call = () => client.call({ path: COLD, version: VERSION, method: 'warm', parameterTypes: 'Ljava/lang/String;', args: ['x'] });
      const first = call();
      const second = await call();
      expect(second.status).toBe(100);
      expect(JSON.stringify(second)).toContain(`cap dubbo.outbound.services[1].caps.maxPending reached: 1 requests waiting for a connection for ${COLD}`);
      expect((await first).status).not.toBe(20);
    } finally {
      client.close();
    }
  });
});
