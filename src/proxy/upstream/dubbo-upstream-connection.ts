// One pooled connection from the bridge to a Dubbo provider. Requests from many consumers share it;
// each gets an upstream request id of this connection's own, and the response is matched back by
// it. Idle connections send heartbeats; a provider's heartbeat is answered here, and its READONLY
// event (it is shutting down) stops new requests on this connection while those in flight finish.
import { Socket, connect } from 'node:net';
import { CodecError } from '../../errors';
import * as codec from '../../dubbo-codec';
import { Frame, FrameDecoder, FrameHeader, encodeHeartbeat, readRequestId } from '../../dubbo-codec';
import type { Outcome } from '../failure-class';
import { isReadonlyEvent } from '../dubbo/readonly-event';
import { ID_LIMIT, UpstreamIds } from './upstream-ids';

// Module-local copies of what runs once per call (see dubbo-listener.ts).
const { uint32At, setUint32At } = codec;

/** A request in flight on an upstream connection; the listener keeps what it needs to answer. */
export interface InFlight {
  /** Where the response goes, with the consumer's own request id restored. */
  deliver(frame: Frame): void;
  /** The request failed here (connection lost, timeout, answer too large); the owner answers or retries. */
  fail(reason: UpstreamFailure): void;
  /** Monotonic ms after which the request times out. */
  readonly deadline: number;
}

export interface UpstreamFailure {
  outcome: Exclude<Outcome, 'ok' | 'caller_gone' | 'bridge_refusal'>;
  message: string;
}

export interface UpstreamConnectionOptions {
  host: string;
  port: number;
  connectTimeoutMs: number;
  /** Send a heartbeat after this long without reading anything; close after three unanswered. */
  heartbeatIdleMs: number;
  maxBodyLength: number;
  onClose(connection: UpstreamConnection): void;
  /** The provider said it is going away (READONLY event): no new requests here. */
  onReadonly(connection: UpstreamConnection): void;
  /** What was buffered for the provider has been written out. */
  onDrain(connection: UpstreamConnection): void;
}


export class UpstreamConnection {
  readonly address: string;
  private readonly socket: Socket;
  private readonly decoder: FrameDecoder;
  /** Requests in flight by the id this connection gave them (the low half of Dubbo's id; the high half is 0). */
  private readonly pending = new UpstreamIds<InFlight>();
  private connected = false;
  private closed = false;
  /** The provider sent READONLY, or the bridge retired this connection: no new requests. */
  private retiring = false;
  /** When bytes were last read (monotonic ms): a response's arrival, for its latency. */
  lastReadAt = performance.now();
  private heartbeatsUnanswered = 0;
  private readonly connectTimer: NodeJS.Timeout;
  private closeReason: UpstreamFailure | null = null;
  /** Frames of this turn not yet written: source[runStart, runEnd), consecutive frames of one chunk. */
  private runSource: Buffer | null = null;
  private runStart = 0;
  private runEnd = 0;
  /** Between cork and uncork (the listener's turn); frames sent outside a turn are written at once. */
  private inTurn = false;
  /** The socket still held unwritten bytes when this turn began. */
  private backlogged = false;
  /** Consumers whose reading was paused until this connection's buffer drains. */
  readonly blocked = new Set<{ unblock(connection: UpstreamConnection): void }>();

  constructor(private readonly options: UpstreamConnectionOptions) {
    this.address = `${options.host}:${options.port}`;
    this.decoder = new FrameDecoder({ maxBodyLength: options.maxBodyLength, onOversized: (header) => this.onOversized(header) });
    this.socket = connect({ host: options.host, port: options.port, noDelay: true });
    this.socket.on('connect', () => {
      this.connected = true;
      clearTimeout(this.connectTimer);
    });
    this.socket.on('data', (chunk) => this.onData(chunk));
    this.socket.on('drain', () => options.onDrain(this));
    this.socket.on('error', (err) => {
      this.closeReason ??= { outcome: this.connected ? 'reset' : 'connect_failure', message: `${this.address}: ${err.message}` };
    });
    this.socket.on('close', () => this.onClose());
    // Judged after the poll phase: a connection the kernel completed while the event loop was held
    // up is seen as made (timers run before the I/O that is waiting is read).
    this.connectTimer = setTimeout(() => setImmediate(this.connectTimedOut), options.connectTimeoutMs);
    this.connectTimer.unref();
  }

  private readonly connectTimedOut = (): void => {
    if (this.connected || this.closed) return;
    this.closeReason = { outcome: 'connect_timeout', message: `${this.address}: no connection within ${this.options.connectTimeoutMs} ms` };
    this.socket.destroy();
  };

  /** Not yet connected, and not closed: what is sent waits for the connection to be made. */
  get connecting(): boolean {
    return !this.connected && !this.closed;
  }

  /** Open and taking new requests. */
  get usable(): boolean {
    return !this.closed && !this.retiring;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Bytes sent to this connection and not yet handed to the kernel. */
  get buffered(): number {
    return this.socket.writableLength + (this.runSource === null ? 0 : this.runEnd - this.runStart);
  }

  /**
   * Sends a two-way request frame and returns its upstream id. The id is rewritten in place (the
   * frame's bytes are the caller's to give away); the response goes to `inFlight.deliver`.
   */
  send(frame: Frame, inFlight: InFlight): number {
    const id = this.pending.add(inFlight);
    const source = frame.source;
    const at = frame.start;
    setUint32At(source, at + 4, 0);
    setUint32At(source, at + 8, id);
    this.append(source, at, frame.end);
    return id;
  }

  /** Forgets a request whose caller went away: its answer, when it comes, is dropped. */
  cancel(id: number): void {
    this.pending.delete(id);
    if (this.retiring && this.pending.size === 0) this.close();
  }

  /** Sends a one-way request: nothing comes back, so no id is kept. */
  sendOneWay(frame: Frame): void {
    this.append(frame.source, frame.start, frame.end);
  }

  /**
   * Opens a turn: frames sent until `uncork` are gathered, and frames that lie one after another
   * in one consumer chunk (a consumer's batch) leave as one piece of that chunk, in one write.
   */
  cork(): void {
    this.inTurn = true;
    this.backlogged = this.socket.writableLength > 0;
  }

  /** Ends the turn: what was gathered goes to the socket (one system call when the kernel takes it). */
  uncork(): void {
    this.writeRun();
    this.inTurn = false;
    if (this.socket.writableCorked > 0) this.socket.uncork();
  }

  private append(source: Buffer, start: number, end: number): void {
    if (source === this.runSource && start === this.runEnd) {
      this.runEnd = end;
      return;
    }
    if (this.runSource !== null) {
      // A second run this turn: corked, so the turn's runs still leave in one writev.
      if (this.socket.writableCorked === 0) this.socket.cork();
      this.writeRun();
    }
    this.runSource = source;
    this.runStart = start;
    this.runEnd = end;
    if (!this.inTurn) this.writeRun();
  }

  private writeRun(): void {
    const source = this.runSource;
    if (source === null) return;
    this.runSource = null;
    if (this.closed) return;
    let bytes = this.runStart === 0 && this.runEnd === source.length ? source : source.subarray(this.runStart, this.runEnd);
    // A provider that is not keeping up leaves what it is given queued here: queue a copy of
    // these bytes, not a view that keeps a consumer's whole chunk alive with them.
    const backlogged = this.inTurn ? this.backlogged : this.socket.writableLength > 0;
    if (backlogged && bytes.length < source.length) bytes = Buffer.from(bytes);
    this.socket.write(bytes);
  }

  /** Takes no new requests and closes once those in flight are answered. */
  retire(): void {
    this.retiring = true;
    if (this.pending.size === 0) this.close();
  }

  /** Fails the requests whose deadline passed; called by the owner's sweep timer. */
  expire(now: number): void {
    this.pending.forEach((inFlight, id) => {
      if (inFlight.deadline <= now) {
        this.pending.delete(id);
        inFlight.fail({ outcome: 'response_timeout', message: `${this.address} did not answer in time` });
      }
    });
    if (this.retiring && this.pending.size === 0) this.close();
  }

  /** Heartbeat upkeep; called by the owner's timer. */
  keepAlive(now: number): void {
    if (!this.connected || this.closed || now - this.lastReadAt < this.options.heartbeatIdleMs) return;
    if (this.heartbeatsUnanswered >= 3) {
      this.close({ outcome: 'reset', message: `${this.address}: no answer to 3 heartbeats` });
      return;
    }
    this.heartbeatsUnanswered++;
    this.lastReadAt = now;
    this.socket.write(encodeHeartbeat(BigInt(this.pending.allocate()), true));
  }

  close(reason: UpstreamFailure = { outcome: 'reset', message: `${this.address}: closed by the bridge` }): void {
    this.closeReason ??= reason;
    this.runSource = null;
    this.socket.destroy();
    // Fail what is in flight now, not when the socket's 'close' event comes a turn or two later:
    // a shutdown answers those requests before it closes the consumers' connections.
    this.onClose();
  }

  private readonly onFrame = (frame: Frame): void => {
    const { header } = frame;
    if (header.isRequest) {
      // A provider's heartbeat to us: answer it. READONLY: it is shutting down. Other requests
      // from a provider make no sense.
      if (header.event && header.twoWay) this.socket.write(encodeHeartbeat(readRequestId(frame.bytes), false));
      else if (isReadonlyEvent(header, frame.body) && !this.retiring) {
        this.retiring = true;
        this.options.onReadonly(this);
        if (this.pending.size === 0) this.close();
      }
      return;
    }
    const high = uint32At(frame.source, frame.start + 4);
    const id = uint32At(frame.source, frame.start + 8);
    if (header.event) {
      this.heartbeatsUnanswered = 0;
      return;
    }
    const inFlight = high === 0 ? this.pending.take(id) : undefined;
    if (inFlight === undefined) return; // answered after its timeout or its caller left: dropped
    inFlight.deliver(frame);
    if (this.retiring && this.pending.size === 0) this.close();
  };

  /** An answer over the body limit: only its call fails; its bytes are skipped, not buffered. */
  private onOversized(header: FrameHeader): void {
    if (header.isRequest || header.requestId < 0n || header.requestId > BigInt(ID_LIMIT)) return;
    const inFlight = this.pending.take(Number(header.requestId));
    if (inFlight === undefined) return;
    inFlight.fail({
      outcome: 'application_exception',
      message: `${this.address} answered with a body of ${header.bodyLength} bytes; the limit is ${this.options.maxBodyLength}`,
    });
  }

  private onData(chunk: Buffer): void {
    this.lastReadAt = performance.now();
    this.heartbeatsUnanswered = 0;
    try {
      this.decoder.push(chunk, this.onFrame);
    } catch (err) {
      const message = err instanceof CodecError ? `${this.address} sent a bad frame: ${err.code}: ${err.message}` : `${this.address}: ${(err as Error).message}`;
      this.close({ outcome: 'reset', message });
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.connectTimer);
    const reason = this.closeReason ?? { outcome: 'reset' as const, message: `${this.address} closed the connection` };
    const failed = this.pending.clear();
    this.options.onClose(this);
    for (const inFlight of failed) inFlight.fail(reason);
  }
}
