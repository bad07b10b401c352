// Routing by label in the sidecar, seen from real clients: an apache-dubbo-js consumer (finding the
// sidecar's outbound Dubbo port through ZooKeeper) calls sofa-rpc-node providers labelled in the
// sidecar's config, with Dubbo 2.7 tag routing by the `dubbo.tag` attachment and a per-method
// route; node:http callers are routed by header, method and path to labelled HTTP upstreams.
import { Server, createServer } from 'node:http';
import { DubboJsConsumer, SofaProvider, java, startSofaProvider } from '../support/dubbo-peers';
import { httpCall } from '../support/http-call';
import { SidecarChild } from '../support/sidecar-child';
import { SidecarDubboLab, startSidecarDubboLab } from '../support/sidecar-dubbo-lab';

const IFACE = 'com.example.demo.TaggedService';
const VERSION = '1.0.0';

function provider(name: string): Promise<SofaProvider> {
  return startSofaProvider({
    interface: IFACE,
    version: VERSION,
    methods: { sayHello: async (who: unknown) => `${name}:${String(who)}`, sayBye: async (who: unknown) => `${name}-bye:${String(who)}` },
    register: false,
  });
}

async function httpUpstream(name: string): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => (req.url?.startsWith('/slow') ? setTimeout(() => res.end(name), 1500) : res.end(name)));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { server, port: (server.address() as { port: number }).port };
}

const get = (port: number, method: string, path: string, headers: Record<string, string> = {}) => httpCall(port, { host: 'catalog', method, path, headers });

describe('mesh-bridge sidecar: routing by label', () => {
  const providers: Record<string, SofaProvider> = {};
  const upstreams: Server[] = [];
  let lab: SidecarDubboLab;
  let sidecar: SidecarChild;
  let consumer: DubboJsConsumer;

  beforeAll(async () => {
    for (const name of ['gray', 'plain', 'v2']) providers[name] = await provider(name);
    const canary = await httpUpstream('canary');
    const stable = await httpUpstream('stable');
    upstreams.push(canary.server, stable.server);
    lab = await startSidecarDubboLab(
      {
        app: 'orders',
        admin: { listen: '127.0.0.1:0' },
        outbound: {
          listen: '127.0.0.1:0',
          services: [
            {
              name: 'catalog',
              legacy: [
                { address: `127.0.0.1:${canary.port}`, labels: { track: 'canary' } },
                { address: `127.0.0.1:${stable.port}`, labels: { track: 'stable' } },
              ],
              routes: [
                { name: 'canary-header', match: { headers: { 'X-Canary': 'yes' } }, subset: { track: 'canary' } },
                { name: 'v2-writes', match: { method: 'POST', pathPrefix: '/v2/' }, subset: { track: 'canary' } },
                { name: 'missing-subset', match: { pathPrefix: '/beta/' }, subset: { track: 'beta' }, fallback: false },
                { name: 'slow-timeout', match: { pathPrefix: '/slow' }, timeoutMs: 200 },
                { name: 'stable', subset: { track: 'stable' } },
              ],
            },
          ],
        },
        dubbo: {
          outbound: {
            listen: '127.0.0.1:0',
            services: [
              {
                name: IFACE,
                legacy: [
                  { address: providers.gray.address, labels: { tag: 'gray' } },
                  providers.plain.address,
                  { address: providers.v2.address, labels: { version: 'v2' } },
                ],
                routes: [{ name: 'bye-v2', match: { method: 'sayBye' }, subset: { version: 'v2' }, fallback: false }],
              },
            ],
          },
        },
      },
      { interface: IFACE, version: VERSION, methods: ['sayHello', 'sayBye'] },
    );
    sidecar = lab.sidecar;
    consumer = lab.consumer;
  }, 90_000);

  afterAll(async () => {
    await lab?.stop();
    for (const p of Object.values(providers)) await p.stop();
    for (const server of upstreams) {
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    }
  });

  const hello = (who: string, attachments?: Record<string, string>) => consumer.call<string>('sayHello', [java.String(who)], { attachments });

  it('sends a dubbo.tag call to the instance with that tag, and untagged calls only to untagged instances', async () => {
    const untagged = new Set<string>();
    for (let i = 0; i < 20; i++) {
      expect(await hello('t', { 'dubbo.tag': 'gray' })).toMatchObject({ err: null, res: 'gray:t' });
      const plain = await hello('u');
      expect(plain.err).toBeNull();
      untagged.add(String(plain.res));
    }
    expect(untagged).toEqual(new Set(['plain:u', 'v2:u']));
  });

  it('falls back to untagged instances for a tag no instance has, and refuses it with dubbo.force.tag=true', async () => {
    const fallback = await hello('f', { 'dubbo.tag': 'blue' });
    expect(fallback.err).toBeNull();
    expect(['plain:f', 'v2:f']).toContain(fallback.res);
    const forced = await hello('x', { 'dubbo.tag': 'blue', 'dubbo.force.tag': 'true' });
    expect(forced.res).toBeNull();
    expect(String(forced.err?.message)).toContain(`no legacy or mesh instance of ${IFACE}:${VERSION} with labels tag=blue (rule dubbo.tag; dubbo.force.tag=true: no fallback to untagged instances)`);
  });

  it('routes a method to its labelled subset', async () => {
    for (let i = 0; i < 10; i++) expect(await consumer.call('sayBye', [java.String('b')])).toMatchObject({ err: null, res: 'v2-bye:b' });
  });

  it('routes HTTP calls by header, method and path to labelled subsets, refusing when a strict subset is empty', async () => {
    const port = sidecar.outbound;
    for (let i = 0; i < 5; i++) {
      expect(await get(port, 'GET', '/items', { 'x-canary': 'yes' })).toEqual({ status: 200, body: 'canary' });
      expect(await get(port, 'POST', '/v2/items')).toEqual({ status: 200, body: 'canary' });
      expect(await get(port, 'GET', '/v2/items')).toEqual({ status: 200, body: 'stable' });
      expect(await get(port, 'GET', '/items', { 'x-canary': 'no' })).toEqual({ status: 200, body: 'stable' });
    }
    const beta = await get(port, 'GET', '/beta/items');
    expect(beta.status).toBe(503);
    expect(beta.body).toContain('no legacy or mesh instance of catalog with labels track=beta (rule missing-subset; rule missing-subset has fallback off)');
  });

  it('counts the requests each rule routed and the fallbacks in /metrics', async () => {
    expect(await lab.metric('mesh_sidecar_route_rule_requests_total', 'stack="dubbo.outbound",rule="dubbo.tag"')).toBe(41);
    expect(await lab.metric('mesh_sidecar_route_rule_requests_total', 'stack="dubbo.outbound",rule="bye-v2"')).toBe(10);
    expect(await lab.metric('mesh_sidecar_route_rule_requests_total', 'stack="outbound",rule="canary-header"')).toBe(5);
    expect(await lab.metric('mesh_sidecar_route_fallbacks_total', 'stack="dubbo.outbound",rule="dubbo.tag"')).toBe(1);
  });

  it("cuts an HTTP call at its route rule's timeout", async () => {
    const started = performance.now();
    const reply = await get(sidecar.outbound, 'GET', '/slow/report');
    expect(reply.status).toBe(504);
    expect(reply.body).toContain('HTTP_UPSTREAM_TIMEOUT');
    expect(performance.now() - started).toBeLessThan(1200);
  });
});
