// What the Dubbo and HTTP listeners share at their edges: listening on a TCP server, reading its
// address, waiting for in-flight work with a deadline, and closing caller sockets so their last
// bytes drain before anything is destroyed.
import type { Server as HttpServer } from 'node:http';
import { Server, Socket, createServer } from 'node:net';
import { MeshBridgeError } from '../errors';

const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'the port is already in use',
  EACCES: 'permission denied (a port below 1024 needs privileges)',
  EADDRNOTAVAIL: 'the address is not one of this machine',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name could not be resolved (DNS did not answer)',
  EAI_NONAME: 'the host name does not resolve',
};

/** A listen failure as one clear error: which listener, which address, why. */
export function listenError(err: unknown, what: string, host: string, port: number): MeshBridgeError {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const why = LISTEN_ERRORS[code] ?? (err as Error).message;
  return new MeshBridgeError('LISTEN_FAILED', `cannot listen on ${host}:${port} for the ${what}: ${why}${code ? ` (${code})` : ''}`, { value: `${host}:${port}`, where: what, cause: err });
}

/** Listens, rejecting with LISTEN_FAILED (never a raw Node error) when the address cannot be had. */
export async function listenServer(server: Server | HttpServer, host: string, port: number, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const fail = (err: unknown): void => reject(listenError(err, what, host, port));
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
}

/** A TCP server (Nagle off) listening on host:port, each accepted socket handed to `onSocket`. */
export async function listenOn(host: string, port: number, onSocket: (socket: Socket) => void, what = 'listener'): Promise<Server> {
  const server = createServer({ noDelay: true }, onSocket);
  await listenServer(server, host, port, what);
  return server;
}

/** Stops accepting; resolves once every connection the server had is closed. */
export function stopAccepting(server: Server | null): Promise<void> {
  return server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
}

/** The address a server listens on; throws naming the listener when it does not. */
export function listeningAddress(server: Server | null, what: string): { host: string; port: number } {
  const address = server?.address();
  if (!address || typeof address === 'string') throw new Error(`the ${what} listener is not listening`);
  return { host: address.address, port: address.port };
}

/** Polls until `busy()` is false or `deadlineMs` has passed. */
export async function waitWhileBusy(busy: () => boolean, deadlineMs: number): Promise<void> {
  const until = performance.now() + deadlineMs;
  while (busy() && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
}

/** end()s every socket so what was written drains; destroys those not closed after `graceMs`. */
export async function closeSockets(sockets: Iterable<{ socket: Socket; closed: boolean }>, graceMs = 500): Promise<void> {
  const all = [...sockets];
  const closing = all.map(
    (d) =>
      new Promise<void>((resolve) => {
        if (d.closed) return resolve();
        d.socket.once('close', () => resolve());
        d.socket.end();
      }),
  );
  await Promise.race([Promise.all(closing), new Promise((r) => setTimeout(r, graceMs))]);
  for (const d of all) d.socket.destroy();
}
