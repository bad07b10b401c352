// One keep-alive connection from the bridge to an HTTP upstream. It carries one exchange at a time
// (HTTP/1.1 without pipelining, as every pool does). Node's parser reads each response: its head's
// fields and its body (de-chunked) go to the exchange, which rebuilds the head for its caller; no
// byte past the response's end is ever passed on, and a connection that sends any is not reused.
import { Buffer } from 'node:buffer';
import { Socket, connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { HTTPParser, HttpParseError, HttpParser, MAX_HEADER_SIZE } from './http-parser';
import { READ_BUFFER, readView } from './read-buffer';
import { closeGaps, newPlainHead, scanPlainHead } from './plain-head';
import { DirectWriter } from '../direct-write';

/** How an upstream connection failed an exchange (failure-class.ts); bridge_refusal: this process ran out of descriptors. */
export type UpstreamFailure = 'connect_failure' | 'connect_timeout' | 'reset' | 'bridge_refusal';

/**
 * A clock read per socket event without a system call: the listener's sweep sets it (performance.now()
 * every 50 ms), which is precise enough for timeouts counted in hundreds of milliseconds or more.
 */
export const coarseClock = { now: performance.now() };

/** What the upstream tells the exchange it carries. */
export interface UpstreamSink {
  /** True when a final response's head may come through onPlainResponse (plain-head.ts) instead of onResponseHead. */
  readonly takesPlainHead: boolean;
  /**
   * A plain final response (plain-head.ts): `READ_BUFFER[from, to)` is the upstream's head with
   * its Connection and Keep-Alive lines cut out, then as much of the body as this read brought; the
   * rest of the body follows through onResponseBody. Valid only during the call, as below.
   */
  onPlainResponse(status: number, from: number, to: number): void;
  /** A response head arrived (1xx interim ones and 101 included), its fields as `[name, value, ...]`. */
  onResponseHead(statusCode: number, statusMessage: string, fields: string[]): void;
  /**
   * Body bytes of the final response, de-chunked: never a byte past the response's end. The bytes
   * may be a view of the shared read buffer, valid only during the call: a sink copies what it keeps.
   */
  onResponseBody(bytes: Buffer): void;
  /** After a 101: raw bytes of the upgraded protocol (valid only during the call, as above). */
  onResponseBytes(bytes: Buffer): void;
  /** The final response is complete. */
  onResponseEnd(): void;
  /**
   * The connection failed before the response completed. `staleReuse`: it was a kept-alive
   * connection that broke before any byte of this response (the upstream closed it as we reused it).
   */
  onUpstreamError(message: string, outcome: UpstreamFailure, staleReuse: boolean): void;
  /** True for a response that has no body whatever its headers say (a HEAD request's). */
  readonly skipResponseBody: boolean;
  /** After onResponseHead of a final response: its Content-Length when that alone frames the body, else -1. */
  readonly contentLength: number;
  /** The upstream accepted a protocol upgrade (101): from now on bytes pass through unparsed. */
  onTunnelOpen(): void;
  /** Around one read's worth of callbacks, so their writes to the caller go out as one. */
  cork(): void;
  uncork(): void;
}

export class HttpUpstream {
  readonly socket: Socket;
  /** Writes requests to the upstream (direct-write.ts). */
  private readonly writer: DirectWriter;
  private readonly parser: HttpParser;
  sink: UpstreamSink | null = null;
  connected = false;
  closed = false;
  /** False once the upstream said it will close, or a response ended with the connection. */
  reusable = true;
  /** The upstream sent bytes past the end of its response: the connection is never reused. */
  outOfStep = false;
  /** When it went back to the pool (coarse clock). */
  idleSince = 0;
  /** When the upstream last sent bytes, or was read again after a pause (coarse clock). */
  lastReadAt = coarseClock.now;
  /** Exchanges completed on this connection: more than none makes it a reused one. */
  private served = 0;
  /** Bytes of the current exchange's response arrived. */
  private answered = false;
  private sawHead = false;
  private complete = false;
  private finalStatus = false;
  /** After a 101 the connection carries another protocol: bytes are passed on, never parsed. */
  private tunnel = false;
  /** Header fields delivered in pieces when a head spans several reads. */
  private partialFields: string[] = [];
  /** Reading is paused while the caller cannot take more (flow control). */
  private paused = false;
  /** A response head is expected or being read (not yet complete). */
  private inHead = true;
  /** The last (up to 3) bytes of a head read so far, for a CRLFCRLF split across reads. */
  private headTail = '';
  /** The parser is being fed exactly up to the end of a head. */
  private cutAtHeadEnd = false;
  /** The parser holds the first part of the head being read: the rest is its to read. */
  private headBegun = false;
  /**
   * Body bytes of a Content-Length response still to come. Such a body is framed here, not by the
   * parser: its bytes go on as slices of what was read, without the copy the parser's body callback
   * makes, and the parser is told the message has no body.
   */
  private bodyRemaining = 0;
  /** Told once when the socket's write buffer drained after a write that filled it. */
  drainWaiter: { upstreamDrained(): void } | null = null;

  constructor(
    readonly address: string,
    host: string,
    port: number,
    connectTimeoutMs: number,
    private readonly onClosed: (upstream: HttpUpstream) => void,
  ) {
    // Read into the buffer every HTTP socket shares (read-buffer.ts): a sink copies what it keeps.
    this.socket = connect({ host, port, noDelay: true, onread: { buffer: READ_BUFFER, callback: this.onRead } });
    this.writer = new DirectWriter(this.socket);
    // Until connected, inactivity is a connect that does not complete (SYNs dropped, backlog full).
    this.socket.setTimeout(connectTimeoutMs);
    this.socket.once('timeout', () => {
      // Judged after this turn's poll phase: timers run before pending events, and a handshake that
      // completed while the event loop was held up (a long GC) is only seen there.
      setImmediate(() => {
        if (this.connected || this.closed) return;
        this.fail(`${address}: no connection within ${connectTimeoutMs} ms`, 'connect_timeout');
        this.destroy();
      });
    });
    this.parser = new HTTPParser();
    this.parser.initialize(HTTPParser.RESPONSE, {}, MAX_HEADER_SIZE);
    this.parser[HTTPParser.kOnMessageBegin] = this.onMessageBegin;
    this.parser[HTTPParser.kOnHeaders] = this.onHeaders;
    this.parser[HTTPParser.kOnHeadersComplete] = this.onHeadersComplete;
    this.parser[HTTPParser.kOnBody] = this.onBody;
    this.parser[HTTPParser.kOnMessageComplete] = this.onMessageComplete;
    this.socket.on('connect', () => {
      this.connected = true;
      this.socket.setTimeout(0);
    });
    this.socket.on('end', () => this.onEnd());
    this.socket.on('drain', () => {
      const waiter = this.drainWaiter;
      this.drainWaiter = null;
      waiter?.upstreamDrained();
    });
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      // Out of descriptors is this process's trouble, not the upstream's.
      const local = err.code === 'EMFILE' || err.code === 'ENFILE';
      this.fail(`${address}: ${err.message}`, local ? 'bridge_refusal' : this.connected ? 'reset' : 'connect_failure');
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.fail(`${address} closed the connection before the response ended`, this.connected ? 'reset' : 'connect_failure');
      this.parser.close();
      this.onClosed(this);
    });
  }

  /** Starts an exchange on this connection. */
  attach(sink: UpstreamSink): void {
    this.sink = sink;
    if (this.partialFields.length > 0) this.partialFields = [];
    this.sawHead = false;
    this.complete = false;
    this.finalStatus = false;
    this.answered = false;
    this.inHead = true;
    this.headBegun = false;
    this.headTail = '';
    this.bodyRemaining = 0;
    this.drainWaiter = null;
    this.lastReadAt = coarseClock.now;
    this.resumeReading();
  }

  /** The exchange went away (its caller did): nothing more is reported to it. */
  detach(): void {
    this.sink = null;
  }

  /** False when the socket's write buffer is full: the writer should wait for `drainWaiter`. */
  write(data: string | Buffer): boolean {
    return this.writer.write(data);
  }

  /** Stops reading the upstream (its caller is not reading); bytes wait in the kernel. */
  pauseReading(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  resumeReading(): void {
    if (!this.paused) return;
    this.paused = false;
    this.lastReadAt = coarseClock.now;
    this.socket.resume();
  }

  /** Not read because its caller is not reading: a silence that is not the upstream's. */
  get isPaused(): boolean {
    return this.paused;
  }

  destroy(): void {
    this.reusable = false;
    this.socket.destroy();
  }

  /** A message starts: after the response completed, it is one nobody asked for. */
  private readonly onMessageBegin = (): void => {
    if (this.complete || this.sink === null) this.outOfStep = true;
    if (this.partialFields.length > 0) this.partialFields = [];
  };

  private readonly onHeaders = (fields: string[]): void => {
    // Trailers of a chunked body arrive here too, after the head: they are not passed on.
    if (!this.sawHead && !this.outOfStep) for (const field of fields) this.partialFields.push(field);
  };

  private readonly onHeadersComplete = (
    _major: number,
    _minor: number,
    headers: string[] | undefined,
    _method: number | undefined,
    _url: string | undefined,
    statusCode: number | undefined,
    statusMessage: string | undefined,
    _upgrade: boolean,
    shouldKeepAlive: boolean,
  ): number => {
    const sink = this.sink;
    if (this.outOfStep || sink === null) return 1;
    const status = statusCode ?? 0;
    if (status === 101) {
      this.tunnel = true;
      this.reusable = false;
    }
    this.finalStatus = status >= 200 || status === 101;
    if (this.finalStatus) this.sawHead = true;
    if (this.finalStatus && !shouldKeepAlive) this.reusable = false;
    this.inHead = false;
    sink.onResponseHead(status, statusMessage ?? '', headers ?? this.partialFields);
    if (this.partialFields.length > 0) this.partialFields = [];
    if (this.finalStatus && sink.skipResponseBody) return 1; // no body follows (204 and 304 llhttp knows)
    if (this.cutAtHeadEnd && this.finalStatus && status !== 101 && status !== 204 && status !== 304 && sink.contentLength > 0) {
      this.bodyRemaining = sink.contentLength;
      // The body is framed here: the parser's "complete" that follows (no body, for it) is not ours.
      this.parser[HTTPParser.kOnMessageComplete] = null;
      return 1;
    }
    return 0;
  };

  private readonly onBody = (bytes: Buffer): void => {
    if (!this.outOfStep && !this.complete) this.sink?.onResponseBody(bytes);
  };

  private readonly onMessageComplete = (): void => {
    if (!this.finalStatus) {
      this.inHead = true; // an interim (1xx) response: the next head follows
      this.headTail = '';
    } else if (this.bodyRemaining === 0) this.complete = true;
  };

  /**
   * Where the head being read ends in `bytes[from, to)` (just past its CRLFCRLF, llhttp accepts no
   * other ending), or -1 when it does not end there. Never a later CRLFCRLF: one split across reads
   * is found through the bytes kept from the previous read.
   */
  private headEnd(bytes: Buffer, from: number, to: number): number {
    const tail = this.headTail;
    if (tail !== '') {
      const probe = tail + bytes.toString('latin1', from, Math.min(from + 3, to));
      const at = probe.indexOf('\r\n\r\n');
      if (at >= 0) {
        this.headTail = '';
        return from + at + 4 - tail.length;
      }
    }
    // Searched without a view of [from, to): past `to` lie stale bytes, and a CRLFCRLF found there
    // is none of this read's (the first one at or after `from` decides).
    const at = bytes.indexOf(CRLFCRLF, from);
    if (at >= 0 && at + 4 <= to) {
      this.headTail = '';
      return at + 4;
    }
    this.headTail = (tail + bytes.toString('latin1', Math.max(from, to - 3), to)).slice(-3);
    return -1;
  }

  /** True: reading goes on unless onData paused it (returning false would stop it behind pause()'s back). */
  private readonly onRead = (length: number): boolean => {
    this.onData(length);
    return true;
  };

  /**
   * `READ_BUFFER[0, length)` were read (what is passed on is a view of it, made per piece: a head
   * for the parser, a body slice for the sink, not one view per step).
   */
  private onData(length: number): void {
    const bytes = READ_BUFFER;
    this.lastReadAt = coarseClock.now;
    this.answered = true;
    const sink = this.sink;
    if (this.tunnel && sink !== null) {
      sink.onResponseBytes(bytes.subarray(0, length));
      return;
    }
    if (sink === null) {
      // Bytes with no request outstanding: the connection is out of step; drop it.
      this.outOfStep = true;
      this.destroy();
      return;
    }
    sink.cork();
    let at = 0;
    let result: number | Error = 0;
    while (at < length) {
      if (this.complete) {
        this.outOfStep = true; // bytes past the response's end
        break;
      }
      if (this.bodyRemaining > 0) {
        const take = Math.min(this.bodyRemaining, length - at);
        sink.onResponseBody(bytes.subarray(at, at + take));
        this.bodyRemaining -= take;
        if (this.bodyRemaining === 0) this.complete = true;
        at += take;
        continue;
      }
      // A plain head, whole in this read, goes on as the upstream's bytes (plain-head.ts reads the
      // shared read buffer).
      if (this.inHead && !this.headBegun && sink.takesPlainHead) {
        const headEnd = scanPlainHead(at, length, PLAIN);
        if (headEnd > 0) {
          const headStart = closeGaps(at, PLAIN);
          this.inHead = false;
          this.sawHead = true;
          this.finalStatus = true;
          if (PLAIN.close) this.reusable = false;
          const take = Math.min(PLAIN.contentLength, length - headEnd);
          this.bodyRemaining = PLAIN.contentLength - take;
          if (this.bodyRemaining === 0) this.complete = true;
          at = headEnd + take;
          sink.onPlainResponse(PLAIN.status, headStart, at);
          continue;
        }
      }
      // The parser reads a head up to its end exactly, so a Content-Length body can be framed here.
      const cut = this.inHead ? this.headEnd(bytes, at, length) : -1;
      const end = cut < 0 ? length : cut;
      this.cutAtHeadEnd = cut >= 0;
      const parser = this.parser;
      // A message that begins in a slice ending at a head's end is the response being read (bytes
      // past a response's end never get this far: see above): its begin callback is not needed.
      if (this.cutAtHeadEnd) parser[HTTPParser.kOnMessageBegin] = null;
      // A plain Uint8Array: the parser reads any view, and a Buffer's subarray costs a species lookup.
      result = parser.execute(readView(at, end));
      if (this.cutAtHeadEnd) {
        parser[HTTPParser.kOnMessageBegin] = this.onMessageBegin;
        parser[HTTPParser.kOnMessageComplete] = this.onMessageComplete;
        this.cutAtHeadEnd = false;
      }
      this.headBegun = cut < 0 && this.inHead;
      if (typeof result !== 'number') break;
      if (this.tunnel) {
        // With a 101 the bytes after the head are already the new protocol's.
        if (at + result < length) sink.onResponseBytes(bytes.subarray(at + result, length));
        break;
      }
      at = end;
    }
    if (this.tunnel) sink.onTunnelOpen();
    else if (this.complete) {
      // Whatever followed the response's end (another response, garbage) is dropped with the connection.
      if (typeof result !== 'number') this.outOfStep = true;
      if (this.outOfStep) this.reusable = false;
      this.finish(sink);
    } else if (typeof result !== 'number') {
      // Not `instanceof Error`: the parser's errors come from Node's realm, not always the caller's (jest).
      const err = result as HttpParseError;
      this.sink = null;
      this.destroy();
      sink.onUpstreamError(`${this.address} sent a malformed response (${err.code ?? err.message})`, 'reset', false);
    }
    sink.uncork();
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
    this.served++;
    sink.onResponseEnd();
  }

  private fail(message: string, outcome: UpstreamFailure): void {
    const sink = this.sink;
    if (sink === null) return;
    this.sink = null;
    this.reusable = false;
    sink.onUpstreamError(message, outcome, outcome === 'reset' && this.served > 0 && !this.answered);
  }
}

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
/** What the last plain head said (one read at a time on this thread: one object serves them all). */
const PLAIN = newPlainHead();
