// Every wait on the HTTP path has a deadline: a caller dribbling its head or body, an idle kept-alive
// caller, an upstream that stalls mid-response, an idle pooled upstream connection.
import { Socket } from 'node:net';
import { Registry, metricValue } from '../../src/telemetry/metrics';
import { gatewayTo, okResponse, rawCaller, rawUpstream } from '../support/http-raw';
import { waitFor } from '../support/wait';


describe('HTTP listener timeouts', () => {
  let upstream: Awaited<ReturnType<typeof rawUpstream>>;
  beforeAll(async () => {
    upstream = await rawUpstream((request, socket) => {
      if (request.url === '/stall') {
        // A head and half the body, then nothing.
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello');
        return null;
      }
      if (request.url === '/held-up') {
        // Half the body; then the rest, and this process is held up (as by a long garbage
        // collection, or a starved CPU) for longer than the stall timeout, with the rest unread.
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello');
        // (In the check phase: the loop's next steps are its timers, then its reads.)
        setTimeout(() => {
          setImmediate(() => {
            socket.write('world');
            const until = Date.now() + 1000;
            while (Date.now() < until);
          });
        }, 100);
        return null;
      }
      return okResponse(`answer ${request.url}`);
    });
  });
  afterAll(async () => upstream.close());

  it('answers a head sent one byte at a time 408 and closes, within the header timeout', async () => {
    const metrics = new Registry();
    const gateway = await gatewayTo([upstream.port], { headerTimeoutMs: 600 }, metrics);
    try {
      const caller = await rawCaller(gateway.listener.address.port);
      const head = 'GET /slowloris HTTP/1.1\r\nHost: greeting-service\r\nX-Padding: ' + 'a'.repeat(200);
      const began = Date.now();
      let i = 0;
      const drip = setInterval(() => {
        if (i < head.length && !caller.socket.destroyed) caller.socket.write(head[i++]);
      }, 50);
      await caller.closed;
      clearInterval(drip);
      const took = Date.now() - began;
      expect(caller.raw()).toMatch(/^HTTP\/1.1 408 /);
      expect(took).toBeGreaterThanOrEqual(550);
      expect(took).toBeLessThan(3000);
      expect(upstream.requests.some((r) => r.url === '/slowloris')).toBe(false);
      expect(await metricValue(metrics, 'mesh_bridge_http_caller_timeouts_total', { phase: 'header' })).toBe(1);
    } finally {
      await gateway.stop(500);
    }
  });

  it('holds a head begun in the same read as a whole request, or after empty lines, to the header timeout', async () => {
    const gateway = await gatewayTo([upstream.port], { headerTimeoutMs: 600, keepAliveTimeoutMs: 60_000 });
    try {
      for (const before of ['GET /whole HTTP/1.1\r\nHost: greeting-service\r\n\r\n', '\r\n']) {
        const caller = await rawCaller(gateway.listener.address.port);
        const began = Date.now();
        caller.socket.write(`${before}GET /unfinished HTTP/1.1\r\nHost: greet`);
        await caller.closed;
        expect(Date.now() - began).toBeLessThan(5000);
        expect(caller.raw()).toMatch(/HTTP\/1.1 408 /);
      }
    } finally {
      await gateway.stop(500);
    }
  });

  it('answers a request whose body stops arriving 408 and closes, within the body idle timeout', async () => {
    const gateway = await gatewayTo([upstream.port], { bodyIdleTimeoutMs: 500 });
    try {
      const caller = await rawCaller(gateway.listener.address.port);
      caller.socket.write('POST /upload HTTP/1.1\r\nHost: greeting-service\r\nContent-Length: 100\r\n\r\nonly part');
      const began = Date.now();
      await caller.closed;
      expect(caller.raw()).toMatch(/^HTTP\/1.1 408 /);
      expect(Date.now() - began).toBeLessThan(3000);
    } finally {
      await gateway.stop(500);
    }
  });

  it('closes an idle kept-alive caller connection after the keep-alive timeout', async () => {
    const gateway = await gatewayTo([upstream.port], { keepAliveTimeoutMs: 500 });
    try {
      const caller = await rawCaller(gateway.listener.address.port);
      caller.socket.write('GET /one HTTP/1.1\r\nHost: greeting-service\r\n\r\n');
      await waitFor('the answer', () => caller.reader.responses.length === 1);
      const began = Date.now();
      await caller.closed;
      expect(Date.now() - began).toBeGreaterThanOrEqual(400);
      expect(Date.now() - began).toBeLessThan(3000);
    } finally {
      await gateway.stop(500);
    }
  });

  it('breaks the caller connection when the upstream stalls mid-body, and drops that upstream connection', async () => {
    const gateway = await gatewayTo([upstream.port], { responseStallTimeoutMs: 500 });
    try {
      const caller = await rawCaller(gateway.listener.address.port);
      caller.socket.write('GET /stall HTTP/1.1\r\nHost: greeting-service\r\n\r\n');
      const began = Date.now();
      await caller.closed;
      expect(Date.now() - began).toBeLessThan(3000);
      expect(caller.raw()).toContain('hello');
      expect(caller.reader.responses).toHaveLength(0); // never a complete answer
      await waitFor('the stalled upstream connection to close', () => upstream.sockets.size === 0);
    } finally {
      await gateway.stop(500);
    }
  });

  it('does not take a held-up event loop for a stalled upstream: what arrived meanwhile is read before the deadline is judged', async () => {
    const metrics = new Registry();
    const gateway = await gatewayTo([upstream.port], { responseStallTimeoutMs: 300 }, metrics);
    try {
      const caller = await rawCaller(gateway.listener.address.port);
      caller.socket.write('GET /held-up HTTP/1.1\r\nHost: greeting-service\r\n\r\n');
      await waitFor('the whole answer', () => caller.reader.responses.length === 1 || caller.socket.destroyed, 10_000);
      expect(caller.reader.responses.map((r) => r.body)).toEqual(['helloworld']);
      expect(await metricValue(metrics, 'mesh_bridge_http_upstream_failures_total', { reason: 'response_timeout' })).toBe(0);
      caller.socket.destroy();
    } finally {
      await gateway.stop(500);
    }
  });

  it('uses an upstream connection completed before its connect timeout though the event loop was held up past it', async () => {
    const metrics = new Registry();
    const gateway = await gatewayTo([upstream.port], { connectTimeoutMs: 200 }, metrics);
    try {
      const caller = await rawCaller(gateway.listener.address.port);
      caller.socket.write('GET /connect-then-hold HTTP/1.1\r\nHost: greeting-service\r\n\r\n');
      // Once the bridge has issued its connect, this process is held up past the connect timeout
      // (as by a long garbage collection): the handshake completes in the kernel meanwhile.
      await new Promise<void>((resolve) => {
        const check = (): void => {
          if (gateway.listener.pendingOf(`127.0.0.1:${upstream.port}`) === 0) return void setImmediate(check);
          // (In the check phase of the turn that issued the connect: its completion is not read yet.)
          const until = Date.now() + 700;
          while (Date.now() < until);
          resolve();
        };
        setImmediate(check);
      });
      await waitFor('the answer', () => caller.reader.responses.length === 1 || caller.socket.destroyed, 10_000);
      expect(caller.reader.responses.map((r) => r.status)).toEqual([200]);
      expect(await metricValue(metrics, 'mesh_bridge_http_upstream_failures_total', { reason: 'connect_timeout' })).toBe(0);
      caller.socket.destroy();
    } finally {
      await gateway.stop(500);
    }
  });

  it('closes idle pooled upstream connections after the upstream idle timeout', async () => {
    const gateway = await gatewayTo([upstream.port], { upstreamIdleTimeoutMs: 300 });
    try {
      const caller = await rawCaller(gateway.listener.address.port);
      caller.socket.write('GET /pooled HTTP/1.1\r\nHost: greeting-service\r\n\r\n');
      await waitFor('the answer', () => caller.reader.responses.length === 1);
      const pooled = [...upstream.sockets];
      expect(pooled).toHaveLength(1);
      await waitFor('the pooled connection to be closed', () => (pooled[0] as Socket).destroyed, 5000);
      caller.socket.destroy();
    } finally {
      await gateway.stop(500);
    }
  });
});
