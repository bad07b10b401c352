// The baseline HTTP proxy: the http-proxy package over a keep-alive http.Agent.
//
// Usage: node --import tsx bench/support/http-proxy.ts --upstream=<port>  -> prints "READY <port>"
import { Agent, createServer } from 'node:http';
import httpProxy from 'http-proxy';
import { announce, arg, exitOnSignal } from './child-protocol';

const upstreamPort = Number(arg('upstream'));
const agent = new Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64 });
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${upstreamPort}`, agent, xfwd: true });
proxy.on('error', (_err, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502);
  res.end();
});
const server = createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => announce(server));
exitOnSignal();
