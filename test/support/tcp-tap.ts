// A transparent TCP relay for tests: listens on 127.0.0.1:<free port>, opens one upstream socket
// to the target per accepted client, forwards bytes both ways untouched, and hands every chunk of
// each direction to callbacks while recording it. Used to read a live Dubbo conversation between
// two real peers with our FrameDecoder without either peer knowing.
import { AddressInfo, Server, Socket, createConnection, createServer } from 'node:net';

export type TapDirection = 'client' | 'server';

/** One chunk as it crossed the tap, in arrival order over the whole tap. */
export interface TapChunk {
  /** The connection's index in `tap.connections`. */
  connection: number;
  /** 'client': bytes from the client to the target; 'server': bytes from the target back. */
  direction: TapDirection;
  bytes: Buffer;
  /** Order of arrival over all connections and both directions. */
  seq: number;
}

export interface TapConnection {
  readonly index: number;
  readonly client: Socket;
  readonly upstream: Socket;
  /** Everything the client sent on this connection, concatenated. */
  clientBytes(): Buffer;
  /** Everything the target sent back on this connection, concatenated. */
  serverBytes(): Buffer;
  /** Resolves once both sockets of this connection are closed. */
  readonly closed: Promise<void>;
}

export interface TcpTapOptions {
  targetPort: number;
  /** Default 127.0.0.1. */
  targetHost?: string;
  /** Called with each chunk from a client, before it is forwarded upstream. */
  onClientBytes?: (bytes: Buffer, connection: TapConnection) => void;
  /** Called with each chunk from the target, before it is forwarded to the client. */
  onServerBytes?: (bytes: Buffer, connection: TapConnection) => void;
}

export interface TcpTap {
  readonly host: string;
  readonly port: number;
  /** `127.0.0.1:<port>`. */
  readonly address: string;
  readonly connections: readonly TapConnection[];
  /** Every chunk in arrival order. */
  readonly chunks: readonly TapChunk[];
  /**
   * Errors thrown by the callbacks (the relay keeps going; tests should assert this is empty) and
   * socket errors other than resets while closing.
   */
  readonly errors: readonly Error[];
  /** Every chunk of one direction, concatenated over all connections in arrival order. */
  bytes(direction: TapDirection): Buffer;
  /** Resolves when `count` connections have been accepted. */
  waitForConnections(count: number, timeoutMs?: number): Promise<void>;
  /** Stops listening and destroys every socket. Idempotent. */
  close(): Promise<void>;
}

/** Starts a tap relaying to `targetHost:targetPort`. */
export async function startTcpTap(options: TcpTapOptions): Promise<TcpTap> {
  const targetHost = options.targetHost ?? '127.0.0.1';
  const connections: TapConnection[] = [];
  const chunks: TapChunk[] = [];
  const errors: Error[] = [];
  const sockets = new Set<Socket>();
  const connectionWaiters: Array<() => void> = [];
  let closing = false;
  let seq = 0;

  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };

  const server: Server = createServer((client) => {
    if (closing) {
      client.destroy();
      return;
    }
    const index = connections.length;
    const clientChunks: Buffer[] = [];
    const serverChunks: Buffer[] = [];
    const upstream = createConnection({ host: targetHost, port: options.targetPort });
    track(client);
    track(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    // Hold client bytes until the upstream socket is connected; net.Socket buffers writes anyway.
    const closedClient = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const closedUpstream = new Promise<void>((resolve) => upstream.once('close', () => resolve()));
    const connection: TapConnection = {
      index,
      client,
      upstream,
      clientBytes: () => Buffer.concat(clientChunks),
      serverBytes: () => Buffer.concat(serverChunks),
      closed: Promise.all([closedClient, closedUpstream]).then(() => undefined),
    };
    connections.push(connection);

    const relay = (from: Socket, to: Socket, direction: TapDirection, store: Buffer[], callback?: (b: Buffer, c: TapConnection) => void): void => {
      from.on('data', (data: Buffer) => {
        // Copy: the callback may keep views of it, and net may reuse nothing, but be safe.
        const bytes = Buffer.from(data);
        store.push(bytes);
        chunks.push({ connection: index, direction, bytes, seq: seq++ });
        if (callback) {
          try {
            callback(bytes, connection);
          } catch (err) {
            errors.push(err instanceof Error ? err : new Error(String(err)));
          }
        }
        if (!to.destroyed) to.write(data);
      });
      from.on('end', () => {
        if (!to.destroyed) to.end();
      });
      from.on('error', (err: NodeJS.ErrnoException) => {
        if (!closing && err.code !== 'ECONNRESET' && err.code !== 'EPIPE') errors.push(err);
        to.destroy();
      });
      from.on('close', () => to.destroy());
    };
    relay(client, upstream, 'client', clientChunks, options.onClientBytes);
    relay(upstream, client, 'server', serverChunks, options.onServerBytes);

    for (const wake of connectionWaiters.splice(0)) wake();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  let closePromise: Promise<void> | null = null;
  return {
    host: '127.0.0.1',
    port,
    address: `127.0.0.1:${port}`,
    connections,
    chunks,
    errors,
    bytes(direction) {
      return Buffer.concat(chunks.filter((c) => c.direction === direction).map((c) => c.bytes));
    },
    async waitForConnections(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (connections.length < count) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`tcp tap: expected ${count} connection(s) within ${timeoutMs} ms, got ${connections.length}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          connectionWaiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    close() {
      if (closePromise === null) {
        closing = true;
        closePromise = new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const socket of sockets) socket.destroy();
        }).then(async () => {
          await Promise.all(connections.map((c) => c.closed));
        });
      }
      return closePromise;
    },
  };
}
