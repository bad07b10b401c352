// Raw-socket HTTP helpers for tests that need to send or answer bytes no well-behaved client or
// server would: pipelined heads, smuggled bodies, injected responses, callers that never read.
import type { Server as HttpServer } from 'node:http';
import { Server, Socket, connect, createServer } from 'node:net';
import { Catalog, Instance, instanceDefaults } from '../../src/catalog';
import { HttpListener, HttpListenerOptions } from '../../src/proxy/http/http-listener';
import { HTTPParser, HttpParser, METHODS } from '../../src/proxy/http/http-parser';
import { Registry } from '../../src/telemetry/metrics';
import { Gateway, httpGateway } from './gateway';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  /** Every header line as received, names lower-cased, in order. */
  fields: Array<[string, string]>;
  body: string;
}

/** Parses a stream of HTTP responses as a client sees them (every request assumed not HEAD). */
export class ResponseReader {
  readonly responses: RawResponse[] = [];
  private readonly parser: HttpParser;
  private current: RawResponse | null = null;
  private chunks: Buffer[] = [];
  error: string | undefined;

  constructor() {
    this.parser = new HTTPParser();
    this.parser.initialize(HTTPParser.RESPONSE, {});
    this.parser[HTTPParser.kOnHeadersComplete] = (_ma: number, _mi: number, headers: string[], _m: unknown, _u: unknown, status: number) => {
      const fields: Array<[string, string]> = [];
      const map: Record<string, string> = {};
      for (let i = 0; i < headers.length; i += 2) {
        const name = headers[i].toLowerCase();
        fields.push([name, headers[i + 1]]);
        map[name] = map[name] === undefined ? headers[i + 1] : `${map[name]}, ${headers[i + 1]}`;
      }
      this.current = { status, headers: map, fields, body: '' };
      this.chunks = [];
      return 0;
    };
    this.parser[HTTPParser.kOnBody] = (b: Buffer) => void this.chunks.push(Buffer.from(b));
    this.parser[HTTPParser.kOnMessageComplete] = () => {
      if (this.current === null) return;
      this.current.body = Buffer.concat(this.chunks).toString('latin1');
      this.responses.push(this.current);
      this.current = null;
    };
  }

  feed(chunk: Buffer): void {
    const result = this.parser.execute(chunk);
    if (typeof result !== 'number') this.error = String((result as Error).message);
  }

  /** The end of the stream (a close-delimited body completes here). */
  end(): void {
    this.parser.finish();
  }
}

/** A raw caller connection with its responses parsed as they arrive. */
export interface RawCaller {
  socket: Socket;
  reader: ResponseReader;
  raw: () => string;
  closed: Promise<void>;
}

/** `allowHalfOpen`: keep writing after the bridge's FIN, as a hostile caller would. */
export async function rawCaller(port: number, allowHalfOpen = false): Promise<RawCaller> {
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen });
  const reader = new ResponseReader();
  const seen: Buffer[] = [];
  socket.on('data', (c: Buffer) => {
    seen.push(c);
    reader.feed(c);
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      reader.end();
      resolve();
    }),
  );
  await new Promise((r) => socket.once('connect', r));
  return { socket, reader, raw: () => Buffer.concat(seen).toString('latin1'), closed };
}

/** One request as a raw upstream read it. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * An HTTP/1.1 upstream on a plain TCP server, parsing requests with llhttp and answering each with
 * whatever bytes `answer` returns (written raw, so they may be wrong on purpose).
 */
export async function rawUpstream(
  answer: (request: SeenRequest, socket: Socket) => string | Buffer | null,
): Promise<{ server: Server; port: number; requests: SeenRequest[]; sockets: Set<Socket>; close: () => Promise<void> }> {
  const requests: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.REQUEST, {});
    let request: SeenRequest | null = null;
    let body: Buffer[] = [];
    parser[HTTPParser.kOnHeadersComplete] = (_ma: number, _mi: number, headers: string[], method: number, url: string) => {
      const map: Record<string, string> = {};
      for (let i = 0; i < headers.length; i += 2) map[headers[i].toLowerCase()] = headers[i + 1];
      request = { method: METHODS[method], url, headers: map, body: '' };
      body = [];
      return 0;
    };
    parser[HTTPParser.kOnBody] = (b: Buffer) => void body.push(Buffer.from(b));
    parser[HTTPParser.kOnMessageComplete] = () => {
      if (request === null) return;
      request.body = Buffer.concat(body).toString('latin1');
      requests.push(request);
      const bytes = answer(request, socket);
      if (bytes !== null && !socket.destroyed) socket.write(bytes);
      request = null;
    };
    socket.on('data', (chunk) => {
      const result = parser.execute(chunk);
      if (typeof result !== 'number') socket.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    server,
    port,
    requests,
    sockets,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** A complete response with a Content-Length body. */
export function okResponse(body: string, extra = ''): string {
  return `HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

/** The app name the HTTP tests route to (Host: greeting-service). */
export const TEST_APP = 'GREETING-SERVICE';

export function httpInstance(port: number, stack: 'legacy' | 'mesh' = 'legacy'): Instance {
  return { ...instanceDefaults(), id: `127.0.0.1:${port}`, service: TEST_APP, protocol: 'http', host: '127.0.0.1', port, stack, origin: { source: 'static' } };
}

/** A started HTTP gateway whose catalog holds TEST_APP at these ports. */
export async function gatewayTo(
  ports: number[],
  listener: Partial<HttpListenerOptions> = {},
  metrics = new Registry(),
  timeoutMs = 10_000,
): Promise<Gateway<HttpListener>> {
  const catalog = new Catalog();
  catalog.replaceSource('static', TEST_APP, ports.map((port) => httpInstance(port)));
  const gateway = httpGateway(catalog, { metrics, policy: () => ({ timeoutMs }), listener });
  await gateway.listener.start();
  return gateway;
}

export async function listenHttp(server: HttpServer): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

export async function closeHttp(server: HttpServer): Promise<void> {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}
