// The HTTP upstream every system of the bench talks to.
//
//   --kind=raw (default)  a plain TCP server answering each request head (the bench sends GETs with
//                         no body; pipelined ones too) with the bytes node:http would send: the
//                         same head (Date, Connection, Keep-Alive) and body. It costs a third of
//                         node:http's CPU per request, so on a 2-core machine the upstream and the
//                         load generator leave the proxies a core: what is measured is the proxy.
//   --kind=node           node:http answering every request with a tiny body (the bench's upstream
//                         until 2026-12-01; BENCH_HTTP_UPSTREAM=node).
//
// Usage: node --import tsx bench/support/http-upstream.ts [--kind=raw|node]  -> prints "READY <port>"
import { createServer } from 'node:http';
import { Server, createServer as createTcpServer } from 'node:net';
import { announce, arg, exitOnSignal } from './child-protocol';

const body = Buffer.from('hello from the bench upstream\n');

function nodeUpstream(): Server {
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  return server;
}

function rawUpstream(): Server {
  let date = new Date().toUTCString();
  let answer = Buffer.alloc(0);
  const makeAnswer = (): void => {
    answer = Buffer.concat([
      Buffer.from(
        `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nDate: ${date}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=60\r\n\r\n`,
        'latin1',
      ),
      body,
    ]);
  };
  makeAnswer();
  setInterval(() => {
    date = new Date().toUTCString();
    makeAnswer();
  }, 1000).unref();
  const END = Buffer.from('\r\n\r\n', 'latin1');
  return createTcpServer({ noDelay: true }, (socket) => {
    socket.on('error', () => undefined);
    // Bytes of a head split across reads: at most the last 3 of the previous read are kept.
    let tail = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      const bytes = tail.length > 0 ? Buffer.concat([tail, chunk]) : chunk;
      let heads = 0;
      let at = bytes.indexOf(END);
      let end = 0;
      while (at >= 0) {
        heads++;
        end = at + 4;
        at = bytes.indexOf(END, end);
      }
      tail = Buffer.from(bytes.subarray(Math.max(end, bytes.length - 3)));
      if (heads === 1) socket.write(answer);
      else if (heads > 1) socket.write(Buffer.concat(new Array<Buffer>(heads).fill(answer)));
    });
  });
}

const server = arg('kind', 'raw') === 'node' ? nodeUpstream() : rawUpstream();
server.listen(0, '127.0.0.1', () => announce(server));
exitOnSignal();
