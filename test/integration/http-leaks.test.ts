// One caller must never read or steer another's data: an upgrade the upstream refused must not leave
// the caller piped into a pooled connection, and bytes an upstream sends past a response's end must
// not reach the caller as the answer to its next request.
import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import { gatewayTo, okResponse, rawCaller, rawUpstream } from '../support/http-raw';
import { waitFor } from '../support/wait';


describe('HTTP listener: no caller reads or steers another caller data', () => {
  it('never pipes an upgrade caller into an upstream that answered 200, nor pools that connection', async () => {
    // A plain echo server that knows nothing of upgrades, as most app servers are.
    const seen: Array<{ method: string; url: string; authorization?: string; body: string }> = [];
    const upstream: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body });
        res.end(`you sent ${req.method} ${req.url} ${body}`);
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const gateway = await gatewayTo([(upstream.address() as { port: number }).port], {}, undefined, 5000);
    const port = gateway.listener.address.port;
    try {
      const attacker = await rawCaller(port, true);
      attacker.socket.write('GET /chat HTTP/1.1\r\nHost: greeting-service\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      await waitFor('the answer to the upgrade request', () => attacker.reader.responses.length >= 1);
      expect(attacker.reader.responses[0].status).toBe(200);
      // The upgrade was refused; now the start of a request whose body is whatever comes next on
      // the upstream connection the upgrade used.
      attacker.socket.write('POST /steal HTTP/1.1\r\nHost: greeting-service\r\nContent-Length: 300\r\n\r\n');
      // The victim, on its own connection, after the attacker's upgrade was refused.
      const victim = await rawCaller(port);
      victim.socket.write('GET /account HTTP/1.1\r\nHost: greeting-service\r\nAuthorization: Bearer victim-secret\r\n\r\n');
      await waitFor('the victim answer', () => victim.reader.responses.length >= 1);
      expect(victim.reader.responses[0].status).toBe(200);
      expect(victim.reader.responses[0].body).toBe('you sent GET /account ');
      // The attacker may keep writing: none of it is a request upstream, and it never sees the secret.
      attacker.socket.write('x'.repeat(300));
      victim.socket.write('GET /again HTTP/1.1\r\nHost: greeting-service\r\nAuthorization: Bearer victim-secret\r\n\r\n');
      await waitFor('the victim second answer', () => victim.reader.responses.length >= 2);
      expect(victim.reader.responses[1].body).toBe('you sent GET /again ');
      expect(seen.map((r) => r.url)).toEqual(['/chat', '/account', '/again']);
      expect(seen.filter((r) => r.body.includes('victim-secret'))).toEqual([]);
      expect(seen[1].authorization).toBe('Bearer victim-secret');
      expect(attacker.raw()).not.toContain('victim-secret');
      victim.socket.destroy();
      attacker.socket.destroy();
    } finally {
      await gateway.stop(500);
      upstream.closeAllConnections();
      await new Promise((r) => upstream.close(r));
    }
  });

  it('never forwards bytes an upstream sends past the end of its response', async () => {
    const upstream = await rawUpstream((request) =>
      request.url === '/inject'
        ? // The declared body, then a whole second response nobody asked for.
          okResponse('hello') + 'HTTP/1.1 302 Found\r\nLocation: http://evil.example/\r\nContent-Length: 0\r\n\r\n'
        : okResponse(`real ${request.url}`),
    );
    const gateway = await gatewayTo([upstream.port], {}, undefined, 5000);
    try {
      const caller = await rawCaller(gateway.listener.address.port);
      caller.socket.write('GET /inject HTTP/1.1\r\nHost: greeting-service\r\n\r\nGET /second HTTP/1.1\r\nHost: greeting-service\r\n\r\n');
      await waitFor('two answers', () => caller.reader.responses.length >= 2);
      expect(caller.reader.responses.map((r) => [r.status, r.body])).toEqual([
        [200, 'hello'],
        [200, 'real /second'],
      ]);
      // The connection that misbehaved is not reused: a third request is answered by a fresh one.
      caller.socket.write('GET /third HTTP/1.1\r\nHost: greeting-service\r\n\r\n');
      await waitFor('the third answer', () => caller.reader.responses.length >= 3);
      expect(caller.reader.responses[2].body).toBe('real /third');
      expect(caller.raw()).not.toContain('evil.example');
      caller.socket.destroy();
    } finally {
      await gateway.stop(500);
      await upstream.close();
    }
  });
  it('never forwards, nor leaves in its parser, a response that began after a chunked one ended', async () => {
    const upstream = await rawUpstream((request) =>
      request.url === '/inject-chunked'
        ? // A chunked body, then the start of a second response: its head is not finished.
          'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nHTTP/1.1 302 Found\r\nLocation: http://evil.example/\r\n'
        : okResponse(`real ${request.url}`),
    );
    const gateway = await gatewayTo([upstream.port], {}, undefined, 5000);
    try {
      const caller = await rawCaller(gateway.listener.address.port);
      caller.socket.write('GET /inject-chunked HTTP/1.1\r\nHost: greeting-service\r\n\r\n');
      await waitFor('the first answer', () => caller.reader.responses.length >= 1);
      // Sent after the first answer, so it would go on the same (pooled) upstream connection.
      caller.socket.write('GET /second HTTP/1.1\r\nHost: greeting-service\r\n\r\n');
      await waitFor('two answers', () => caller.reader.responses.length >= 2);
      expect(caller.reader.responses.map((r) => [r.status, r.body])).toEqual([
        [200, 'hello'],
        [200, 'real /second'],
      ]);
      expect(caller.raw()).not.toContain('evil.example');
      caller.socket.destroy();
    } finally {
      await gateway.stop(500);
      await upstream.close();
    }
  });
});
