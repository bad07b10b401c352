// The sidecar as operators run it: `mesh-bridge sidecar --config FILE` in a process of its own,
// real node:http upstreams, node:http keep-alive callers. Each filter's behaviour is observed from
// the caller: what it admits, the status and the rule named, the time a delay adds; then SIGHUP
// reloads, a good one applied on a kept connection and a bad one refused with the old one working.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, IncomingHttpHeaders, Server, createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { SidecarChild, adminJson, startSidecar } from '../support/sidecar-child';
import { waitFor } from '../support/wait';

interface Reply {
  status: number;
  body: string;
  headers: IncomingHttpHeaders;
  ms: number;
  localPort: number;
}

/** One call through a keep-alive agent; resolves with what the caller saw. */
function call(port: number, host: string, headers: Record<string, string> = {}, agent?: Agent, path = '/'): Promise<Reply> {
  const started = performance.now();
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host, ...headers }, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers, ms: performance.now() - started, localPort: req.socket?.localPort ?? 0 }),
      );
      res.on('error', fail);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${host} within 10 s`)));
    req.on('error', fail);
    req.end();
  });
}

/** An upstream app whose answer the test steers. */
async function upstream(answer: (res: import('node:http').ServerResponse) => void): Promise<{ server: Server; port: number; count: () => number }> {
  let count = 0;
  const server = createServer((req, res) => {
    count++;
    req.resume();
    req.on('end', () => answer(res));
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { server, port: (server.address() as { port: number }).port, count: () => count };
}

/** The message of the sidecar's JSON error body. */
function message(reply: Reply): string {
  return (JSON.parse(reply.body) as { error: { message: string } }).error.message;
}

function send(res: import('node:http').ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const RATE = 20;
const RATE_SECONDS = 2;

function configFor(
  ports: { app: number; ok: number; flaky: number; slow: number },
  reloadLimit: number | string,
  moved: { outboundListen?: string; directPort?: number } = {},
): Record<string, unknown> {
  return {
    app: 'orders',
    log: { level: 'info' },
    admin: { listen: '127.0.0.1:0' },
    inbound: {
      listen: '127.0.0.1:0',
      app: `127.0.0.1:${ports.app}`,
      filters: [{ name: 'authz', config: { rules: [{ name: 'no-batch-jobs', deny: { apps: ['batch-jobs'] } }] } }],
    },
    outbound: {
      listen: moved.outboundListen ?? '127.0.0.1:0',
      filters: [
        { name: 'rate-limit', config: { rules: [{ name: 'limited-20rps', match: { service: 'limited' }, perSecond: RATE, burst: 1 }] } },
        { name: 'rate-limit', config: { rules: [{ name: 'per-user', match: { service: 'hot' }, perSecond: 1, burst: 2, key: { attribute: 'x-user-id' } }] } },
        { name: 'rate-limit', config: { rules: [{ name: 'reload-limit', match: { service: 'reloadable' }, perSecond: reloadLimit, burst: typeof reloadLimit === 'number' && reloadLimit > 1 ? reloadLimit : 1 }] } },
        {
          name: 'circuit-breaker',
          config: { rules: [{ name: 'flaky-errors', match: { service: 'flaky' }, per: 'service', errorRatio: 0.5, minimumCalls: 4, openMs: 600, halfOpenProbes: 2 }] },
        },
        {
          name: 'fault',
          config: {
            rules: [
              { name: 'delay-300', match: { service: 'delayed' }, delay: { ms: 300, percent: 100 } },
              { name: 'abort-all', match: { service: 'aborted' }, abort: { percent: 100 } },
            ],
          },
        },
        { name: 'isolation', config: { rules: [{ name: 'slow-cap', match: { service: 'slow' }, maxConcurrent: 2 }] } },
      ],
      services: [
        ...['limited', 'hot', 'reloadable', 'delayed', 'aborted'].map((name) => ({ name, legacy: [`127.0.0.1:${ports.ok}`] })),
        { name: 'direct', legacy: [`127.0.0.1:${moved.directPort ?? ports.ok}`] },
        { name: 'flaky', legacy: [`127.0.0.1:${ports.flaky}`] },
        { name: 'slow', legacy: [`127.0.0.1:${ports.slow}`] },
      ],
    },
  };
}

describe('mesh-bridge sidecar: filters seen from real callers', () => {
  let dir: string;
  let file: string;
  let sidecar: SidecarChild;
  let flakyFailing = true;
  const servers: Server[] = [];
  let ports: { app: number; ok: number; flaky: number; slow: number };
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sidecar-'));
    file = join(dir, 'sidecar.yaml');
    const app = await upstream((res) => send(res, 200, 'orders app'));
    const ok = await upstream((res) => send(res, 200, 'ok'));
    const flaky = await upstream((res) => (flakyFailing ? send(res, 500, 'broken') : send(res, 200, 'recovered')));
    const slow = await upstream((res) => void setTimeout(() => send(res, 200, 'slow'), 600));
    servers.push(app.server, ok.server, flaky.server, slow.server);
    ports = { app: app.port, ok: ok.port, flaky: flaky.port, slow: slow.port };
    writeFileSync(file, stringify(configFor(ports, 0.01)));
    sidecar = await startSidecar(file);
  }, 40_000);

  afterAll(async () => {
    agent.destroy();
    await sidecar?.stop();
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('passes calls through both stacks to the real upstreams', async () => {
    expect(await call(sidecar.outbound, 'direct', {}, agent)).toMatchObject({ status: 200, body: 'ok' });
    expect(await call(sidecar.inbound, 'whatever.example', { 'x-caller-app': 'web' }, agent)).toMatchObject({ status: 200, body: 'orders app' });
    const health = await adminJson(sidecar, '/healthz');
    expect(health).toEqual({ status: 'ok', app: 'orders' });
  });

  it(`admits about ${RATE}/s x ${RATE_SECONDS} s under a rate limit and answers 429 naming it past that`, async () => {
    const counts = new Map<number, number>();
    let refusal = '';
    const until = performance.now() + RATE_SECONDS * 1000;
    await Promise.all(
      [0, 1, 2, 3].map(async () => {
        while (performance.now() < until) {
          const reply = await call(sidecar.outbound, 'limited', {}, agent);
          counts.set(reply.status, (counts.get(reply.status) ?? 0) + 1);
          if (reply.status === 429) refusal = message(reply);
        }
      }),
    );
    const admitted = counts.get(200) ?? 0;
    expect([...counts.keys()].sort()).toEqual([200, 429]);
    // R x T, plus the one-token burst, less what a slow scheduler may cost at the edges.
    expect(admitted).toBeGreaterThanOrEqual(RATE * RATE_SECONDS * 0.8);
    expect(admitted).toBeLessThanOrEqual(RATE * RATE_SECONDS + 2);
    expect(refusal).toContain('rate limit limited-20rps (20/s)');
    const status = await adminJson(sidecar, '/status');
    expect(JSON.stringify(status)).toContain(`"refusedByRule":{"limited-20rps":${counts.get(429)}}`);
  });

  it('holds one hot header value while other values pass', async () => {
    const hot: number[] = [];
    for (let i = 0; i < 10; i++) hot.push((await call(sidecar.outbound, 'hot', { 'x-user-id': 'hot-user' }, agent)).status);
    const others: number[] = [];
    for (let i = 0; i < 5; i++) others.push((await call(sidecar.outbound, 'hot', { 'x-user-id': `user-${i}` }, agent)).status);
    expect(hot.filter((s) => s === 429).length).toBeGreaterThanOrEqual(7);
    expect(others).toEqual([200, 200, 200, 200, 200]);
    const refused = await call(sidecar.outbound, 'hot', { 'x-user-id': 'hot-user' }, agent);
    expect(refused.status).toBe(429);
    expect(message(refused)).toContain('per-user (1/s) for x-user-id="hot-user"');
  });

  it('opens a breaker on a failing upstream (503 naming the rule) and closes it after recovery through half-open probes', async () => {
    flakyFailing = true;
    const seen: number[] = [];
    let open: Reply | undefined;
    await waitFor('the breaker to open', async () => {
      const reply = await call(sidecar.outbound, 'flaky', {}, agent);
      seen.push(reply.status);
      if (reply.status === 503) open = reply;
      return reply.status === 503;
    });
    expect(seen.slice(0, 4)).toEqual([500, 500, 500, 500]);
    expect(open?.headers['x-mesh-bridge-error']).toBe('HTTP_CIRCUIT_OPEN');
    expect(message(open as Reply)).toContain('circuit breaker flaky-errors is open for flaky');
    const status = await adminJson(sidecar, '/status');
    expect(JSON.stringify(status)).toContain('"state":"open"');
    flakyFailing = false;
    // After openMs, two probes pass and the breaker closes: every call then reaches the upstream.
    await waitFor('the breaker to close', async () => (await call(sidecar.outbound, 'flaky', {}, agent)).status === 200);
    const after: number[] = [];
    for (let i = 0; i < 5; i++) after.push((await call(sidecar.outbound, 'flaky', {}, agent)).status);
    expect(after).toEqual([200, 200, 200, 200, 200]);
    const metrics = String((await adminJson(sidecar, '/metrics')).text);
    expect(metrics).toMatch(/mesh_sidecar_circuit_breakers\{stack="outbound",state="closed"\} 1/);
  });

  it('shows an injected delay in the caller timings and an abort as its status', async () => {
    // The fastest of three undelayed calls: what the path costs without the fault, even on a busy machine.
    let direct = Infinity;
    for (let i = 0; i < 3; i++) direct = Math.min(direct, (await call(sidecar.outbound, 'direct', {}, agent)).ms);
    const delayed = await call(sidecar.outbound, 'delayed', {}, agent);
    expect(delayed.status).toBe(200);
    expect(delayed.ms).toBeGreaterThanOrEqual(295);
    expect(delayed.ms - direct).toBeGreaterThanOrEqual(250);
    const aborted = await call(sidecar.outbound, 'aborted', {}, agent);
    expect(aborted.status).toBe(503);
    expect(aborted.headers['x-mesh-bridge-error']).toBe('HTTP_FAULT_INJECTED');
    expect(message(aborted)).toContain('fault injected by abort-all');
    const metrics = String((await adminJson(sidecar, '/metrics')).text);
    expect(metrics).toContain('mesh_sidecar_faults_injected_total{stack="outbound",kind="delay"} 1');
    expect(metrics).toContain('mesh_sidecar_faults_injected_total{stack="outbound",kind="abort"} 1');
  });

  it('denies a caller app by header with 403 naming the rule (inbound) and lets others through', async () => {
    const denied = await call(sidecar.inbound, 'orders', { 'x-caller-app': 'batch-jobs' }, agent);
    expect(denied.status).toBe(403);
    expect(message(denied)).toContain('application "batch-jobs" (unverified) from 127.0.0.1 is denied by no-batch-jobs');
    expect((await call(sidecar.inbound, 'orders', { 'x-caller-app': 'web' }, agent)).status).toBe(200);
  });

  it('caps concurrency per upstream with isolation: 503 past the bulkhead', async () => {
    const replies = await Promise.all([0, 1, 2, 3, 4, 5].map(() => call(sidecar.outbound, 'slow', {}, agent)));
    const statuses = replies.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 503, 503, 503, 503]);
    const refused = replies.find((r) => r.status === 503) as Reply;
    expect(refused.headers['x-mesh-bridge-error']).toBe('HTTP_BULKHEAD_FULL');
    expect(message(refused)).toContain('bulkhead slow-cap for slow is full (2 in flight)');
  });

  it('applies a changed limit on SIGHUP without dropping a keep-alive connection', async () => {
    const one = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await call(sidecar.outbound, 'reloadable', {}, one);
      const second = await call(sidecar.outbound, 'reloadable', {}, one);
      expect([first.status, second.status]).toEqual([200, 429]);
      expect(message(second)).toContain('reload-limit (0.01/s)');
      writeFileSync(file, stringify(configFor(ports, 1000)));
      sidecar.child.kill('SIGHUP');
      await waitFor('the reload to be applied', async () => JSON.stringify((await adminJson(sidecar, '/status')).lastReload).includes('"outcome":"applied"'));
      const after: Reply[] = [];
      for (let i = 0; i < 5; i++) after.push(await call(sidecar.outbound, 'reloadable', {}, one));
      expect(after.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      // The same caller connection carried every call, before and after the reload.
      expect(new Set([first, second, ...after].map((r) => r.localPort)).size).toBe(1);
    } finally {
      one.destroy();
    }
  });

  it('refuses a bad config on SIGHUP with its key path and keeps the old one working', async () => {
    writeFileSync(file, stringify(configFor(ports, -5)));
    sidecar.child.kill('SIGHUP');
    await waitFor('the reload to be refused', async () => JSON.stringify((await adminJson(sidecar, '/status')).lastReload).includes('"outcome":"refused"'));
    const status = await adminJson(sidecar, '/status');
    expect(JSON.stringify(status.lastReload)).toContain('outbound.filters[2].config.rules[0].perSecond');
    // The log line names the key too (stdout may arrive after the admin answer: waited for).
    await waitFor('the refusal in the log', () => /config reload refused.*outbound\.filters\[2\]\.config\.rules\[0\]\.perSecond/s.test(sidecar.output()));
    for (let i = 0; i < 3; i++) expect((await call(sidecar.outbound, 'reloadable', {}, agent)).status).toBe(200);
    const metrics = String((await adminJson(sidecar, '/metrics')).text);
    expect(metrics).toContain('mesh_sidecar_reloads_total{outcome="refused"} 1');
    expect(metrics).toContain('mesh_sidecar_reloads_total{outcome="applied"} 1');
    expect(metrics).toMatch(/mesh_sidecar_filter_refusals_total\{stack="outbound",filter="rate-limit"\} \d+/);
  });

  it('moves a service to other instances and the outbound listener to another address on SIGHUP, and says so', async () => {
    const free = createServer();
    await new Promise<void>((done) => free.listen(0, '127.0.0.1', done));
    const newPort = (free.address() as { port: number }).port;
    await new Promise<void>((done) => free.close(() => done()));
    const oldPort = sidecar.outbound;
    expect((await call(oldPort, 'direct', {}, agent)).body).toBe('ok');
    writeFileSync(file, stringify(configFor(ports, 1000, { outboundListen: `127.0.0.1:${newPort}`, directPort: ports.flaky })));
    sidecar.child.kill('SIGHUP');
    await waitFor('the second reload to be applied', async () => String((await adminJson(sidecar, '/metrics')).text).includes('mesh_sidecar_reloads_total{outcome="applied"} 2'));
    const status = await adminJson(sidecar, '/status');
    expect(JSON.stringify(status.lastReload)).toContain(`outbound: listener moved from 127.0.0.1:${oldPort} to 127.0.0.1:${newPort}`);
    expect(JSON.stringify(status.lastReload)).toContain('outbound services changed: direct');
    // The flaky upstream recovered above: it answers "recovered", so the route moved.
    expect(await call(newPort, 'direct', {}, agent)).toMatchObject({ status: 200, body: 'recovered' });
    const fresh = new Agent({ keepAlive: false });
    await waitFor('the old address to stop accepting', () => call(oldPort, 'direct', {}, fresh).then(() => false, () => true));
    fresh.destroy();
    // The inbound stack, unchanged, kept its address.
    expect((await call(sidecar.inbound, 'orders', {}, agent)).status).toBe(200);
    sidecar.outbound = newPort;
  });

  it('refuses a reload whose new address is taken, and keeps serving at the old one', async () => {
    writeFileSync(file, stringify(configFor(ports, 1000, { outboundListen: `127.0.0.1:${ports.ok}`, directPort: ports.flaky })));
    sidecar.child.kill('SIGHUP');
    await waitFor('the reload to be refused', async () => String((await adminJson(sidecar, '/metrics')).text).includes('mesh_sidecar_reloads_total{outcome="refused"} 2'));
    const status = await adminJson(sidecar, '/status');
    expect(JSON.stringify(status.lastReload)).toMatch(new RegExp(`127\\.0\\.0\\.1:${ports.ok}`));
    expect(await call(sidecar.outbound, 'direct', {}, agent)).toMatchObject({ status: 200, body: 'recovered' });
  });

  it('--check prints every problem with its key path and exits 1', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, stringify({ ...configFor(ports, -5), admin: { listen: 'nowhere' } }));
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'sidecar', '--config', bad, '--check'], { cwd: resolve(__dirname, '../..'), encoding: 'utf8', timeout: 30_000 });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`${bad}: 2 problems`);
    expect(run.stderr).toContain('admin.listen: expected host:port');
    expect(run.stderr).toContain('outbound.filters[2].config.rules[0].perSecond: Too small');
  });

  it('with --watch, applies a change written to the file (renamed over it, as editors do) without a signal', async () => {
    const watched = join(dir, 'watched.yaml');
    const base = configFor(ports, 0.01);
    writeFileSync(watched, stringify(base));
    const second = await startSidecar(watched, ['--watch']);
    try {
      const one = new Agent({ keepAlive: true, maxSockets: 1 });
      expect((await call(second.outbound, 'reloadable', {}, one)).status).toBe(200);
      expect((await call(second.outbound, 'reloadable', {}, one)).status).toBe(429);
      writeFileSync(`${watched}.tmp`, stringify(configFor(ports, 1000)));
      renameSync(`${watched}.tmp`, watched);
      await waitFor('the watched change to be applied', async () => JSON.stringify((await adminJson(second, '/status')).lastReload).includes('"outcome":"applied"'));
      expect((await call(second.outbound, 'reloadable', {}, one)).status).toBe(200);
      one.destroy();
    } finally {
      await second.stop();
    }
  });
});
