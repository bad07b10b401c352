// A Dubbo provider made of our own codec, for tests that need exact control of what a provider
// sends (exception results, status 100, oversized answers, READONLY on a graceful close) or
// does (answer late, never read). Listens on 127.0.0.1; close() stops everything it started.
import { Server, Socket, createServer } from 'node:net';
import { Frame, FrameDecoder, encodeHeartbeat, readRoutingView } from '../../src/dubbo-codec';
import { encodeReadonlyEvent } from '../../src/proxy/dubbo/readonly-event';

/**
 * What to answer a request with: the frame bytes, after a delay; null never answers. With
 * `holdUpMs`, the delayed answer is written at the end of a turn and then this whole process's
 * event loop is held up that long (as by a long garbage collection): the next things it does are
 * its timers, then its reads.
 */
export type Answer = { bytes: Buffer; delayMs?: number; holdUpMs?: number } | null;

/** Blocks this process's event loop for `ms` (a long garbage collection, a slow synchronous task). */
export function holdUpEventLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

export interface CodecProviderOptions {
  /** Called per two-way request with its method and id. */
  answer(method: string, requestId: bigint, frame: Frame): Answer;
  /** Never read from accepted sockets (a provider that is stuck). */
  neverRead?: boolean;
  /** Called per heartbeat received (counted from 1) instead of answering it at once. */
  onHeartbeat?(count: number, answer: () => void): void;
}

export interface CodecProvider {
  readonly port: number;
  readonly address: string;
  /** Consumer connections open now, and ever accepted. */
  openConnections(): number;
  accepted(): number;
  heartbeats(): number;
  requests(): number;
  /** Closes every accepted connection, keeping the listener (a provider's connections reset). */
  dropConnections(): void;
  /**
   * Dubbo's graceful close: READONLY to every connection, keep serving until nothing is in flight
   * and no request came for 200 ms (or `graceMs` passed), then close whatever is left.
   */
  stopGracefully(graceMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startCodecProvider(options: CodecProviderOptions): Promise<CodecProvider> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let heartbeats = 0;
  let requests = 0;
  let accepted = 0;
  let inFlight = 0;
  let lastRequestAt = 0;
  const server: Server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (options.neverRead) {
      socket.pause();
      return;
    }
    const decoder = new FrameDecoder({ maxBodyLength: 64 * 1024 * 1024 });
    socket.on('data', (chunk) =>
      decoder.push(chunk, (frame) => {
        if (!frame.header.isRequest) return;
        if (frame.header.event) {
          if (frame.header.twoWay) {
            heartbeats++;
            const answer = () => void (socket.destroyed || socket.write(encodeHeartbeat(frame.header.requestId, false)));
            if (options.onHeartbeat) options.onHeartbeat(heartbeats, answer);
            else answer();
          }
          return;
        }
        requests++;
        lastRequestAt = Date.now();
        if (!frame.header.twoWay) return;
        const answer = options.answer(readRoutingView(frame.body).method, frame.header.requestId, frame);
        if (answer === null) return;
        if (!answer.delayMs) {
          socket.write(answer.bytes);
          return;
        }
        inFlight++;
        const timer = setTimeout(() => {
          timers.delete(timer);
          inFlight--;
          if (answer.holdUpMs === undefined) {
            if (!socket.destroyed) socket.write(answer.bytes);
            return;
          }
          const holdUpMs = answer.holdUpMs;
          setImmediate(() => {
            if (!socket.destroyed) socket.write(answer.bytes);
            holdUpEventLoop(holdUpMs);
          });
        }, answer.delayMs);
        timers.add(timer);
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const close = async (): Promise<void> => {
    for (const timer of timers) clearTimeout(timer);
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    port,
    address: `127.0.0.1:${port}`,
    openConnections: () => sockets.size,
    accepted: () => accepted,
    heartbeats: () => heartbeats,
    requests: () => requests,
    dropConnections() {
      for (const socket of sockets) socket.destroy();
    },
    async stopGracefully(graceMs = 3000) {
      server.close();
      let id = 1n;
      for (const socket of sockets) socket.write(encodeReadonlyEvent(id++));
      const until = Date.now() + graceMs;
      while ((inFlight > 0 || Date.now() - lastRequestAt < 200) && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      await close();
    },
    close,
  };
}
