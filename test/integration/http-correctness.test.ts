// HTTP/1.1 as a proxy must speak it (RFC 9110, 9112): framing chosen for the caller's version,
// transfer codings kept, hop-by-hop headers dropped, claims about the caller's scheme and host
// believed only from a trusted hop, an ambiguous Host refused, and a loop between bridges cut.
import { HttpListenerOptions } from '../../src/proxy/http/http-listener';
import { PLAIN_HEADS } from '../../src/proxy/http/plain-head';
import { gatewayTo, okResponse, rawCaller, rawUpstream } from '../support/http-raw';
import { waitFor } from '../support/wait';

/** Sends raw request bytes on a fresh connection and waits for `answers` responses. */
async function exchange(port: number, bytes: string, answers = 1) {
  const caller = await rawCaller(port);
  caller.socket.write(bytes);
  await waitFor(`${answers} answer(s)`, () => caller.reader.responses.length >= answers);
  return caller;
}

describe('HTTP correctness through the bridge', () => {
  let upstream: Awaited<ReturnType<typeof rawUpstream>>;
  beforeAll(async () => {
    upstream = await rawUpstream((request, socket) => {
      const split = /^\/split\/(\d+)$/.exec(request.url);
      if (split) {
        // The response in two reads, cut at the given byte: inside the head's CRLFCRLF, or in the body.
        const whole = Buffer.from(okResponse('split body'));
        const at = Number(split[1]);
        socket.write(whole.subarray(0, at));
        setTimeout(() => socket.write(whole.subarray(at)), 30);
        return null;
      }
      switch (request.url) {
        case '/chunked':
          return 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n';
        case '/gzip-chunked':
          return 'HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
        case '/echo-body':
          return okResponse(`${request.method} ${request.body}`);
        case '/close':
          return okResponse('closing', 'connection: close\r\n');
        case '/plain':
          return 'HTTP/1.1 200 OK\r\nX-First:  a\tb \r\nKeep-Alive: timeout=5\r\nDate: x\r\nConnection: keep-alive\r\ncontent-length: 5\r\n\r\nhello';
        case '/plain-close':
          return 'HTTP/1.1 200 OK\r\nDate: x\r\nConnection: CLOSE\r\ncontent-length: 3\r\n\r\nbye';
        case '/whoami':
          return okResponse(String(socket.remotePort));
        case '/hop-by-hop':
          return okResponse('h', 'connection: keep-alive, x-private-hop\r\nkeep-alive: timeout=5\r\nx-private-hop: 1\r\nproxy-authenticate: Basic\r\nx-end-to-end: kept\r\n');
        default:
          return okResponse(JSON.stringify(request.headers));
      }
    });
  });
  afterAll(async () => upstream.close());

  async function bridge(options: Partial<HttpListenerOptions> = {}) {
    return gatewayTo([upstream.port], options);
  }

  // The reads share one buffer: a cut at 1 also leaves the caller's request, CRLFCRLF included,
  // just past the upstream's one-byte read, where a search that did not stop at the read's end finds it.
  it('finds where a response head ends when the read boundary falls anywhere in it or the body', async () => {
    const gateway = await bridge();
    try {
      const caller = await rawCaller(gateway.listener.address.port);
      const headLength = okResponse('split body').indexOf('\r\n\r\n') + 4;
      const cuts = [1, headLength - 4, headLength - 3, headLength - 2, headLength - 1, headLength, headLength + 3];
      for (const [i, cut] of cuts.entries()) {
        caller.socket.write(`GET /split/${cut} HTTP/1.1\r\nHost: greeting-service\r\n\r\n`);
        await waitFor(`the answer cut at ${cut}`, () => caller.reader.responses.length === i + 1);
        expect(caller.reader.responses[i]).toMatchObject({ status: 200, body: 'split body' });
      }
      caller.socket.destroy();
    } finally {
      await gateway.stop(500);
    }
  });

  it('never sends a chunked body to an HTTP/1.0 caller: it is close-delimited', async () => {
    const gateway = await bridge();
    try {
      const caller = await rawCaller(gateway.listener.address.port);
      caller.socket.write('GET /chunked HTTP/1.0\r\nHost: greeting-service\r\n\r\n');
      await caller.closed;
      expect(caller.raw()).not.toMatch(/transfer-encoding/i);
      expect(caller.raw()).toMatch(/connection: close/i);
      expect(caller.raw().endsWith('\r\n\r\nhello world')).toBe(true);
    } finally {
      await gateway.stop(500);
    }
  });

  it('keeps gzip in Transfer-Encoding: gzip, chunked, both ways', async () => {
    const gateway = await bridge();
    try {
      const port = gateway.listener.address.port;
      const response = (await exchange(port, 'GET /gzip-chunked HTTP/1.1\r\nHost: greeting-service\r\n\r\n')).reader.responses[0];
      expect(response.headers['transfer-encoding']).toBe('gzip, chunked');
      expect(response.body).toBe('abc');
      const echoed = (await exchange(port, 'POST /echo HTTP/1.1\r\nHost: greeting-service\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n')).reader.responses[0];
      expect(JSON.parse(echoed.body)['transfer-encoding']).toBe('gzip, chunked');
    } finally {
      await gateway.stop(500);
    }
  });

  it("drops a caller's hop-by-hop headers whatever their case, and passes the others on as sent", async () => {
    const request =
      'GET /echo HTTP/1.1\r\nHOST: greeting-service\r\nUser-Agent: probe/1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nPROXY-CONNECTION: keep-alive\r\n' +
      'Proxy-Authorization: Basic c2VjcmV0\r\nTrailer: x-sum\r\nAccept: */*\r\nX-Request-Id: r-1\r\nX-MESH-BRIDGE-HOPS: 1\r\n\r\n';
    const gateway = await bridge();
    try {
      const seen = JSON.parse((await exchange(gateway.listener.address.port, request)).reader.responses[0].body);
      for (const hop of ['keep-alive', 'te', 'proxy-connection', 'proxy-authorization', 'trailer']) expect(seen).not.toHaveProperty([hop]);
      expect(seen).toMatchObject({ 'user-agent': 'probe/1', accept: '*/*', 'x-request-id': 'r-1', 'x-mesh-bridge-hops': '2', 'x-forwarded-host': 'greeting-service' });
    } finally {
      await gateway.stop(500);
    }
  });

  it("replaces a caller's X-Forwarded-Proto and -Host unless it is a trusted hop", async () => {
    const spoof = 'GET /echo HTTP/1.1\r\nHost: greeting-service\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: bank.example\r\n\r\n';
    const untrusted = await bridge();
    const trusted = await bridge({ trustedForwarders: ['127.0.0.1'] });
    try {
      const seen = JSON.parse((await exchange(untrusted.listener.address.port, spoof)).reader.responses[0].body);
      expect(seen).toMatchObject({ 'x-forwarded-proto': 'http', 'x-forwarded-host': 'greeting-service' });
      const believed = JSON.parse((await exchange(trusted.listener.address.port, spoof)).reader.responses[0].body);
      expect(believed).toMatchObject({ 'x-forwarded-proto': 'https', 'x-forwarded-host': 'bank.example' });
    } finally {
      await untrusted.stop(500);
      await trusted.stop(500);
    }
  });

  it('ends each of pipelined requests with and without bodies where its body ends, in one read', async () => {
    const gateway = await bridge();
    try {
      const host = 'Host: greeting-service\r\n';
      const caller = await exchange(
        gateway.listener.address.port,
        `GET /echo-body HTTP/1.1\r\n${host}\r\n` +
          `POST /echo-body HTTP/1.1\r\n${host}content-length: 5\r\n\r\nhello` +
          `GET /echo-body HTTP/1.1\r\n${host}content-length: 0\r\n\r\n` +
          `POST /echo-body HTTP/1.1\r\n${host}transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n` +
          `DELETE /echo-body HTTP/1.1\r\n${host}\r\n`,
        5,
      );
      expect(caller.reader.responses.map((r) => r.body)).toEqual(['GET ', 'POST hello', 'GET ', 'POST abc', 'DELETE ']);
      caller.socket.destroy();
    } finally {
      await gateway.stop(500);
    }
  });

  it('refuses a request with two Host headers', async () => {
    const gateway = await bridge();
    try {
      const before = upstream.requests.length;
      const r = (await exchange(gateway.listener.address.port, 'GET /echo HTTP/1.1\r\nHost: greeting-service\r\nHost: other-service\r\n\r\n')).reader.responses[0];
      expect(r.status).toBe(400);
      expect(upstream.requests.length).toBe(before);
    } finally {
      await gateway.stop(500);
    }
  });

  it("keeps the caller's connection open when the upstream answers Connection: close", async () => {
    const gateway = await bridge();
    try {
      const caller = await exchange(gateway.listener.address.port, 'GET /close HTTP/1.1\r\nHost: greeting-service\r\n\r\n');
      expect(caller.reader.responses[0].headers.connection).toBeUndefined();
      caller.socket.write('GET /echo HTTP/1.1\r\nHost: greeting-service\r\n\r\n');
      await waitFor('the second answer on the same connection', () => caller.reader.responses.length === 2);
      expect(caller.reader.responses.map((r) => r.status)).toEqual([200, 200]);
      caller.socket.destroy();
    } finally {
      await gateway.stop(500);
    }
  });

  it('strips hop-by-hop response headers and those Connection names', async () => {
    const gateway = await bridge();
    try {
      const r = (await exchange(gateway.listener.address.port, 'GET /hop-by-hop HTTP/1.1\r\nHost: greeting-service\r\n\r\n')).reader.responses[0];
      expect(r.fields.map(([name]) => name).sort()).toEqual(['content-length', 'x-end-to-end']);
    } finally {
      await gateway.stop(500);
    }
  });

  // A head in the plain form (plain-head.ts) goes on as the upstream's bytes, spacing included; the
  // parser's path would rebuild it (X-First: a<tab>b). Connection: close still ends that upstream connection.
  // (With MESH_BRIDGE_PLAIN_HEADS=0 every head is rebuilt: the bytes this pins are not sent then.)
  (PLAIN_HEADS ? it : it.skip)("passes a plain response head on as the upstream's bytes without its Connection and Keep-Alive lines, and reuses no connection that said close", async () => {
    const gateway = await bridge();
    try {
      const caller = await rawCaller(gateway.listener.address.port);
      const ask = async (path: string, n: number) => {
        caller.socket.write(`GET ${path} HTTP/1.1\r\nHost: greeting-service\r\n\r\n`);
        await waitFor(`answer ${n}`, () => caller.reader.responses.length === n);
        return caller.reader.responses[n - 1];
      };
      const first = (await ask('/whoami', 1)).body;
      expect((await ask('/plain', 2)).body).toBe('hello');
      expect((await ask('/whoami', 3)).body).toBe(first); // kept alive
      expect((await ask('/plain-close', 4)).body).toBe('bye');
      expect((await ask('/whoami', 5)).body).not.toBe(first); // a new connection after close
      const raw = caller.raw();
      expect(raw).toContain('HTTP/1.1 200 OK\r\nX-First:  a\tb \r\nDate: x\r\ncontent-length: 5\r\n\r\nhello');
      expect(raw).toContain('HTTP/1.1 200 OK\r\nDate: x\r\ncontent-length: 3\r\n\r\nbye');
      caller.socket.destroy();
    } finally {
      await gateway.stop(500);
    }
  });

  // Plain requests (plain-head.ts) skip the parser: their lines go upstream as they came, with the
  // forwarding headers added as for any other; the others in the same read take the parser's way.
  it('forwards plain and parsed requests of one read alike, in order, and closes after a plain Connection: close', async () => {
    const gateway = await bridge();
    try {
      const caller = await rawCaller(gateway.listener.address.port);
      caller.socket.write(
        'GET /echo?a=1 HTTP/1.1\r\nHost: greeting-service\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-Spaced:  a b \r\n\r\n' +
          'POST /echo-body HTTP/1.1\r\nHost: greeting-service\r\nContent-Length: 2\r\n\r\nhi' +
          'GET /echo HTTP/1.1\r\nHost: greeting-service\r\nX-Forwarded-For: 10.1.2.3\r\n\r\n' +
          'DELETE /echo HTTP/1.1\r\nHost: greeting-service\r\n\r\n',
      );
      await waitFor('four answers', () => caller.reader.responses.length === 4);
      // Alone in its read, so it is a plain one: the connection closes after its answer.
      caller.socket.write('GET /echo HTTP/1.1\r\nHost: greeting-service\r\nConnection: close\r\n\r\n');
      await caller.closed;
      const answers = caller.reader.responses;
      expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      const first = JSON.parse(answers[0].body);
      expect(first).toMatchObject({ 'x-spaced': 'a b', 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'greeting-service', 'x-mesh-bridge-hops': '1', connection: 'keep-alive' });
      expect(first['keep-alive']).toBeUndefined();
      expect(answers[1].body).toBe('POST hi');
      expect(JSON.parse(answers[2].body)['x-forwarded-for']).toBe('10.1.2.3, 127.0.0.1');
      expect(JSON.parse(answers[3].body)).toMatchObject({ connection: 'keep-alive', 'x-mesh-bridge-hops': '1' });
      const seen = upstream.requests.slice(-5).map((r) => `${r.method} ${r.url}`);
      expect(seen).toEqual(['GET /echo?a=1', 'POST /echo-body', 'GET /echo', 'DELETE /echo', 'GET /echo']);
    } finally {
      await gateway.stop(500);
    }
  });

  it('counts the bridges a request crossed and refuses it 508 at the cap', async () => {
    const gateway = await bridge({ maxHops: 3 });
    try {
      const port = gateway.listener.address.port;
      const seen = JSON.parse((await exchange(port, 'GET /echo HTTP/1.1\r\nHost: greeting-service\r\nX-Mesh-Bridge-Hops: 2\r\n\r\n')).reader.responses[0].body);
      expect(seen['x-mesh-bridge-hops']).toBe('3');
      const looped = (await exchange(port, 'GET /echo HTTP/1.1\r\nHost: greeting-service\r\nX-Mesh-Bridge-Hops: 3\r\n\r\n')).reader.responses[0];
      expect(looped.status).toBe(508);
      expect(looped.headers['x-mesh-bridge-error']).toBe('HTTP_LOOP_DETECTED');
    } finally {
      await gateway.stop(500);
    }
  });
});
