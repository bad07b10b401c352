// The HTTP upstream: node:http answering every request with a tiny body.
//
// Usage: node --import tsx bench/support/http-upstream.ts  -> prints "READY <port>"
import { createServer } from 'node:http';
import { announce, exitOnSignal } from './child-protocol';

const body = Buffer.from('hello from the bench upstream\n');
const server = createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => announce(server));
exitOnSignal();
