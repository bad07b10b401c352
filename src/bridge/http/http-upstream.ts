// One keep-alive connection from the bridge to an HTTP upstream. It carries one exchange at a time
// (HTTP/1.1 without pipelining, as every pool does); the response's bytes are passed on as they
// arrive while Node's parser finds where the response ends, so the connection can be reused.
import { Socket, connect } from 'node:net';
import { HTTPParser, HttpParseError, HttpParser, MAX_HEADER_SIZE } from './http-parser';

/** What the upstream tells the exchange it carries. */
export interface UpstreamSink {
  /** The status line and headers arrived (`statusCode` 1xx responses included). */
  onResponseHead(statusCode: number, keepAlive: boolean): void;
  /** Raw response bytes, to pass on unchanged. */
  onResponseBytes(bytes: Buffer): void;
  /** The final response is complete. */
  onResponseEnd(): void;
  /** The connection failed before the response completed. */
  onUpstreamError(message: string, kind: 'connect' | 'reset' | 'bad-response'): void;
  /** True for a response that has no body whatever its headers say (a HEAD request's). */
  readonly skipResponseBody: boolean;
  /** The upstream accepted a protocol upgrade (101): from now on bytes pass through unparsed. */
  onTunnelOpen(): void;
}

export class HttpUpstream {
  readonly socket: Socket;
  private readonly parser: HttpParser;
  sink: UpstreamSink | null = null;
  connected = false;
  closed = false;
  /** False once the upstream said it will close, or a response ended with the connection. */
  reusable = true;
  idleSince = 0;
  private sawHead = false;
  private complete = false;
  private finalStatus = false;
  /** After a 101 the connection carries another protocol: bytes are passed on, never parsed. */
  private tunnel = false;

  constructor(
    readonly address: string,
    host: string,
    port: number,
    private readonly onClosed: (upstream: HttpUpstream) => void,
  ) {
    this.socket = connect({ host, port, noDelay: true });
    this.parser = new HTTPParser();
    this.parser.initialize(HTTPParser.RESPONSE, {}, MAX_HEADER_SIZE);
    this.parser[HTTPParser.kOnHeadersComplete] = this.onHeadersComplete;
    this.parser[HTTPParser.kOnBody] = noop;
    this.parser[HTTPParser.kOnMessageComplete] = this.onMessageComplete;
    this.socket.on('connect', () => (this.connected = true));
    this.socket.on('data', (chunk) => this.onData(chunk));
    this.socket.on('end', () => this.onEnd());
    this.socket.on('error', (err) => this.fail(`${address}: ${err.message}`, this.connected ? 'reset' : 'connect'));
    this.socket.on('close', () => {
      this.closed = true;
      this.fail(`${address} closed the connection before the response ended`, this.connected ? 'reset' : 'connect');
      this.parser.close();
      this.onClosed(this);
    });
  }

  /** Starts an exchange on this connection. */
  attach(sink: UpstreamSink): void {
    this.sink = sink;
    this.sawHead = false;
    this.complete = false;
    this.finalStatus = false;
  }

  write(data: string | Buffer): void {
    if (typeof data === 'string') this.socket.write(data, 'latin1');
    else this.socket.write(data);
  }

  destroy(): void {
    this.reusable = false;
    this.socket.destroy();
  }

  private readonly onHeadersComplete = (
    _major: number,
    _minor: number,
    _headers: string[] | undefined,
    _method: number | undefined,
    _url: string | undefined,
    statusCode: number | undefined,
    _statusMessage: string | undefined,
    _upgrade: boolean,
    shouldKeepAlive: boolean,
  ): number => {
    const status = statusCode ?? 0;
    this.sawHead = true;
    if (status === 101) {
      this.tunnel = true;
      this.reusable = false;
    }
    this.finalStatus = status >= 200 || status === 101;
    if (this.finalStatus && !shouldKeepAlive) this.reusable = false;
    this.sink?.onResponseHead(status, shouldKeepAlive);
    // 1: no body follows (HEAD responses, 204, 304 are known to llhttp already).
    return this.finalStatus && this.sink?.skipResponseBody ? 1 : 0;
  };

  private readonly onMessageComplete = (): void => {
    if (this.finalStatus) this.complete = true;
  };

  private onData(chunk: Buffer): void {
    const sink = this.sink;
    if (this.tunnel && sink !== null) {
      sink.onResponseBytes(chunk);
      return;
    }
    if (sink === null) {
      // Bytes with no request outstanding: the connection is out of step; drop it.
      this.destroy();
      return;
    }
    const result = this.parser.execute(chunk);
    // Not `instanceof Error`: the parser's errors come from Node's realm, not always the caller's (jest).
    if (typeof result !== 'number') {
      const err = result as HttpParseError;
      this.sink = null;
      this.destroy();
      sink.onUpstreamError(`${this.address} sent a malformed response (${err.code ?? err.message})`, 'bad-response');
      return;
    }
    // Passed on whole: with a 101 the bytes after the head are already the new protocol's.
    sink.onResponseBytes(chunk);
    if (this.tunnel) sink.onTunnelOpen();
    else if (this.complete) this.finish(sink);
  }

  private onEnd(): void {
    this.reusable = false;
    // A response delimited by the end of the connection completes here.
    if (this.sink !== null && this.sawHead) {
      this.parser.finish();
      if (this.complete) this.finish(this.sink);
    }
  }

  private finish(sink: UpstreamSink): void {
    this.sink = null;
    sink.onResponseEnd();
  }

  private fail(message: string, kind: 'connect' | 'reset'): void {
    const sink = this.sink;
    if (sink === null) return;
    this.sink = null;
    this.reusable = false;
    sink.onUpstreamError(message, kind);
  }
}

function noop(): void {}
