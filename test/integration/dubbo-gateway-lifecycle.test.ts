// The Dubbo listener's connection upkeep and shutdown, against a provider made of our codec (so
// the test sees every frame the bridge sends upstream): heartbeats on idle upstream connections,
// and a graceful stop that finishes the requests in flight and refuses new connections.
import { Server, Socket, createServer, connect } from 'node:net';
import { Catalog, instanceDefaults } from '../../src/catalog';
import { DubboListener } from '../../src/bridge/dubbo/dubbo-listener';
import { FrameDecoder, encodeHeartbeat, encodeResponse, isHeartbeat } from '../../src/dubbo-codec';
import { RawDubboClient } from '../support/dubbo-client';
import { Gateway, dubboGateway } from '../support/gateway';

const IFACE = 'com.example.demo.SlowService';

/** Answers every request after `delayMs` with the method name; counts heartbeats it receives. */
async function codecProvider(delayMs: number): Promise<{ server: Server; port: number; heartbeats: () => number; close: () => void }> {
  let heartbeats = 0;
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    const decoder = new FrameDecoder();
    socket.on('error', () => undefined);
    socket.on('data', (chunk) =>
      decoder.push(chunk, (frame) => {
        if (isHeartbeat(frame.header, frame.body)) {
          heartbeats++;
          socket.write(encodeHeartbeat(frame.header.requestId, false));
          return;
        }
        const timer = setTimeout(() => {
          timers.delete(timer);
          socket.write(encodeResponse({ requestId: frame.header.requestId, value: 'done' }));
        }, delayMs);
        timers.add(timer);
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const close = (): void => {
    for (const timer of timers) clearTimeout(timer);
    for (const socket of sockets) socket.destroy();
    server.close();
  };
  return { server, port: (server.address() as { port: number }).port, heartbeats: () => heartbeats, close };
}

function bridgeTo(port: number, heartbeatIdleMs: number): Gateway<DubboListener> {
  const catalog = new Catalog();
  catalog.replaceSource('static', IFACE, [
    { ...instanceDefaults(), id: `127.0.0.1:${port}`, service: IFACE, protocol: 'dubbo', host: '127.0.0.1', port, stack: 'legacy', origin: { source: 'static' } },
  ]);
  return dubboGateway(catalog, { heartbeatIdleMs, policy: () => ({ idempotentMethods: new Set(), retries: 0, timeoutMs: 5000 }) });
}

describe('Dubbo listener upkeep and shutdown', () => {
  it('sends heartbeats on an idle upstream connection', async () => {
    const provider = await codecProvider(0);
    const { listener, routes } = bridgeTo(provider.port, 200);
    await listener.start();
    const client = await RawDubboClient.connect(listener.address.port);
    try {
      expect((await client.call({ path: IFACE, method: 'ping' })).value).toBe('done');
      await new Promise((r) => setTimeout(r, 900));
      expect(provider.heartbeats()).toBeGreaterThanOrEqual(2);
      // The connection is still good after them.
      expect((await client.call({ path: IFACE, method: 'ping' })).value).toBe('done');
    } finally {
      client.close();
      await listener.stop(100);
      routes.close();
      provider.close();
    }
  });

  it('stops gracefully: requests in flight are answered, new connections refused', async () => {
    const provider = await codecProvider(400);
    const { listener, routes } = bridgeTo(provider.port, 60_000);
    await listener.start();
    const port = listener.address.port;
    const client = await RawDubboClient.connect(port);
    try {
      const inFlight = Array.from({ length: 5 }, (_, i) => client.call({ path: IFACE, method: `m${i}` }));
      await new Promise((r) => setTimeout(r, 100));
      const stopped = listener.stop(3000);
      const answers = await Promise.all(inFlight);
      expect(answers.map((a) => a.value)).toEqual(['done', 'done', 'done', 'done', 'done']);
      await stopped;
      const refused = await new Promise<boolean>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port });
        socket.on('connect', () => {
          socket.destroy();
          resolve(false);
        });
        socket.on('error', () => resolve(true));
      });
      expect(refused).toBe(true);
    } finally {
      client.close();
      routes.close();
      provider.close();
    }
  });

  it('answers what is still in flight at the deadline with an error, never a hang', async () => {
    const provider = await codecProvider(5000);
    const { listener, routes } = bridgeTo(provider.port, 60_000);
    await listener.start();
    const client = await RawDubboClient.connect(listener.address.port);
    try {
      const pending = client.call({ path: IFACE, method: 'tooSlow' });
      await new Promise((r) => setTimeout(r, 100));
      const started = Date.now();
      await listener.stop(300);
      const answer = await pending;
      expect(Date.now() - started).toBeLessThan(2000);
      expect(answer.status).not.toBe(20);
      expect(answer.errorMessage).toContain('shutting down');
    } finally {
      client.close();
      routes.close();
      provider.close();
    }
  });
});
