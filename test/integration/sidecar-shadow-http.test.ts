// The side-by-side run over HTTP: a node:http client calls through the sidecar's outbound stack to
// a legacy node:http server; the sidecar copies the request to a mesh server and compares status,
// headers and the JSON body, leaving out the fields the ignore rules name. Writes are not copied
// unless a rule allows them; an answer over the size bound is not compared; secrets stay out of
// the report.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { IncomingMessage, Server, ServerResponse, createServer, request } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { SidecarChild, adminJson, startSidecar } from '../support/sidecar-child';
import { ShadowRow, shadowRow } from '../support/shadow-report';
import { waitFor } from '../support/wait';

interface Seen {
  method: string;
  url: string;
  shadow: string | undefined;
  body: string;
}

async function serve(handler: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<{ server: Server; port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', shadow: req.headers['x-mesh-bridge-shadow'] as string | undefined, body });
      handler(req, body, res);
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

function call(port: number, host: string, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { host, ...headers, ...(body ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.on('end', () => done({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', fail);
    req.end(body);
  });
}

function json(res: ServerResponse, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

describe('mesh-bridge sidecar: the side-by-side run over HTTP', () => {
  let dir: string;
  let legacy: Awaited<ReturnType<typeof serve>>;
  let mesh: Awaited<ReturnType<typeof serve>>;
  let sidecar: SidecarChild;
  let file: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sidecar-shadow-http-'));
    const users: Record<string, string> = { '1': 'ann', '2': 'bob' };
    legacy = await serve((req, body, res) => {
      if (req.url === '/big') return json(res, { blob: 'x'.repeat(2048) });
      if (req.url === '/slow') return json(res, { id: 0 });
      if (req.method === 'POST') return json(res, { saved: JSON.parse(body) as unknown });
      json(res, { id: Number(req.url?.split('/')[2]), name: users[req.url?.split('/')[2] ?? ''], timestamp: Date.now() });
    });
    mesh = await serve((req, body, res) => {
      if (req.url === '/slow') {
        setTimeout(() => json(res, { id: 0 }), 2000);
        return;
      }
      if (req.url === '/big') return json(res, { blob: 'x'.repeat(2048) });
      if (req.method === 'POST') return json(res, { saved: JSON.parse(body) as unknown });
      const id = req.url?.split('/')[2] ?? '';
      // The mesh renamed user 2; its timestamps differ from the legacy's, as any clock would.
      json(res, { timestamp: Date.now() + 1234, id: Number(id), name: id === '2' ? 'Bob' : users[id] });
    });
    file = join(dir, 'sidecar.yaml');
    writeFileSync(file, stringify(configFor(100)));
    sidecar = await startSidecar(file);
  }, 60_000);

  /** The sidecar's config, `usersPercent` of the users service's GETs copied. */
  function configFor(usersPercent: number): unknown {
    return {
      app: 'web',
      admin: { listen: '127.0.0.1:0' },
      outbound: {
        listen: '127.0.0.1:0',
        services: [
          { name: 'users', legacy: [`127.0.0.1:${legacy.port}`], mesh: [`127.0.0.1:${mesh.port}`] },
          { name: 'audit', legacy: [`127.0.0.1:${legacy.port}`], mesh: [`127.0.0.1:${mesh.port}`] },
        ],
      },
      shadow: {
        maxResponseBytes: 1024,
        maxRequestBytes: 512,
        timeoutMs: 1000,
        http: [
          { service: 'users', percent: usersPercent, ignore: { paths: ['$.timestamp'] } },
          { service: 'audit', mirrorWrites: true },
        ],
      },
    };
  }

  afterAll(async () => {
    await sidecar?.stop();
    for (const s of [legacy, mesh]) if (s) await new Promise((done) => s.server.close(done));
    rmSync(dir, { recursive: true, force: true });
  });

  it('matches a JSON answer that differs only in an ignored field, and finds one that differs in a real field', async () => {
    expect(await call(sidecar.outbound, 'users', 'GET', '/users/1', undefined, { authorization: 'Bearer s3cret-token' })).toMatchObject({ status: 200 });
    await waitFor('the first answer compared', async () => (await shadowRow(sidecar, 'users', 'GET'))?.compared === 1);
    expect(await shadowRow(sidecar, 'users', 'GET')).toMatchObject({ mirrored: 1, matched: 1, mismatched: 0 });
    expect(mesh.seen).toContainEqual(expect.objectContaining({ method: 'GET', url: '/users/1', shadow: '1' }));

    const real = await call(sidecar.outbound, 'users', 'GET', '/users/2');
    expect(JSON.parse(real.body)).toMatchObject({ name: 'bob' }); // the caller gets the legacy's answer
    await waitFor('the second answer compared', async () => (await shadowRow(sidecar, 'users', 'GET'))?.compared === 2);
    const users = (await shadowRow(sidecar, 'users', 'GET')) as ShadowRow;
    expect(users).toMatchObject({ matched: 1, mismatched: 1, mismatchRate: 0.5 });
    expect(users.samples).toEqual([expect.objectContaining({ path: '$.name', primary: '"bob"', shadow: '"Bob"' })]);
    const report = JSON.stringify(await adminJson(sidecar, '/shadow'));
    expect(report).not.toContain('s3cret-token');
  }, 60_000);

  it('does not copy a write unless the rule allows writes, and then sends its body', async () => {
    const before = mesh.seen.length;
    expect(await call(sidecar.outbound, 'users', 'POST', '/users', '{"name":"cy"}')).toMatchObject({ status: 200 });
    await waitFor('the write to be counted', async () => (await shadowRow(sidecar, 'users', 'POST'))?.writesNotMirrored === 1);
    expect(mesh.seen.slice(before).filter((s) => s.method === 'POST')).toEqual([]);

    expect(await call(sidecar.outbound, 'audit', 'POST', '/audit', '{"event":"login"}')).toMatchObject({ status: 200 });
    await waitFor('the copied write compared', async () => (await shadowRow(sidecar, 'audit', 'POST'))?.matched === 1);
    expect(mesh.seen).toContainEqual({ method: 'POST', url: '/audit', shadow: '1', body: '{"event":"login"}' });
  }, 60_000);

  it('does not compare an answer over the size bound, nor copy a request over it', async () => {
    expect((await call(sidecar.outbound, 'users', 'GET', '/big')).body.length).toBeGreaterThan(2048);
    await waitFor('the large answer counted', async () => (await shadowRow(sidecar, 'users', 'GET'))?.tooLarge === 1);
    expect(await shadowRow(sidecar, 'users', 'GET')).toMatchObject({ compared: 2 });

    const before = mesh.seen.length;
    const event = JSON.stringify({ event: 'x'.repeat(600) });
    expect(await call(sidecar.outbound, 'audit', 'POST', '/audit', event)).toMatchObject({ status: 200, body: JSON.stringify({ saved: JSON.parse(event) }) });
    await waitFor('the large request counted', async () => (await shadowRow(sidecar, 'audit', 'POST'))?.tooLarge === 1);
    expect(mesh.seen.slice(before)).toEqual([]);
    expect(await shadowRow(sidecar, 'audit', 'POST')).toMatchObject({ mirrored: 1 });
  }, 30_000);

  it('answers at once when the mirror is slower than its deadline, and counts the copy as a shadow error', async () => {
    const started = performance.now();
    expect(await call(sidecar.outbound, 'users', 'GET', '/slow')).toMatchObject({ status: 200, body: '{"id":0}' });
    expect(performance.now() - started).toBeLessThan(1000); // the mirror answers after 2 s
    await waitFor('the late copy counted', async () => (await shadowRow(sidecar, 'users', 'GET'))?.shadowErrors === 1, 10_000);
    expect((await shadowRow(sidecar, 'users', 'GET'))?.lastError).toMatch(/^shadow: 127\.0\.0\.1:\d+: no answer within 1000 ms$/);
  }, 30_000);

  it('applies changed rules on SIGHUP and keeps the report', async () => {
    const before = (await shadowRow(sidecar, 'users', 'GET')) as ShadowRow;
    writeFileSync(file, stringify(configFor(0)));
    sidecar.child.kill('SIGHUP');
    await waitFor('the reload to be applied', async () => JSON.stringify((await adminJson(sidecar, '/status')).lastReload).includes('shadow: the mirror rules changed'));
    expect(await call(sidecar.outbound, 'users', 'GET', '/users/1')).toMatchObject({ status: 200 });
    // A copy is counted as it is sent, before the real answer leaves: none was.
    expect(await shadowRow(sidecar, 'users', 'GET')).toMatchObject({ mirrored: before.mirrored, matched: before.matched, mismatched: before.mismatched });
    expect(before.mirrored).toBeGreaterThan(0);
  }, 30_000);
});
