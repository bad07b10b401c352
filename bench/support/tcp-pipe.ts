// The baseline Dubbo proxy: a plain Node TCP pipe, one upstream connection per consumer socket.
//
// Usage: node --import tsx bench/support/tcp-pipe.ts --upstream=<port>  -> prints "READY <port>"
import { connect, createServer } from 'node:net';
import { announce, arg, exitOnSignal } from './child-protocol';

const upstreamPort = Number(arg('upstream'));

const server = createServer({ noDelay: true }, (socket) => {
  const upstream = connect({ host: '127.0.0.1', port: upstreamPort, noDelay: true });
  socket.on('error', () => upstream.destroy());
  upstream.on('error', () => socket.destroy());
  socket.pipe(upstream).pipe(socket);
});
server.listen(0, '127.0.0.1', () => announce(server));
exitOnSignal();
