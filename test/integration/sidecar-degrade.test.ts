// Degradation, hot-parameter limits by argument and fault injection by attachment, seen from real
// callers: an unmodified apache-dubbo-js consumer finds the sidecar's outbound Dubbo port through
// ZooKeeper and calls a sofa-rpc-node provider through it; it decodes the fallback values (a string,
// a number, a map, a DTO), gets a fallback exception as its error, gets the fallback once a breaker
// opens on a failing provider, is held on one hot argument value while others pass, and sees a
// delay injected by attachment in its timings. node:http callers get static fallback responses and
// a delay injected by header.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, IncomingHttpHeaders, Server, createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { DubboJsConsumer, SofaProvider, java, registerProvider, startDubboJsConsumer, startSofaProvider } from '../support/dubbo-peers';
import { SidecarChild, adminJson, startSidecar } from '../support/sidecar-child';
import { waitFor } from '../support/wait';
import { ZookeeperServer } from '../support/zookeeper';

const IFACE = 'com.example.demo.CatalogService';
const VERSION = '1.0.0';
const METHODS = ['greeting', 'count', 'prices', 'price', 'stock', 'quote', 'lookup', 'echo'];
const RATE = 10;
const RATE_SECONDS = 2;
/** A few tokens of burst, so a stall of the test's event loop on a busy machine does not waste the refill. */
const BURST = 3;

interface Reply {
  status: number;
  body: string;
  headers: IncomingHttpHeaders;
  ms: number;
}

function httpCall(port: number, host: string, agent: Agent, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  const started = performance.now();
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, method, path: '/items', headers: { host, ...headers }, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers, ms: performance.now() - started }));
      res.on('error', fail);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${host} within 10 s`)));
    req.on('error', fail);
    req.end();
  });
}

/** A degrade rule that always answers with its fallback. */
function forced(name: string, match: Record<string, string>, answer: Record<string, unknown>): Record<string, unknown> {
  return { name, match, mode: 'force', answer };
}

async function metricsText(sidecar: SidecarChild): Promise<string> {
  return String((await adminJson(sidecar, '/metrics')).text);
}

describe('mesh-bridge sidecar: degradation, hot arguments and faults seen from real callers', () => {
  let dir: string;
  let provider: SofaProvider;
  let sidecar: SidecarChild;
  let zk: ZookeeperServer;
  let upstream: Server;
  let upstreamCalls = 0;
  let registration: { unregister(): Promise<void> } | undefined;
  let consumer: DubboJsConsumer;
  let quoteFailing = false;
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sidecar-degrade-'));
    provider = await startSofaProvider({
      interface: IFACE,
      version: VERSION,
      register: false,
      methods: {
        greeting: async () => 'live greeting',
        count: async () => 7,
        prices: async () => ({ live: 'yes' }),
        price: async () => ({ live: 'yes' }),
        stock: async () => 'in stock',
        quote: async () => {
          if (quoteFailing) throw new Error('quote backend down');
          return 'live quote';
        },
        lookup: async (key: unknown) => `found:${String(key)}`,
        echo: async (text: unknown) => `echo:${String(text)}`,
      },
    });
    upstream = createServer((req, res) => {
      upstreamCalls++;
      req.resume();
      res.end('live');
    });
    await new Promise<void>((done) => upstream.listen(0, '127.0.0.1', done));
    const httpPort = (upstream.address() as { port: number }).port;
    const file = join(dir, 'sidecar.yaml');
    writeFileSync(
      file,
      stringify({
        app: 'shop',
        admin: { listen: '127.0.0.1:0' },
        outbound: {
          listen: '127.0.0.1:0',
          filters: [
            {
              name: 'degrade',
              config: {
                rules: [
                  forced('catalog-static', { service: 'catalog' }, { type: 'http', status: 200, headers: { 'content-type': 'text/plain', 'x-source': 'fallback' }, body: 'cached catalog' }),
                  forced('reviews-null', { service: 'reviews' }, { type: 'null' }),
                  forced('ratings-error', { service: 'ratings' }, { type: 'exception', class: 'com.example.RatingsOffException', message: 'ratings are switched off', httpStatus: 503 }),
                ],
              },
            },
            { name: 'fault', config: { rules: [{ name: 'slow-by-header', match: { service: 'live', attributes: { 'x-fault': 'slow' } }, delay: { ms: 300, percent: 100 } }] } },
          ],
          services: ['catalog', 'reviews', 'ratings', 'live'].map((name) => ({ name, legacy: [`127.0.0.1:${httpPort}`] })),
        },
        dubbo: {
          outbound: {
            listen: '127.0.0.1:0',
            filters: [
              {
                name: 'degrade',
                config: {
                  rules: [
                    forced('greeting-off', { method: 'greeting' }, { type: 'value', value: 'fallback greeting' }),
                    forced('count-off', { method: 'count' }, { type: 'value', value: 42 }),
                    forced('prices-off', { method: 'prices' }, { type: 'value', value: { currency: 'EUR', amount: 12, cents: { $long: 1200 } } }),
                    forced('price-off', { method: 'price' }, { type: 'value', value: { $class: 'com.example.demo.Price', fields: { sku: 'A-1', cents: { $long: 999 }, tags: ['cached', 'stale'] } } }),
                    forced('stock-off', { method: 'stock' }, { type: 'exception', class: 'com.example.demo.StockUnavailableException', message: 'stock is switched off for the sale' }),
                    { name: 'quote-fallback', match: { method: 'quote' }, mode: 'on-breaker-open', answer: { type: 'value', value: 'cached quote' } },
                  ],
                },
              },
              { name: 'circuit-breaker', config: { rules: [{ name: 'quote-errors', match: { method: 'quote' }, errorCount: 3, openMs: 60_000 }] } },
              { name: 'rate-limit', config: { rules: [{ name: 'hot-key', match: { method: 'lookup' }, perSecond: RATE, burst: BURST, key: { argument: 0 } }] } },
              { name: 'fault', config: { rules: [{ name: 'slow-when-asked', match: { method: 'echo', attributes: { 'x-fault': 'slow' } }, delay: { ms: 300, percent: 100 } }] } },
            ],
            services: [{ name: IFACE, legacy: [`127.0.0.1:${provider.port}`] }],
          },
        },
      }),
    );
    sidecar = await startSidecar(file);
    zk = await ZookeeperServer.start();
    registration = await registerProvider(zk.connectString, { interface: IFACE, version: VERSION, port: sidecar.ports['dubbo.outbound'], methods: METHODS, application: 'shop-sidecar' });
    consumer = await startDubboJsConsumer({ zk: zk.connectString, interface: IFACE, version: VERSION, methods: METHODS });
  }, 90_000);

  afterAll(async () => {
    agent.destroy();
    await consumer?.stop();
    await registration?.unregister();
    await zk?.destroy();
    await sidecar?.stop();
    await provider?.stop();
    if (upstream) {
      upstream.closeAllConnections();
      await new Promise<void>((done) => upstream.close(() => done()));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives forced fallback values the apache-dubbo-js consumer decodes: a string, a number, a map and a DTO', async () => {
    expect(await consumer.call('greeting', [])).toMatchObject({ err: null, res: 'fallback greeting' });
    expect(await consumer.call('count', [])).toMatchObject({ err: null, res: 42 });
    expect(await consumer.call('prices', [])).toMatchObject({ err: null, res: { currency: 'EUR', amount: 12, cents: 1200 } });
    expect(await consumer.call('price', [])).toMatchObject({ err: null, res: { sku: 'A-1', cents: 999, tags: ['cached', 'stale'] } });
    // Methods with no rule still reach the provider.
    expect(await consumer.call('echo', [java.String('x')])).toMatchObject({ err: null, res: 'echo:x' });
    const metrics = await metricsText(sidecar);
    expect(metrics).toContain('mesh_sidecar_degraded_total{stack="dubbo.outbound",rule="greeting-off",reason="forced"} 1');
    expect(metrics).toContain('mesh_sidecar_degraded_total{stack="dubbo.outbound",rule="price-off",reason="forced"} 1');
  });

  it('gives a forced fallback exception as the consumer error, with the configured class and message', async () => {
    const { err, res } = await consumer.call('stock', []);
    expect(res).toBeNull();
    expect(err?.name).toBe('com.example.demo.StockUnavailableException');
    // apache-dubbo-js puts its own prefix (`uuid: ... invoke <iface>#<method> was error, `) before the message.
    expect(err?.message).toMatch(/ was error, stock is switched off for the sale$/);
  });

  it('answers with the fallback once the breaker opens on a failing provider', async () => {
    expect(await consumer.call('quote', [])).toMatchObject({ err: null, res: 'live quote' });
    quoteFailing = true;
    const seen: string[] = [];
    await waitFor('the breaker to open and the fallback to answer', async () => {
      const { err, res } = await consumer.call<string>('quote', []);
      seen.push(err === null ? String(res) : 'error');
      return res === 'cached quote';
    });
    // Three failures the consumer saw from the provider itself, then the fallback.
    expect(seen).toEqual(['error', 'error', 'error', 'cached quote']);
    expect(await consumer.call('quote', [])).toMatchObject({ err: null, res: 'cached quote' });
    const metrics = await metricsText(sidecar);
    expect(metrics).toContain('mesh_sidecar_degraded_total{stack="dubbo.outbound",rule="quote-fallback",reason="circuit_open"} 2');
    expect(metrics).toMatch(/mesh_sidecar_circuit_breakers\{stack="dubbo.outbound",state="open"\} 1/);
  });

  it(`holds argument 0 = "hot" at ${RATE}/s while other values pass (about R x T admitted over ${RATE_SECONDS} s)`, async () => {
    const hot = { admitted: 0, refused: 0, message: '' };
    const cold = { admitted: 0, refused: 0 };
    const until = performance.now() + RATE_SECONDS * 1000;
    let n = 0;
    await Promise.all([
      // Two callers of the hot value, each at most about 500 calls/s: far over the limit, without
      // taking the machine's cores from everyone else.
      ...[0, 1].map(async () => {
        while (performance.now() < until) {
          const { err, res } = await consumer.call('lookup', [java.String('hot')]);
          if (res === 'found:hot') hot.admitted++;
          else {
            hot.refused++;
            hot.message = String(err?.message);
          }
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
      }),
      (async () => {
        while (performance.now() < until) {
          // Twenty other values in turn, paced to about 100 calls/s: each value below its own limit.
          const key = `user-${n++ % 20}`;
          const { res } = await consumer.call('lookup', [java.String(key)]);
          if (res === `found:${key}`) cold.admitted++;
          else cold.refused++;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      })(),
    ]);
    if (process.env.SHOW_FIGURES) console.log({ hot, cold });
    expect(hot.admitted).toBeGreaterThanOrEqual(RATE * RATE_SECONDS * 0.8);
    expect(hot.admitted).toBeLessThanOrEqual(RATE * RATE_SECONDS + BURST + 1);
    expect(hot.refused).toBeGreaterThan(0);
    expect(hot.message).toContain('rate limit hot-key (10/s) for argument 0="hot" reached');
    expect(cold.refused).toBe(0);
    expect(cold.admitted).toBeGreaterThan(10);
  });

  it('delays only the calls whose attachment matches a fault rule, as the consumer times them', async () => {
    const timed = async (attachments?: Record<string, string>) => {
      const started = performance.now();
      const reply = await consumer.call('echo', [java.String('t')], { attachments });
      expect(reply).toMatchObject({ err: null, res: 'echo:t' });
      return performance.now() - started;
    };
    let plain = Infinity;
    for (let i = 0; i < 3; i++) plain = Math.min(plain, await timed({ 'x-fault': 'no' }));
    const delayed = await timed({ 'x-fault': 'slow' });
    expect(delayed).toBeGreaterThanOrEqual(295);
    expect(delayed - plain).toBeGreaterThanOrEqual(250);
    expect(await metricsText(sidecar)).toContain('mesh_sidecar_faults_injected_total{stack="dubbo.outbound",kind="delay"} 1');
  });

  it('gives node:http callers the static response, a 204 for null and the exception status, never calling the upstream', async () => {
    const before = upstreamCalls;
    const cached = await httpCall(sidecar.outbound, 'catalog', agent);
    expect(cached).toMatchObject({ status: 200, body: 'cached catalog' });
    expect(cached.headers['x-source']).toBe('fallback');
    expect(cached.headers['content-type']).toBe('text/plain');
    expect(cached.headers['x-mesh-bridge-degraded']).toBe('degraded by catalog-static (forced)');
    expect(await httpCall(sidecar.outbound, 'reviews', agent)).toMatchObject({ status: 204, body: '' });
    const error = await httpCall(sidecar.outbound, 'ratings', agent);
    expect(error.status).toBe(503);
    expect(JSON.parse(error.body)).toEqual({ error: { code: 'HTTP_DEGRADED', class: 'com.example.RatingsOffException', message: 'ratings are switched off' } });
    // The same keep-alive connections still carry live calls after the fallbacks.
    expect(await httpCall(sidecar.outbound, 'live', agent)).toMatchObject({ status: 200, body: 'live' });
    expect(upstreamCalls).toBe(before + 1);
    expect(await metricsText(sidecar)).toContain('mesh_sidecar_degraded_total{stack="outbound",rule="ratings-error",reason="forced"} 1');
  });

  it('answers a HEAD request with the fallback head alone, keeping the connection in step', async () => {
    const one = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const head = await httpCall(sidecar.outbound, 'catalog', one, {}, 'HEAD');
      expect(head).toMatchObject({ status: 200, body: '' });
      expect(head.headers['content-length']).toBe(String('cached catalog'.length));
      // The next response on the same connection is read whole: no stray body bytes came before it.
      expect(await httpCall(sidecar.outbound, 'catalog', one)).toMatchObject({ status: 200, body: 'cached catalog' });
      expect(await httpCall(sidecar.outbound, 'live', one)).toMatchObject({ status: 200, body: 'live' });
    } finally {
      one.destroy();
    }
  });

  it('delays only the HTTP calls whose header matches a fault rule, as node:http times them', async () => {
    let plain = Infinity;
    for (let i = 0; i < 3; i++) plain = Math.min(plain, (await httpCall(sidecar.outbound, 'live', agent, { 'x-fault': 'no' })).ms);
    const delayed = await httpCall(sidecar.outbound, 'live', agent, { 'x-fault': 'slow' });
    expect(delayed).toMatchObject({ status: 200, body: 'live' });
    expect(delayed.ms).toBeGreaterThanOrEqual(295);
    expect(delayed.ms - plain).toBeGreaterThanOrEqual(250);
    expect(await metricsText(sidecar)).toContain('mesh_sidecar_faults_injected_total{stack="outbound",kind="delay"} 1');
  });
});
