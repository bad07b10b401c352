// The bridge's control surfaces probed as an attacker on a shared network or behind an operator's
// browser would: real bridge processes, real sockets. Who may change traffic (Host, Origin, the
// admin token), what the weights API does with hostile input, what is shown (secrets redacted),
// whether /healthz tells the truth, and that every change leaves an audit line.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as rawRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { BridgeProcess, runCli } from '../support/bridge-process';
import { freePort } from '../support/zookeeper';

const IFACE = 'com.example.pay.PaymentService';
const SECRET = 's3cret-dubbo-token';
const PASSWORD = 'hunter2-password';
const TOKEN = 'admin-token-0123456789abcdef';
const EUREKA_PASSWORD = 'eureka-p4ssw0rd';

interface Answer {
  status: number;
  type: string;
  json: { error?: { code?: string }; [key: string]: unknown };
}

/** One request with whatever method, path and headers (no client-side normalisation of the path). */
function send(base: string, method: string, path: string, options: { headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = rawRequest({ host: url.hostname, port: url.port, method, path, headers: { ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      res.on('end', () => {
        let json: Answer['json'];
        try {
          json = JSON.parse(text) as Answer['json'];
        } catch {
          json = { unparsed: text.slice(0, 200) };
        }
        resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), json });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const meshServices = [
  {
    name: IFACE,
    protocol: 'dubbo',
    instances: [{ host: '127.0.0.1', port: 20999, labels: { token: SECRET, 'db.password': PASSWORD, zone: 'a', url: `dubbo://127.0.0.1:20999/${IFACE}?token=${SECRET}&side=provider` } }],
  },
];

describe('the admin API of a bridge on loopback (no token)', () => {
  let bridge: BridgeProcess;
  let host: string;

  beforeAll(async () => {
    bridge = await BridgeProcess.start({
      bridge: { id: 'probed' },
      admin: { port: 0 },
      // Configured and unreachable: nothing listens there.
      zookeeper: { connect: `127.0.0.1:${await freePort()}`, sessionTimeoutMs: 4000, startWaitMs: 200, sharedWeights: false },
      // An external Eureka with credentials in its URL (nothing listens there either).
      eureka: { servers: [`http://eureka:${EUREKA_PASSWORD}@127.0.0.1:${await freePort()}/eureka/`], fetchIntervalMs: 200 },
      dubbo: { port: 0 },
      http: { port: 0 },
      mesh: { services: meshServices },
      routes: [{ service: IFACE, mesh: 10 }],
    });
    host = new URL(bridge.admin).host;
  });

  afterAll(async () => {
    await bridge?.stop();
  });

  describe('who may change traffic', () => {
    it('refuses a Host that is no name of the admin API (DNS rebinding), for reads and writes', async () => {
      for (const [method, body] of [
        ['GET', undefined],
        ['PUT', '{"mesh": 90}'],
      ] as const) {
        const answer = await send(bridge.admin, method, `/weights/${IFACE}`, { headers: { host: `attacker.example:${new URL(bridge.admin).port}` }, body });
        expect(answer).toMatchObject({ status: 403, json: { error: { code: 'HOST_NOT_ALLOWED' } } });
      }
      expect((await send(bridge.admin, 'GET', `/weights/${IFACE}`, { headers: { host: `localhost:${new URL(bridge.admin).port}` } })).status).toBe(200);
      expect((await send(bridge.admin, 'GET', `/weights/${IFACE}`)).json.mesh).toBe(10);
    });

    it('refuses writes from another origin', async () => {
      const attempts: Array<Record<string, string>> = [{ origin: 'http://attacker.example' }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }];
      for (const headers of attempts) {
        const answer = await send(bridge.admin, 'PUT', `/weights/${IFACE}`, { headers, body: '{"mesh": 90}' });
        expect(answer).toMatchObject({ status: 403, json: { error: { code: 'CROSS_ORIGIN_REFUSED' } } });
      }
      expect((await send(bridge.admin, 'GET', `/weights/${IFACE}`)).json.mesh).toBe(10);
      const sameOrigin = await send(bridge.admin, 'PUT', `/weights/${IFACE}`, { headers: { origin: `http://${host}`, 'sec-fetch-site': 'same-origin' }, body: '{"mesh": 20}' });
      expect(sameOrigin.status).toBe(200);
    });

    it('refuses a registration a web page posts to the embedded Eureka (a form, text/plain)', async () => {
      const form = `{"instance": {"app": "FORMS", "hostName": "127.0.0.1", "ipAddr": "127.0.0.1", "port": {"$": 9, "@enabled": "true"}, "dataCenterInfo": {"name": "MyOwn"}}}`;
      const answer = await send(bridge.admin, 'POST', '/eureka/apps/FORMS', { headers: { 'content-type': 'text/plain', origin: 'http://attacker.example', 'sec-fetch-site': 'cross-site' }, body: form });
      expect(answer).toMatchObject({ status: 403, json: { error: { code: 'CROSS_ORIGIN_REFUSED' } } });
      expect((await send(bridge.admin, 'GET', '/catalog/FORMS')).status).toBe(404);
    });

    it('writes one audit line per change: who, when, old -> new', async () => {
      expect((await send(bridge.admin, 'PUT', `/weights/${IFACE}`, { body: '{"mesh": 35, "method": "pay"}' })).status).toBe(200);
      const line = await bridge.waitForLog((e) => e.audit === 'weight' && e.method === 'pay');
      expect(line).toMatchObject({ part: 'audit', service: IFACE, method: 'pay', before: 20, after: 35, who: { auth: 'none' } });
      expect(String((line.who as { address: string }).address)).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(Date.parse(String(line.at))).toBeGreaterThan(Date.now() - 60_000);
      expect(line.msg).toBe(`weight of ${IFACE}.pay: 20 -> 35 by ${(line.who as { address: string }).address} (no token)`);
    });
  });

  describe('hostile input to the weights API', () => {
    it('refuses the method __proto__', async () => {
      const answer = await send(bridge.admin, 'PUT', `/weights/${IFACE}`, { body: '{"mesh": 50, "method": "__proto__"}' });
      expect(answer).toMatchObject({ status: 400, json: { error: { code: 'WEIGHT_INVALID' } } });
    });

    it('does not wipe the override when DELETE names the method twice', async () => {
      expect((await send(bridge.admin, 'PUT', `/weights/${IFACE}`, { body: '{"mesh": 40, "method": "refund"}' })).status).toBe(200);
      const answer = await send(bridge.admin, 'DELETE', `/weights/${IFACE}?method=refund&method=pay`);
      expect(answer).toMatchObject({ status: 400, json: { error: { code: 'BAD_QUERY' } } });
      const now = await send(bridge.admin, 'GET', `/weights/${IFACE}`);
      expect(now.json.override).toEqual({ mesh: 20, methods: { pay: 35, refund: 40 } });
    });

    it.each(['/weights/.', '/weights/..', '/weights/%2e%2e', '/weights/%00', '/weights/a%2Fb'])('answers %s with JSON, never 500', async (path) => {
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const answer = await send(bridge.admin, method, path, method === 'PUT' ? { body: '{"mesh": 1}' } : {});
        expect(answer.type).toMatch(/^application\/json/);
        expect(answer.status).toBeGreaterThanOrEqual(400);
        expect(answer.status).toBeLessThan(500);
        expect(typeof answer.json.error?.code).toBe('string');
      }
    });

    it('answers POST and PATCH with 405 in JSON', async () => {
      for (const method of ['POST', 'PATCH']) {
        for (const path of [`/weights/${IFACE}`, '/weights']) {
          const answer = await send(bridge.admin, method, path, { body: '{"mesh": 1}' });
          expect(answer).toMatchObject({ status: 405, json: { error: { code: 'METHOD_NOT_ALLOWED' } } });
        }
      }
    });

    it('answers a 20 KB body with 413 BODY_TOO_LARGE', async () => {
      const answer = await send(bridge.admin, 'PUT', `/weights/${IFACE}`, { body: JSON.stringify({ mesh: 1, method: 'x'.repeat(20_000) }) });
      expect(answer).toMatchObject({ status: 413, json: { error: { code: 'BODY_TOO_LARGE' } } });
    });

    it('gives every refusal a meaningful code', async () => {
      expect(await send(bridge.admin, 'PUT', `/weights/${IFACE}`, { body: '{"mesh": ' })).toMatchObject({ status: 400, json: { error: { code: 'BAD_JSON' } } });
      expect(await send(bridge.admin, 'PUT', `/weights/${IFACE}`, { headers: { 'content-type': 'text/plain' }, body: '{"mesh": 1}' })).toMatchObject({ status: 415, json: { error: { code: 'UNSUPPORTED_MEDIA_TYPE' } } });
      expect(await send(bridge.admin, 'PUT', `/weights/${IFACE}`, { body: '{"mesh": 101}' })).toMatchObject({ status: 400, json: { error: { code: 'WEIGHT_INVALID' } } });
      expect(await send(bridge.admin, 'GET', '/no/such/page')).toMatchObject({ status: 404, json: { error: { code: 'NOT_FOUND' } } });
      expect(await send(bridge.admin, 'PUT', '/weights/com.example.Invented', { body: '{"mesh": 1}' })).toMatchObject({ status: 404, json: { error: { code: 'SERVICE_NOT_FOUND' } } });
    });
  });

  describe('what is shown', () => {
    it('redacts secrets in /catalog: Dubbo token= parameters, password-like metadata', async () => {
      for (const path of ['/catalog', `/catalog/${IFACE}`]) {
        const answer = await request(`${bridge.admin}${path}`);
        const text = await answer.body.text();
        expect(text).not.toContain(SECRET);
        expect(text).not.toContain(PASSWORD);
        expect(text).toContain('[redacted]');
        expect(text).toContain('"zone":"a"');
      }
    });

    it('says on /healthz that ZooKeeper is configured and unreachable', async () => {
      const answer = await send(bridge.admin, 'GET', '/healthz');
      expect(answer.status).toBe(503);
      expect(answer.json.status).toBe('degraded');
      expect((answer.json.degraded as Array<{ part: string }>).map((d) => d.part).sort()).toEqual(['eureka-remote', 'zookeeper']);
    });

    it('masks credentials in registry URLs, in /status and in the logs', async () => {
      const status = await (await request(`${bridge.admin}/status`)).body.text();
      expect(status).toContain('http://[redacted]@127.0.0.1');
      expect(status).not.toContain(EUREKA_PASSWORD);
      await bridge.waitForLog((e) => JSON.stringify(e).includes('[redacted]@127.0.0.1'));
      expect(bridge.log).not.toContain(EUREKA_PASSWORD);
      expect(bridge.log).not.toContain(SECRET);
    });
  });
});

describe('the admin API bound beyond loopback', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'mesh-bridge-token-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const config = (admin: object): object => ({ admin: { host: '0.0.0.0', port: 0, ...admin }, dubbo: { port: 0 }, http: { port: 0 }, mesh: { services: meshServices } });

  it('does not start without a token', async () => {
    const run = await runCli(['bridge'], config({}));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^mesh-bridge: ADMIN_TOKEN_MISSING: admin\.host is 0\.0\.0\.0, reachable from other machines: set admin\.tokenFile or MESH_BRIDGE_ADMIN_TOKEN[^\n]*\n$/);
  });

  it('refuses a token too short, without printing it', async () => {
    const run = await runCli(['bridge'], config({}), { env: { MESH_BRIDGE_ADMIN_TOKEN: 'short-tok' } });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^mesh-bridge: ADMIN_TOKEN_INVALID: /);
    expect(run.stderr).not.toContain('short-tok');
  });

  it.each(['environment', 'file'])('needs the token (from the %s) for changes, not for reads, and never logs it', async (from) => {
    const file = join(dir, 'token');
    writeFileSync(file, `${TOKEN}\n`);
    const bridge = await BridgeProcess.start(from === 'file' ? config({ tokenFile: file }) : config({}), from === 'file' ? {} : { env: { MESH_BRIDGE_ADMIN_TOKEN: TOKEN } });
    try {
      const admin = `http://127.0.0.1:${new URL(bridge.admin).port}`;
      const put = (headers: Record<string, string>): Promise<Answer> => send(admin, 'PUT', `/weights/${IFACE}`, { headers, body: '{"mesh": 60}' });
      expect(await put({})).toMatchObject({ status: 401, json: { error: { code: 'TOKEN_REQUIRED' } } });
      expect(await put({ authorization: `Bearer ${TOKEN.slice(0, -1)}x` })).toMatchObject({ status: 401, json: { error: { code: 'TOKEN_INVALID' } } });
      expect(await put({ authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` })).toMatchObject({ status: 401, json: { error: { code: 'TOKEN_REQUIRED' } } });
      expect((await send(admin, 'DELETE', `/weights/${IFACE}`)).status).toBe(401);
      expect((await send(admin, 'GET', `/weights/${IFACE}`)).json.mesh).toBe(0);
      expect((await put({ authorization: `Bearer ${TOKEN}` })).status).toBe(200);
      expect((await send(admin, 'GET', `/weights/${IFACE}`)).json.mesh).toBe(60);
      const audit = await bridge.waitForLog((e) => e.audit === 'weight');
      expect(audit.who).toMatchObject({ auth: 'token' });
    } finally {
      await bridge.stop();
    }
    expect(bridge.log).not.toContain(TOKEN);
  });
});

describe('the data plane never reaches the bridge itself', () => {
  let bridge: BridgeProcess;
  let adminPort: number;
  let httpPort: number;

  async function register(app: string, host: string, port: number): Promise<void> {
    const instance = {
      instance: {
        instanceId: `${app}-${host}-${port}`,
        app,
        hostName: host,
        ipAddr: host,
        status: 'UP',
        port: { $: port, '@enabled': 'true' },
        dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
      },
    };
    const answer = await send(bridge.admin, 'POST', `/eureka/apps/${app}`, { body: JSON.stringify(instance) });
    expect(answer.status).toBeLessThan(300);
  }

  const viaDataPlane = (app: string, method: string, path: string, body?: string): Promise<Answer> =>
    send(`http://127.0.0.1:${httpPort}`, method, path, { headers: { host: app.toLowerCase() }, body });

  beforeAll(async () => {
    bridge = await BridgeProcess.start({
      bridge: { id: 'loops' },
      admin: { port: 0 },
      dubbo: { port: 0 },
      // A wildcard listener: every local address is the bridge.
      http: { host: '0.0.0.0', port: 0 },
      mesh: { services: meshServices },
    });
    adminPort = Number(new URL(bridge.admin).port);
    httpPort = Number(bridge.addresses.http?.split(':').pop());
    for (const host of ['127.0.0.1', 'localhost']) await register('ADMINLOOP', host, adminPort);
    for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::ffff:127.0.0.1', '0.0.0.0']) await register('SELFLOOP', host, httpPort);
  });

  afterAll(async () => {
    await bridge?.stop();
  });

  it('does not reach the admin API through the HTTP listener', async () => {
    const answer = await viaDataPlane('ADMINLOOP', 'PUT', `/weights/${IFACE}`, '{"mesh": 77}');
    expect(answer.status).toBe(503);
    expect(typeof answer.json.error?.code).toBe('string');
    expect((await send(bridge.admin, 'GET', `/weights/${IFACE}`)).json.mesh).toBe(0);
  });

  it('does not loop through its own HTTP listener, whatever address form was registered', async () => {
    const started = Date.now();
    const answer = await viaDataPlane('SELFLOOP', 'GET', '/');
    expect(answer.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("shows the process's own figures: descriptors open against the limit, and log lines dropped", async () => {
    const metrics = await (await request(`${bridge.admin}/metrics`)).body.text();
    const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(metrics)?.[1]);
    expect(value('process_open_fds')).toBeGreaterThan(0);
    expect(value('process_max_fds')).toBeGreaterThanOrEqual(value('process_open_fds'));
    expect(value('mesh_bridge_log_lines_dropped_total')).toBe(0);
  });

  it('adds no Prometheus series for names callers invent', async () => {
    const seriesCount = async (): Promise<number> => (await (await request(`${bridge.admin}/metrics`)).body.text()).split('\n').filter((line) => line.startsWith('mesh_bridge_')).length;
    const before = await seriesCount();
    for (let i = 0; i < 300; i++) await viaDataPlane(`invented${i}`, 'GET', '/');
    const metrics = await (await request(`${bridge.admin}/metrics`)).body.text();
    expect(metrics).not.toContain('invented');
    expect(await seriesCount()).toBeLessThanOrEqual(before + 5);
  });
});
