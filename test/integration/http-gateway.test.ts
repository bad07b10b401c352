// The bridge's HTTP listener between real HTTP clients (undici, node:http, raw sockets) and real
// HTTP servers, one registered as legacy and one as mesh.
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { request as undiciRequest, Agent, WebSocket as UndiciWebSocket } from 'undici';
import { WebSocketServer } from 'ws';
import { Catalog, Instance, instanceDefaults } from '../../src/catalog';
import { HttpListener, HttpServicePolicy } from '../../src/proxy/http/http-listener';
import { StackWeights } from '../../src/proxy/router/stack-weights';
import { Registry, metricValue } from '../../src/telemetry/metrics';
import { Gateway, httpGateway } from '../support/gateway';

const APP = 'GREETING-SERVICE';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function startServer(handler: Handler): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

function instance(port: number, stack: 'legacy' | 'mesh'): Instance {
  return { ...instanceDefaults(), id: `127.0.0.1:${port}`, service: APP, protocol: 'http', host: '127.0.0.1', port, stack, origin: { source: 'static' } };
}

/** An upstream that says which stack it is and echoes what it received. */
function echo(stack: string): Handler {
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url?.startsWith('/slow')) {
        setTimeout(() => res.end('late'), 1500);
        return;
      }
      const body = Buffer.concat(chunks).toString();
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ stack, method: req.method, url: req.url, headers: req.headers, body }));
    });
  };
}

describe('HTTP gateway with real clients and servers', () => {
  const catalog = new Catalog();
  const weights = new StackWeights();
  const metrics = new Registry();
  const policies = new Map<string, HttpServicePolicy>();
  const defaultPolicy: HttpServicePolicy = { timeoutMs: 3000 };
  let legacy: { server: Server; port: number };
  let mesh: { server: Server; port: number };
  let byHost: HttpListener;
  let byPath: HttpListener;
  const agent = new Agent({ connections: 8 });

  const gateways: Array<Gateway<HttpListener>> = [];
  function listener(routeBy: 'host' | 'path'): HttpListener {
    const gateway = httpGateway(catalog, { weights, metrics, routeBy, policy: (service) => policies.get(service) ?? defaultPolicy });
    gateways.push(gateway);
    return gateway.listener;
  }

  async function get(path: string, headers: Record<string, string> = {}, l = byHost) {
    const response = await undiciRequest(`http://127.0.0.1:${l.address.port}${path}`, { headers: { host: 'greeting-service', ...headers }, dispatcher: agent });
    const text = await response.body.text();
    return { status: response.statusCode, headers: response.headers, text, json: () => JSON.parse(text) };
  }

  beforeAll(async () => {
    legacy = await startServer(echo('legacy'));
    mesh = await startServer(echo('mesh'));
    catalog.replaceSource('static', APP, [instance(legacy.port, 'legacy'), instance(mesh.port, 'mesh')]);
    byHost = listener('host');
    byPath = listener('path');
    await byHost.start();
    await byPath.start();
  });

  afterAll(async () => {
    await agent.close();
    for (const gateway of gateways) await gateway.stop(500);
    legacy?.server.closeAllConnections();
    mesh?.server.closeAllConnections();
    await Promise.all([legacy, mesh].map((s) => new Promise((r) => s?.server.close(r))));
  });

  beforeEach(() => {
    weights.clear(APP);
    policies.clear();
  });

  it('routes by the Host header to the app, with X-Forwarded-* added', async () => {
    const r = await get('/hello?x=1', { 'x-forwarded-for': '10.9.9.9' });
    expect(r.status).toBe(200);
    const seen = r.json();
    expect(seen).toMatchObject({ stack: 'legacy', method: 'GET', url: '/hello?x=1' });
    expect(seen.headers['x-forwarded-for']).toBe('10.9.9.9, 127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe('greeting-service');
  });

  it('routes by the first path segment, which it removes', async () => {
    const r = await get('/greeting-service/hello/there?q=2', { host: 'anything' }, byPath);
    expect(r.json()).toMatchObject({ url: '/hello/there?q=2' });
    expect((await get('/greeting-service?q=3', { host: 'anything' }, byPath)).json()).toMatchObject({ url: '/?q=3' });
  });

  it('sends the configured share to the mesh', async () => {
    weights.set({ service: APP, mesh: 30 });
    const stacks = await Promise.all(Array.from({ length: 1000 }, () => get('/s').then((r) => r.json().stack as string)));
    const share = stacks.filter((s) => s === 'mesh').length / 1000;
    expect(share).toBeGreaterThan(0.25);
    expect(share).toBeLessThan(0.35);
    weights.set({ service: APP, mesh: 100 });
    expect((await get('/s')).json().stack).toBe('mesh');
  });

  it('keeps a sticky caller on one stack', async () => {
    policies.set(APP, { ...defaultPolicy, stickyHeader: 'x-user' });
    weights.set({ service: APP, mesh: 50 });
    const seen = new Map<string, Set<string>>();
    for (let round = 0; round < 5; round++) {
      for (let u = 0; u < 30; u++) {
        const stack = (await get('/s', { 'x-user': `u${u}` })).json().stack as string;
        if (!seen.has(`u${u}`)) seen.set(`u${u}`, new Set());
        seen.get(`u${u}`)!.add(stack);
      }
    }
    for (const stacks of seen.values()) expect(stacks.size).toBe(1);
  });

  it('streams request and response bodies, chunked or sized', async () => {
    const big = 'x'.repeat(3 * 1024 * 1024);
    const sized = await undiciRequest(`http://127.0.0.1:${byHost.address.port}/upload`, {
      method: 'POST',
      headers: { host: 'greeting-service', 'content-type': 'text/plain' },
      body: big,
      dispatcher: agent,
    });
    expect(JSON.parse(await sized.body.text()).body.length).toBe(big.length);
    // A chunked body from a generator, and a 404 from upstream passed through as it is.
    async function* parts() {
      for (let i = 0; i < 5; i++) yield Buffer.from(`part${i};`);
    }
    const chunked = await undiciRequest(`http://127.0.0.1:${byHost.address.port}/upload`, {
      method: 'PUT',
      headers: { host: 'greeting-service' },
      body: Readable.from(parts()),
      dispatcher: agent,
    });
    const seen = JSON.parse(await chunked.body.text());
    expect(seen.body).toBe('part0;part1;part2;part3;part4;');
    expect(seen.headers['transfer-encoding']).toBe('chunked');
  });

  it('answers HEAD without waiting for a body', async () => {
    const r = await undiciRequest(`http://127.0.0.1:${byHost.address.port}/h`, { method: 'HEAD', headers: { host: 'greeting-service' }, dispatcher: agent });
    expect(r.statusCode).toBe(200);
    await r.body.text();
    expect((await get('/after-head')).status).toBe(200);
  });

  it('answers 503 naming the service when it has no instance, and 400 when none is named', async () => {
    const r = await get('/x', { host: 'no-such-app' });
    expect(r.status).toBe(503);
    expect(r.json().error).toMatchObject({ code: 'HTTP_NO_INSTANCE', service: 'no-such-app' });
    const none = await get('/', { host: '' }, byHost);
    expect(none.status).toBe(400);
  });

  it('answers 504 when the upstream is too slow, and 502 naming an upstream that is down', async () => {
    policies.set(APP, { timeoutMs: 300 });
    const slow = await get('/slow');
    expect(slow.status).toBe(504);
    expect(slow.json().error.upstream).toContain(String(legacy.port));
    const down = await startServer(echo('down'));
    await new Promise((r) => down.server.close(r));
    catalog.replaceSource('static', APP, [instance(down.port, 'legacy')]);
    try {
      const r = await get('/x');
      expect(r.status).toBe(502);
      expect(r.json().error).toMatchObject({ code: 'HTTP_UPSTREAM_FAILED' });
      expect(r.json().error.message).toContain(`127.0.0.1:${down.port}`);
    } finally {
      catalog.replaceSource('static', APP, [instance(legacy.port, 'legacy'), instance(mesh.port, 'mesh')]);
    }
  });

  it('sends a request whose connection was refused to another instance, and leaves out an instance that keeps refusing', async () => {
    const down = await startServer(echo('down'));
    await new Promise((r) => down.server.close(r));
    catalog.replaceSource('static', APP, [instance(legacy.port, 'legacy'), instance(down.port, 'legacy')]);
    try {
      const retriesBefore = await metricValue(metrics, 'mesh_bridge_http_retries_total');
      const statuses: number[] = [];
      for (let i = 0; i < 100; i++) statuses.push((await get('/o')).status);
      // Refused connections delivered nothing: those requests went to the live instance, and five
      // refusals in a row ejected the dead one.
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
      const retried = (await metricValue(metrics, 'mesh_bridge_http_retries_total')) - retriesBefore;
      expect(retried).toBeGreaterThanOrEqual(3);
      expect(retried).toBeLessThanOrEqual(6);
      expect(await metricValue(metrics, 'mesh_bridge_outlier_ejections_total', { protocol: 'http' })).toBeGreaterThanOrEqual(1);
    } finally {
      catalog.replaceSource('static', APP, [instance(legacy.port, 'legacy'), instance(mesh.port, 'mesh')]);
    }
  });

  it('answers a malformed request 400 and closes only that connection', async () => {
    const socket = connect({ host: '127.0.0.1', port: byHost.address.port });
    let answer = '';
    socket.on('data', (c) => (answer += c.toString()));
    await new Promise((r) => socket.once('connect', r));
    socket.write('GARBAGE\r\n\r\n');
    await new Promise((r) => socket.once('close', r));
    expect(answer).toMatch(/^HTTP\/1.1 400 /);
    expect(answer).toContain('HTTP_BAD_REQUEST');
    expect(await metricValue(metrics, 'mesh_bridge_http_bad_requests_total')).toBeGreaterThanOrEqual(1);
    expect((await get('/fine')).status).toBe(200);
  });

  it('answers pipelined requests in order', async () => {
    const socket = connect({ host: '127.0.0.1', port: byHost.address.port });
    let answer = '';
    socket.on('data', (c) => (answer += c.toString()));
    await new Promise((r) => socket.once('connect', r));
    socket.write('GET /first HTTP/1.1\r\nHost: greeting-service\r\n\r\nGET /second HTTP/1.1\r\nHost: greeting-service\r\nConnection: close\r\n\r\n');
    await new Promise((r) => socket.once('close', r));
    expect(answer.indexOf('/first')).toBeGreaterThan(0);
    expect(answer.indexOf('/second')).toBeGreaterThan(answer.indexOf('/first'));
  });
});

describe('HTTP listener shutdown', () => {
  it('finishes requests in flight, then refuses new connections', async () => {
    const catalog = new Catalog();
    const metrics = new Registry();
    const slow = await startServer((_req, res) => setTimeout(() => res.end('finished'), 300));
    catalog.replaceSource('static', APP, [instance(slow.port, 'legacy')]);
    const { listener, routes } = httpGateway(catalog, { metrics, policy: () => ({ timeoutMs: 3000 }) });
    await listener.start();
    const port = listener.address.port;
    try {
      const inFlight = Promise.all(
        Array.from({ length: 3 }, () => undiciRequest(`http://127.0.0.1:${port}/s`, { headers: { host: 'greeting-service' } }).then((r) => r.body.text())),
      );
      await new Promise((r) => setTimeout(r, 100));
      await listener.stop(2000);
      expect(await inFlight).toEqual(['finished', 'finished', 'finished']);
      await expect(undiciRequest(`http://127.0.0.1:${port}/s`, { headers: { host: 'greeting-service' } })).rejects.toThrow();
    } finally {
      routes.close();
      slow.server.closeAllConnections();
      slow.server.close();
    }
  });
});

describe('HTTP listener protocol upgrades', () => {
  it('tunnels a WebSocket between undici and a ws server, both ways, and closes both sides', async () => {
    const catalog = new Catalog();
    const metrics = new Registry();
    const http = createServer((_req, res) => res.end('plain'));
    const wss = new WebSocketServer({ server: http });
    const serverClosed = new Promise<void>((resolve) => {
      wss.on('connection', (socket, req) => {
        socket.send(`hello ${req.headers['x-forwarded-for']}`);
        socket.on('message', (data) => socket.send(`echo ${String(data)}`));
        socket.on('close', () => resolve());
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const port = (http.address() as { port: number }).port;
    catalog.replaceSource('static', APP, [instance(port, 'mesh')]);
    const { listener, routes } = httpGateway(catalog, { metrics, routeBy: 'path', policy: () => ({ timeoutMs: 3000 }) });
    await listener.start();
    try {
      const ws = new UndiciWebSocket(`ws://127.0.0.1:${listener.address.port}/greeting-service/chat`);
      const received: string[] = [];
      const got = (n: number) =>
        new Promise<void>((resolve) => {
          const check = () => (received.length >= n ? resolve() : setTimeout(check, 10));
          check();
        });
      ws.addEventListener('message', (event) => received.push(String(event.data)));
      await new Promise((resolve, reject) => {
        ws.addEventListener('open', resolve);
        ws.addEventListener('error', reject);
      });
      ws.send('one');
      ws.send('x'.repeat(100_000));
      await got(3);
      expect(received[0]).toBe('hello 127.0.0.1');
      expect(received[1]).toBe('echo one');
      expect(received[2]).toBe(`echo ${'x'.repeat(100_000)}`);
      expect(await metricValue(metrics, 'mesh_bridge_http_upgrades_total')).toBe(1);
      ws.close();
      await serverClosed;
    } finally {
      await listener.stop(500);
      routes.close();
      wss.close();
      http.closeAllConnections();
      http.close();
    }
  });
});
