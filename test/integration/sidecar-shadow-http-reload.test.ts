// The HTTP mirror's bound on copies in flight follows a reload: the copies it admits and the
// connections it opens to the other stack both take the new `shadow.maxInFlight`, so a raised
// bound is not met by copies queuing behind the connections of the old one (and timing out).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Server, createServer, request } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { SidecarChild, adminJson, startSidecar } from '../support/sidecar-child';
import { shadowRow } from '../support/shadow-report';
import { waitFor } from '../support/wait';

const COPIES = 4;
const MESH_ANSWER_MS = 500;

function get(port: number, path: string): Promise<number> {
  return new Promise((done, fail) => {
    request({ host: '127.0.0.1', port, path, headers: { host: 'users' } }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
    })
      .on('error', fail)
      .end();
  });
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return (server.address() as AddressInfo).port;
}

describe('mesh-bridge sidecar: the HTTP mirror across a reload', () => {
  let dir: string;
  let legacy: Server;
  let mesh: Server;
  let sidecar: SidecarChild | undefined;
  /** Copies the mesh server holds at once, now and at most. */
  let holding = 0;
  let mostHeld = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sidecar-shadow-reload-'));
    legacy = createServer((_req, res) => res.end('{"id":1}'));
    mesh = createServer((_req, res) => {
      holding++;
      mostHeld = Math.max(mostHeld, holding);
      setTimeout(() => {
        holding--;
        res.end('{"id":1}');
      }, MESH_ANSWER_MS);
    });
  });

  afterAll(async () => {
    await sidecar?.stop();
    for (const server of [legacy, mesh]) if (server.listening) await new Promise((done) => server.close(done));
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends as many copies at once as a reloaded maxInFlight allows', async () => {
    const legacyPort = await listen(legacy);
    const meshPort = await listen(mesh);
    const config = (maxInFlight: number): string =>
      stringify({
        app: 'web',
        admin: { listen: '127.0.0.1:0' },
        outbound: { listen: '127.0.0.1:0', services: [{ name: 'users', legacy: [`127.0.0.1:${legacyPort}`], mesh: [`127.0.0.1:${meshPort}`] }] },
        shadow: { maxInFlight, timeoutMs: 5000, http: [{ service: 'users' }] },
      });
    const file = join(dir, 'sidecar.yaml');
    writeFileSync(file, config(1));
    sidecar = await startSidecar(file);
    const running = sidecar;
    // Started with one copy at a time: one is copied and waits for the mesh, the others are dropped.
    expect(await Promise.all(Array.from({ length: COPIES }, (_, i) => get(running.outbound, `/users/${i}`)))).toEqual(Array(COPIES).fill(200));
    await waitFor('the first copy compared', async () => (await shadowRow(running, 'users', 'GET'))?.compared === 1);
    expect(await shadowRow(running, 'users', 'GET')).toMatchObject({ mirrored: 1, dropped: COPIES - 1 });

    writeFileSync(file, config(COPIES));
    running.child.kill('SIGHUP');
    await waitFor('the reload to be applied', async () => JSON.stringify((await adminJson(running, '/status')).lastReload).includes('shadow: the mirror rules changed'));
    mostHeld = 0;
    const started = Date.now();
    expect(await Promise.all(Array.from({ length: COPIES }, (_, i) => get(running.outbound, `/users/${i}`)))).toEqual(Array(COPIES).fill(200));
    await waitFor('the copies compared', async () => (await shadowRow(running, 'users', 'GET'))?.compared === 1 + COPIES, 10_000);
    // All at once on connections of their own: not one after another behind the old bound's one connection.
    expect(mostHeld).toBe(COPIES);
    expect(Date.now() - started).toBeLessThan(COPIES * MESH_ANSWER_MS);
    expect(await shadowRow(running, 'users', 'GET')).toMatchObject({ mirrored: 1 + COPIES, dropped: COPIES - 1, shadowErrors: 0 });
  }, 60_000);
});
