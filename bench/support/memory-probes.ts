// Memory figures of the bridge under hostile callers, each against a bridge child of its own so
// nothing else it did is counted: RSS growth while a caller refuses to read a 64 MiB response, and
// RSS with 10,000 idle consumer connections open.
import { createServer as createHttpServer } from 'node:http';
import { Socket, connect, createServer } from 'node:net';
import { Child, sampleProc, startNodeChild, stopChild } from './processes';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves once `progress()` has not changed for `quietMs`, or after `maxMs`. */
async function untilQuiet(progress: () => number, quietMs: number, maxMs: number): Promise<void> {
  const end = performance.now() + maxMs;
  let last = progress();
  let since = performance.now();
  while (performance.now() < end) {
    await delay(100);
    const now = progress();
    if (now !== last) {
      last = now;
      since = performance.now();
    } else if (performance.now() - since >= quietMs) return;
  }
}

async function settledRss(child: Child): Promise<number> {
  await delay(300);
  return sampleProc(child.pid).rssMb;
}

/**
 * RSS growth of an HTTP bridge while one caller asks for 64 MiB and never reads: with flow control
 * the upstream is paused and the bridge holds about its socket buffers' worth.
 */
export async function slowReaderRssMb(bytes = 64 * 1024 * 1024): Promise<{ growthMb: number; upstreamSentMb: number }> {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let sent = 0;
  const upstream = createHttpServer((req, res) => {
    if (req.url === '/small') {
      res.end('ok');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bytes) });
    const pump = (): void => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const upstreamPort = (upstream.address() as { port: number }).port;
  const bridge = await startNodeChild('bridge (slow reader)', 'bridge.ts', ['--mode=http', `--upstream=${upstreamPort}`]);
  let caller: Socket | null = null;
  try {
    // Warm the path with small requests, so the baseline includes code and pools, not just startup.
    for (let i = 0; i < 50; i++) await httpGet(bridge.port, '/small');
    const before = await settledRss(bridge);
    caller = connect({ host: '127.0.0.1', port: bridge.port });
    await new Promise((r) => caller?.once('connect', r));
    caller.pause(); // never reads
    caller.write('GET /big HTTP/1.1\r\nHost: app\r\n\r\n');
    await untilQuiet(() => sent, 1500, 20_000);
    const after = await settledRss(bridge);
    return { growthMb: after - before, upstreamSentMb: sent / 1024 / 1024 };
  } finally {
    caller?.destroy();
    await stopChild(bridge);
    upstream.closeAllConnections();
    await new Promise((r) => upstream.close(r));
  }
}

async function httpGet(port: number, path: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let got = '';
    socket.setEncoding('latin1');
    socket.on('data', (s: string) => {
      got += s;
      if (got.includes('\r\n\r\n') && got.endsWith('ok')) {
        socket.destroy();
        resolve();
      }
    });
    socket.on('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n`);
  });
}

/** RSS of a Dubbo bridge with `count` idle consumer connections open. */
export async function idleConnectionsRssMb(count = 10_000): Promise<{ rssMb: number; baselineMb: number; open: number }> {
  const provider = createServer(() => undefined);
  await new Promise<void>((r) => provider.listen(0, '127.0.0.1', r));
  const providerPort = (provider.address() as { port: number }).port;
  const bridge = await startNodeChild('bridge (idle connections)', 'bridge.ts', ['--mode=dubbo', `--upstream=${providerPort}`]);
  const sockets: Socket[] = [];
  try {
    const baselineMb = await settledRss(bridge);
    let open = 0;
    // In batches, so the accept backlog is never the limit being measured.
    for (let i = 0; i < count; i += 500) {
      const batch: Promise<void>[] = [];
      for (let j = i; j < Math.min(count, i + 500); j++) {
        batch.push(
          new Promise<void>((resolve) => {
            const s = connect({ host: '127.0.0.1', port: bridge.port });
            sockets.push(s);
            s.on('error', () => resolve());
            s.once('connect', () => {
              open++;
              resolve();
            });
          }),
        );
      }
      await Promise.all(batch);
    }
    await delay(1000);
    const alive = sockets.filter((s) => !s.destroyed).length;
    return { rssMb: sampleProc(bridge.pid).rssMb, baselineMb, open: Math.min(open, alive) };
  } finally {
    for (const s of sockets) s.destroy();
    await stopChild(bridge);
    await new Promise((r) => provider.close(r));
  }
}
