// The embedded Eureka server under attack, over real sockets: malformed XML, browser-sendable
// bodies, claims of being the mesh side, other clients' instances, registrations that cost the
// bridge memory or time, unbounded metric labels, secrets shown back, and self-preservation that
// an operator must be able to see and end. Each test failed before the fix it pins.
import { Agent, request } from 'undici';
import { Bridge } from '../../src/bridge/bridge-process';
import { validateBridgeConfig } from '../../src/bridge/config';
import type { EmbeddedEurekaOptions } from '../../src/eureka-sync/embedded-eureka';
import { RegistrationPolicy } from '../../src/eureka-sync/registration-policy';
import { silentLogger } from '../../src/telemetry/logger';
import { EmbeddedEurekaHarness, startEmbeddedEureka } from '../support/embedded-eureka';

type Harness = EmbeddedEurekaHarness;

const running: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const h of running.splice(0)) await h.close();
});

async function startServer(options: Partial<EmbeddedEurekaOptions> = {}): Promise<Harness> {
  const harness = await startEmbeddedEureka(options);
  running.push(harness);
  return harness;
}

function instanceJson(app: string, id: string, metadata: Record<string, unknown> = {}): string {
  return JSON.stringify({
    instance: {
      instanceId: id,
      app,
      hostName: '127.0.0.1',
      ipAddr: '127.0.0.1',
      status: 'UP',
      port: { $: 8080, '@enabled': 'true' },
      dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
      metadata,
    },
  });
}

interface Answer {
  status: number;
  body: string;
  json(): { code?: string };
}

async function call(url: string, method: string, body?: string, headers: Record<string, string> = {}, dispatcher?: Agent): Promise<Answer> {
  const r = await request(url, { method: method as 'GET', body, headers, dispatcher });
  const text = await r.body.text();
  return { status: r.statusCode, body: text, json: () => JSON.parse(text) as { code?: string } };
}

const register = (h: Harness, app: string, id: string, metadata: Record<string, unknown> = {}, dispatcher?: Agent): Promise<Answer> =>
  call(`${h.base}/eureka/apps/${app}`, 'POST', instanceJson(app, id, metadata), { 'content-type': 'application/json' }, dispatcher);

describe('embedded Eureka, bad input', () => {
  it('answers an XML character reference beyond Unicode with 400 and a code, not 500', async () => {
    const h = await startServer();
    const xml = '<instance><app>A</app><hostName>h&#x110000;</hostName></instance>';
    const r = await call(`${h.base}/eureka/apps/A`, 'POST', xml, { 'content-type': 'application/xml' });
    expect(r.status).toBe(400);
    expect(r.json().code).toBe('EUREKA_BAD_PAYLOAD');
  });

  it('answers 30,000 nested XML elements with 400 and a code, not a stack overflow', async () => {
    const h = await startServer();
    const xml = `<instance>${'<a>'.repeat(30_000)}${'</a>'.repeat(30_000)}</instance>`;
    const r = await call(`${h.base}/eureka/apps/A`, 'POST', xml, { 'content-type': 'application/xml' });
    expect(r.status).toBe(400);
    expect(r.json().code).toBe('EUREKA_BAD_PAYLOAD');
  });

  it('refuses a registration sent as text/plain (a browser form can send it) with 415', async () => {
    const h = await startServer();
    const r = await call(`${h.base}/eureka/apps/A`, 'POST', instanceJson('A', 'a-1'), { 'content-type': 'text/plain' });
    expect(r.status).toBe(415);
    expect(r.json().code).toBe('EUREKA_UNSUPPORTED_MEDIA_TYPE');
    expect(h.eureka.application('A')).toBeUndefined();
  });

  it('keeps the labels of its refusal counter in a bounded set, whatever keys registrants invent', async () => {
    const h = await startServer();
    for (let i = 0; i < 200; i++) {
      const r = await register(h, 'A', `a-${i}`, { [`invented-${i}`]: { nested: true } });
      expect(r.status).toBe(400);
    }
    const metric = await h.metrics.getSingleMetric('mesh_bridge_eureka_bad_payload_total')?.get();
    const fields = new Set(metric?.values.map((v) => String(v.labels.field)));
    expect([...fields]).toEqual(['metadata']);
  });
});

describe('embedded Eureka, who decides and who may change what', () => {
  it('never takes the mesh side from what a registrant claims in its metadata', async () => {
    const h = await startServer();
    expect((await register(h, 'ORDERS', 'intruder', { 'mesh-bridge.stack': 'mesh' })).status).toBe(204);
    expect(h.catalog.instances('ORDERS')).toEqual([expect.objectContaining({ id: 'intruder', stack: 'legacy' })]);
  });

  it('lets only the registering address (or an operator) renew, cancel, override or re-register an instance', async () => {
    const h = await startServer();
    expect((await register(h, 'ORDERS', 'orders-1')).status).toBe(204);
    const elsewhere = new Agent({ localAddress: '127.0.0.2' });
    try {
      const url = `${h.base}/eureka/apps/ORDERS/orders-1`;
      for (const [method, path] of [
        ['DELETE', ''],
        ['PUT', '/status?value=OUT_OF_SERVICE'],
        ['DELETE', '/status?value=UP'],
        ['PUT', ''],
      ] as const) {
        const r = await call(`${url}${path}`, method, undefined, {}, elsewhere);
        expect([method, path, r.status, r.json().code]).toEqual([method, path, 403, 'EUREKA_NOT_OWNER']);
      }
      const hijack = await register(h, 'ORDERS', 'orders-1', { zone: 'evil' }, elsewhere);
      expect(hijack.status).toBe(403);
      expect(h.eureka.instance('ORDERS', 'orders-1')?.instance).toMatchObject({ status: 'UP', metadata: {} });
      // The owner itself (and an operator on the bridge's host) still may.
      expect((await call(`${url}/status?value=OUT_OF_SERVICE`, 'PUT')).status).toBe(200);
      expect((await call(url, 'DELETE')).status).toBe(200);
    } finally {
      await elsewhere.close();
    }
  });

  it('asks for registration credentials when configured, for every change, compared in constant time', async () => {
    process.env.TEST_EUREKA_PASSWORD = 's3cret';
    const bridge = new Bridge(
      validateBridgeConfig({
        admin: { port: 0 },
        dubbo: { enabled: false },
        http: { enabled: false },
        eureka: { registration: { username: 'registrar', passwordEnv: 'TEST_EUREKA_PASSWORD' } },
        log: { level: 'silent' },
      }),
      silentLogger(),
    );
    const base = `http://${(await bridge.start()).admin}`;
    running.push({ close: () => bridge.stop(500) });
    const good = { authorization: `Basic ${Buffer.from('registrar:s3cret').toString('base64')}` };
    const bad = { authorization: `Basic ${Buffer.from('registrar:guess').toString('base64')}` };
    const post = (headers: Record<string, string>): Promise<Answer> => call(`${base}/eureka/apps/A`, 'POST', instanceJson('A', 'a-1'), { 'content-type': 'application/json', ...headers });
    expect((await post({})).status).toBe(401);
    expect((await post(bad)).json().code).toBe('EUREKA_UNAUTHORIZED');
    expect((await post(good)).status).toBe(204);
    expect((await call(`${base}/eureka/apps/A/a-1`, 'PUT')).status).toBe(401);
    expect((await call(`${base}/eureka/apps/A/a-1`, 'PUT', undefined, good)).status).toBe(200);
    expect((await call(`${base}/eureka/apps/A/a-1`, 'DELETE')).status).toBe(401);
    // Reading stays open, as in Eureka.
    expect((await call(`${base}/eureka/apps/A`, 'GET')).status).toBe(200);
  });
});

describe('embedded Eureka, what it costs and what it shows', () => {
  it('registers 1,200 instances into one app in time linear in their number', async () => {
    const h = await startServer();
    const agent = new Agent({ connections: 1 });
    const times: number[] = [];
    try {
      for (let round = 0; round < 3; round++) {
        const started = process.hrtime.bigint();
        for (let i = 0; i < 400; i++) {
          const r = await register(h, 'BIG', `big-${round}-${i}`, { zone: 'a' }, agent);
          expect(r.status).toBe(204);
        }
        times.push(Number(process.hrtime.bigint() - started) / 1e6);
      }
    } finally {
      await agent.close();
    }
    // Quadratic work made the third 400 take 3.8x the first; linear work keeps them alike.
    expect((times[2] as number) / (times[0] as number)).toBeLessThan(2);
    expect(h.catalog.instances('BIG')).toHaveLength(1200);
  }, 60_000);

  it('refuses metadata beyond its limit and holds one delta entry per instance however often it re-registers', async () => {
    const h = await startServer();
    const huge = { blob: 'x'.repeat(200 * 1024) };
    const refused = await register(h, 'A', 'a-1', huge);
    expect(refused.status).toBe(413);
    expect(refused.json().code).toBe('EUREKA_METADATA_TOO_LARGE');
    const large = { blob: 'x'.repeat(12 * 1024) };
    for (let i = 0; i < 600; i++) expect((await register(h, 'A', 'a-1', { ...large, round: String(i) })).status).toBe(204);
    expect(h.eureka.registry.recentChangeCount).toBe(1);
  }, 60_000);

  it('refuses more instances than an app may hold', async () => {
    const h = await startServer({ policy: new RegistrationPolicy({ maxInstancesPerApp: 3 }) });
    for (let i = 0; i < 3; i++) expect((await register(h, 'A', `a-${i}`)).status).toBe(204);
    const r = await register(h, 'A', 'a-3');
    expect(r.status).toBe(429);
    expect(r.json().code).toBe('EUREKA_REGISTRY_FULL');
    // Re-registering one it holds is no new instance.
    expect((await register(h, 'A', 'a-0')).status).toBe(204);
  });

  it('never shows secret-looking metadata in /eureka/apps (JSON or XML) nor in the catalog', async () => {
    const h = await startServer();
    expect((await register(h, 'A', 'a-1', { password: 'hunter2', 'db.Token': 'tok-123', apiKey: 'k-9', zone: 'eu-1' })).status).toBe(204);
    const json = await call(`${h.base}/eureka/apps`, 'GET', undefined, { accept: 'application/json' });
    const xml = await call(`${h.base}/eureka/apps/A`, 'GET');
    for (const text of [json.body, xml.body, JSON.stringify(h.catalog.instances('A'))]) {
      expect(text).not.toMatch(/hunter2|tok-123|k-9/);
      expect(text).toContain('eu-1');
    }
  });
});

describe('embedded Eureka, self-preservation', () => {
  it('shows leases kept past their expiry, and lets an operator (only) end it', async () => {
    let now = 1_000_000;
    const h = await startServer({ now: () => now });
    for (let i = 0; i < 10; i++) expect((await register(h, 'A', `a-${i}`)).status).toBe(204);
    // Nobody renews: after the leases expire, too few renewals arrived, and nothing is evicted.
    now += 5 * 60_000;
    expect(h.eureka.evict()).toEqual([]);
    const status = await call(`${h.base}/eureka/self-preservation`, 'GET');
    expect(JSON.parse(status.body)).toMatchObject({ enabled: true, active: true, expiredLeasesKept: 10, renewalsInWindow: 0 });
    const elsewhere = new Agent({ localAddress: '127.0.0.2' });
    try {
      expect((await call(`${h.base}/eureka/self-preservation`, 'DELETE', undefined, {}, elsewhere)).status).toBe(403);
    } finally {
      await elsewhere.close();
    }
    const ended = await call(`${h.base}/eureka/self-preservation`, 'DELETE');
    expect(ended.status).toBe(200);
    expect(JSON.parse(ended.body)).toMatchObject({ active: false, evicted: 10, expiredLeasesKept: 0 });
    expect(h.eureka.application('A')).toBeUndefined();
  });
});
