// Every buffer on the HTTP path has a bound: a caller that stops reading pauses its upstream, a
// pipelining caller is read only as fast as it is answered, and the listener survives running out
// of connections or file descriptors.
import { createServer } from 'node:http';
import { connect, Socket } from 'node:net';
import { request as undiciRequest } from 'undici';
import { Catalog } from '../../src/catalog';
import { Registry, metricValue } from '../../src/telemetry/metrics';
import { startListenerChild } from '../support/child-listener';
import { httpGateway } from '../support/gateway';
import { TEST_APP, closeHttp, httpInstance, listenHttp, rawCaller } from '../support/http-raw';
import { waitFor } from '../support/wait';

const MiB = 1024 * 1024;


describe('HTTP listener flow control', () => {
  it('pauses the upstream of a caller that stops reading a 64 MiB response: RSS grows under 8 MiB', async () => {
    let sent = 0;
    const upstream = createServer((req, res) => {
      if (req.url === '/warm') return void res.end(Buffer.alloc(8 * MiB, 'w'));
      if (req.url !== '/big') return void res.end('small');
      const piece = Buffer.alloc(MiB, 'x');
      res.setHeader('content-length', 64 * MiB);
      const pump = (): void => {
        while (sent < 64 * MiB) {
          sent += MiB;
          if (!res.write(piece)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    const bridge = await startListenerChild(await listenHttp(upstream));
    try {
      // Warm: the first requests compile what the path needs, and one large answer read whole lets
      // the heap grow to its working size, so what is measured is what the stalled answer holds.
      for (let i = 0; i < 20; i++) await (await undiciRequest(`http://127.0.0.1:${bridge.port}/small`, { headers: { host: 'app' } })).body.text();
      await (await undiciRequest(`http://127.0.0.1:${bridge.port}/warm`, { headers: { host: 'app' } })).body.text();
      const baseline = bridge.rssKb();
      let peak = baseline;
      const sampler = setInterval(() => (peak = Math.max(peak, bridge.rssKb())), 20);
      const caller = connect({ host: '127.0.0.1', port: bridge.port });
      caller.pause(); // never reads
      caller.write('GET /big HTTP/1.1\r\nHost: app\r\n\r\n');
      // The upstream is held back once every buffer on the way is full: its progress stops.
      let last = -1;
      let stillSince = Date.now();
      await waitFor(
        'the upstream to be held back',
        () => {
          if (sent !== last) {
            last = sent;
            stillSince = Date.now();
          }
          return sent > 0 && Date.now() - stillSince > 1500;
        },
        30_000,
        50,
      );
      clearInterval(sampler);
      peak = Math.max(peak, bridge.rssKb());
      const growthMb = (peak - baseline) / 1024;
      console.log(`slow reader: upstream sent ${sent / MiB} MiB, bridge RSS grew ${growthMb.toFixed(1)} MiB`);
      expect(sent).toBeLessThan(64 * MiB);
      expect(growthMb).toBeLessThan(8);
      caller.destroy();
    } finally {
      await bridge.stop();
      await closeHttp(upstream);
    }
  });

  // Once skipped: it failed in whole in-band runs. The cause was the sweep judging silence before
  // reading what had arrived: after the event loop was held up (a long GC in a big jest heap),
  // timers ran before reads, the upstream looked stalled mid-response and the caller was broken
  // as response_timeout, never counted as not reading. Sweeps now run after the reads
  // (http-timeouts.test.ts pins that with a held-up loop); here, the caller is cut off for not reading only.
  it('breaks the connection of a caller that has not read its answer for the stall timeout, freeing the upstream', async () => {
    const upstreamSockets = new Set<Socket>();
    const upstream = createServer((_req, res) => res.end(Buffer.alloc(32 * MiB, 'y')));
    upstream.on('connection', (socket: Socket) => {
      upstreamSockets.add(socket);
      socket.on('close', () => upstreamSockets.delete(socket));
    });
    const metrics = new Registry();
    const catalog = new Catalog();
    catalog.replaceSource('static', TEST_APP, [httpInstance(await listenHttp(upstream))]);
    const gateway = httpGateway(catalog, { metrics, policy: () => ({ timeoutMs: 10_000 }), listener: { responseStallTimeoutMs: 500 } });
    await gateway.listener.start();
    try {
      const caller = connect({ host: '127.0.0.1', port: gateway.listener.address.port });
      caller.pause(); // never reads
      caller.on('error', () => undefined);
      caller.write('GET /big HTTP/1.1\r\nHost: greeting-service\r\n\r\n');
      // (A caller that does not read does not see the close either: the bridge's side is watched.)
      await waitFor('the caller to be cut off', async () => (await metricValue(metrics, 'mesh_bridge_http_caller_timeouts_total', { phase: 'not_reading' })) === 1, 10_000);
      await waitFor('the upstream connection to be freed', () => upstreamSockets.size === 0);
      caller.destroy();
      expect(await metricValue(metrics, 'mesh_bridge_http_upstream_failures_total', { reason: 'caller_gone' })).toBe(1);
      expect(await metricValue(metrics, 'mesh_bridge_http_upstream_failures_total', { reason: 'response_timeout' })).toBe(0);
    } finally {
      await gateway.stop(500);
      await closeHttp(upstream);
    }
  });

  it('reads 1,500 pipelined requests on one connection with at most the cap of upstream connections', async () => {
    let open = 0;
    let maxOpen = 0;
    const upstream = createServer((req, res) => res.end(`answer ${req.url}`));
    upstream.on('connection', (socket: Socket) => {
      maxOpen = Math.max(maxOpen, ++open);
      socket.on('close', () => open--);
    });
    const catalog = new Catalog();
    catalog.replaceSource('static', TEST_APP, [httpInstance(await listenHttp(upstream))]);
    const gateway = httpGateway(catalog, { policy: () => ({ timeoutMs: 10_000 }), listener: { maxPipelined: 16 } });
    await gateway.listener.start();
    try {
      const caller = await rawCaller(gateway.listener.address.port);
      let requests = '';
      for (let i = 0; i < 1500; i++) requests += `GET /${i} HTTP/1.1\r\nHost: greeting-service\r\n\r\n`;
      caller.socket.write(requests);
      await waitFor('1,500 answers', () => caller.reader.responses.length >= 1500, 60_000);
      expect(caller.reader.responses.every((r, i) => r.body === `answer /${i}`)).toBe(true);
      expect(maxOpen).toBeLessThanOrEqual(16);
      caller.socket.destroy();
    } finally {
      await gateway.stop(500);
      await closeHttp(upstream);
    }
  });

  it('closes caller connections past maxConnections on arrival, and serves again once under it', async () => {
    const upstream = createServer((_req, res) => res.end('ok'));
    const catalog = new Catalog();
    catalog.replaceSource('static', TEST_APP, [httpInstance(await listenHttp(upstream))]);
    const metrics = new Registry();
    const gateway = httpGateway(catalog, { metrics, policy: () => ({ timeoutMs: 5000 }), listener: { maxConnections: 3 } });
    await gateway.listener.start();
    const port = gateway.listener.address.port;
    try {
      const held = await Promise.all([1, 2, 3].map(() => rawCaller(port)));
      await waitFor('three connections open', async () => (await metricValue(metrics, 'mesh_bridge_http_client_connections')) === 3);
      const extra = await rawCaller(port);
      await extra.closed;
      expect(await metricValue(metrics, 'mesh_bridge_http_refused_connections_total')).toBe(1);
      held[0].socket.destroy();
      await waitFor('a slot free', async () => (await metricValue(metrics, 'mesh_bridge_http_client_connections')) === 2);
      const r = await undiciRequest(`http://127.0.0.1:${port}/`, { headers: { host: 'greeting-service' }, reset: true });
      expect(await r.body.text()).toBe('ok');
      for (const c of held) c.socket.destroy();
    } finally {
      await gateway.stop(500);
      await closeHttp(upstream);
    }
  });
});
