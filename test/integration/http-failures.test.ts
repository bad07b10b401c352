// Each failure is blamed on whoever caused it (src/proxy/failure-class.ts): an address that never
// completes a connection costs the connect timeout and is counted against itself; a caller that
// hangs up or an application's 5xx never ejects an instance; a kept-alive connection the upstream
// closed as it was reused is retried once for idempotent requests; running out of descriptors is
// the bridge's own trouble.
import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { connect, Socket } from 'node:net';
import { Agent, request as undiciRequest } from 'undici';
import { Registry, metricValue } from '../../src/telemetry/metrics';
import { startListenerChild } from '../support/child-listener';
import { closeHttp, gatewayTo, listenHttp, okResponse, rawCaller, rawUpstream } from '../support/http-raw';
import { waitFor } from '../support/wait';


/** A loopback listener that never accepts, its one-slot backlog filled: further connects hang (SYNs dropped). */
async function blackhole(): Promise<{ port: number; stop: () => void }> {
  const child: ChildProcess = spawn('python3', ['-c', 'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(600)'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve) => child.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  const fillers: Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    fillers.push(s);
  }
  await new Promise((r) => fillers[0].once('connect', r));
  return {
    port,
    stop: () => {
      for (const s of fillers) s.destroy();
      child.kill('SIGTERM');
    },
  };
}

async function get(port: number, path: string, dispatcher?: Agent, method = 'GET', body?: string) {
  const began = performance.now();
  const r = await undiciRequest(`http://127.0.0.1:${port}${path}`, { method: method as 'GET', body, headers: { host: 'greeting-service' }, dispatcher });
  const text = await r.body.text();
  return { status: r.statusCode, text, ms: performance.now() - began, headers: r.headers };
}

describe('HTTP listener failure classes', () => {
  it('spends the connect timeout, not the deadline, on an address that never connects, retries elsewhere and ejects it', async () => {
    const hole = await blackhole();
    const good = createServer((_req, res) => res.end('good'));
    const metrics = new Registry();
    const gateway = await gatewayTo([hole.port, await listenHttp(good)], { connectTimeoutMs: 300 }, metrics, 8000);
    const port = gateway.listener.address.port;
    const holeAddress = `127.0.0.1:${hole.port}`;
    try {
      const results: Array<{ status: number; ms: number }> = [];
      for (let i = 0; i < 60 && !gateway.routes.outliers.isEjected(holeAddress, Date.now()); i++) results.push(await get(port, `/r${i}`));
      expect(gateway.routes.outliers.isEjected(holeAddress, Date.now())).toBe(true);
      expect(results.filter((r) => r.status !== 200)).toEqual([]);
      // The ones that met the black hole paid about the connect timeout, never the 8 s deadline.
      const slow = results.filter((r) => r.ms >= 280);
      expect(slow.length).toBeGreaterThanOrEqual(1);
      expect(Math.max(...results.map((r) => r.ms))).toBeLessThan(2500);
      expect(await metricValue(metrics, 'mesh_bridge_http_retries_total')).toBeGreaterThanOrEqual(1);
    } finally {
      await gateway.stop(500);
      hole.stop();
      await closeHttp(good);
    }
  });

  it('never ejects a slow healthy instance whose callers hang up, and counts them as caller_gone', async () => {
    let arrived = 0;
    const slow = createServer((_req, res) => {
      arrived++;
      setTimeout(() => res.end('late'), 1500);
    });
    const metrics = new Registry();
    const upstreamPort = await listenHttp(slow);
    const gateway = await gatewayTo([upstreamPort], {}, metrics);
    const port = gateway.listener.address.port;
    try {
      for (let i = 0; i < 6; i++) {
        const caller = await rawCaller(port);
        caller.socket.write('GET /impatient HTTP/1.1\r\nHost: greeting-service\r\n\r\n');
        await waitFor('the request to reach the upstream', () => arrived === i + 1);
        caller.socket.destroy();
        await caller.closed;
      }
      await waitFor('six callers gone', async () => (await metricValue(metrics, 'mesh_bridge_http_upstream_failures_total', { reason: 'caller_gone' })) === 6);
      expect(gateway.routes.outliers.isEjected(`127.0.0.1:${upstreamPort}`, Date.now())).toBe(false);
      expect(await metricValue(metrics, 'mesh_bridge_outlier_ejections_total', { protocol: 'http' })).toBe(0);
      expect((await get(port, '/patient')).text).toBe('late');
    } finally {
      await gateway.stop(500);
      await closeHttp(slow);
    }
  });

  it("passes an application's 5xx on, counts it as application_exception and never ejects for it", async () => {
    const failing = createServer((_req, res) => {
      res.statusCode = 500;
      res.end('boom');
    });
    const metrics = new Registry();
    const upstreamPort = await listenHttp(failing);
    const gateway = await gatewayTo([upstreamPort], {}, metrics);
    try {
      for (let i = 0; i < 8; i++) expect(await get(gateway.listener.address.port, '/fail')).toMatchObject({ status: 500, text: 'boom' });
      expect(await metricValue(metrics, 'mesh_bridge_http_upstream_failures_total', { reason: 'application_exception' })).toBe(8);
      expect(gateway.routes.outliers.isEjected(`127.0.0.1:${upstreamPort}`, Date.now())).toBe(false);
    } finally {
      await gateway.stop(500);
      await closeHttp(failing);
    }
  });

  it('sends an idempotent request again on a fresh connection when a reused one was closed under it; not a POST', async () => {
    // Every connection answers its first request and drops the second unanswered, as a server
    // closing an idle keep-alive connection at the moment it is reused.
    const served = new WeakMap<Socket, number>();
    const upstream = await rawUpstream((request, socket) => {
      const n = (served.get(socket) ?? 0) + 1;
      served.set(socket, n);
      if (n === 1) return okResponse(`answer ${request.method} ${request.url}`);
      socket.destroy();
      return null;
    });
    const metrics = new Registry();
    const gateway = await gatewayTo([upstream.port], {}, metrics);
    const port = gateway.listener.address.port;
    const agent = new Agent({ connections: 1 });
    try {
      expect((await get(port, '/first', agent)).text).toBe('answer GET /first');
      expect((await get(port, '/second', agent)).text).toBe('answer GET /second');
      expect(await metricValue(metrics, 'mesh_bridge_http_retries_total')).toBe(1);
      const post = await get(port, '/third', agent, 'POST', 'payload');
      expect(post.status).toBe(502);
      expect(await metricValue(metrics, 'mesh_bridge_http_retries_total')).toBe(1);
    } finally {
      await agent.close();
      await gateway.stop(500);
      await upstream.close();
    }
  });

  it('answers 503 without blaming the upstream when the bridge runs out of descriptors, and serves once they are back', async () => {
    const upstream = createServer((_req, res) => res.end('ok'));
    const upstreamPort = await listenHttp(upstream);
    const bridge = await startListenerChild(upstreamPort, {}, 96);
    const sockets: Socket[] = [];
    let closedByBridge = 0;
    try {
      for (let i = 0; i < 150; i++) {
        const socket = connect({ host: '127.0.0.1', port: bridge.port });
        socket.on('error', () => undefined);
        socket.on('close', () => closedByBridge++);
        sockets.push(socket);
      }
      // libuv accepts and closes what it cannot keep: the sign the descriptors ran out.
      await waitFor('the child to run out of descriptors', () => closedByBridge > 0, 30_000);
      // Every kept connection asks at once: libuv frees a descriptor now and then (its EMFILE
      // trick), so one request may find one and be served; the rest must be refused with 503.
      const kept = sockets.filter((s) => !s.destroyed).slice(0, 20);
      const answers = await Promise.all(
        kept.map(
          (socket) =>
            new Promise<string>((resolve) => {
              let text = '';
              socket.on('data', (c: Buffer) => {
                text += c.toString();
                if (text.includes('\r\n\r\n')) resolve(text);
              });
              socket.write('GET / HTTP/1.1\r\nHost: app\r\n\r\n');
            }),
        ),
      );
      for (const answer of answers) expect(answer).toMatch(/^HTTP\/1.1 (200|503) /);
      const refused = answers.filter((a) => a.startsWith('HTTP/1.1 503 '));
      expect(refused.length).toBeGreaterThan(answers.length / 2);
      for (const answer of refused) expect(answer).toContain('HTTP_BRIDGE_OVERLOADED');
      for (const s of sockets) s.destroy();
      await waitFor(
        'a request to be served again',
        async () => {
          try {
            const r = await undiciRequest(`http://127.0.0.1:${bridge.port}/`, { headers: { host: 'app' }, reset: true });
            return (await r.body.text()) === 'ok';
          } catch {
            return false;
          }
        },
        30_000,
        200,
      );
      expect(bridge.child.exitCode).toBeNull();
    } finally {
      for (const s of sockets) s.destroy();
      await bridge.stop();
      await closeHttp(upstream);
    }
  });
});
