// One pooled connection from the bridge to a Dubbo provider. Requests from many consumers share it;
// each gets an upstream request id of this connection's own, and the response is matched back by
// it. Idle connections send heartbeats; a provider's heartbeat is answered here, and its READONLY
// event (it is shutting down) stops new requests on this connection while those in flight finish.
import { Socket, connect } from 'node:net';
import { CodecError } from '../../errors';
import { Frame, FrameDecoder, FrameHeader, encodeHeartbeat, readRequestId } from '../../dubbo-codec';
import type { Outcome } from '../failure-class';
import { isReadonlyEvent } from '../dubbo/readonly-event';

/** A request in flight on an upstream connection; the listener keeps what it needs to answer. */
export interface InFlight {
  /** Where the response goes, with the consumer's own request id restored. */
  deliver(frame: Frame): void;
  /** The request failed here (connection lost, timeout, answer too large); the owner answers or retries. */
  fail(reason: UpstreamFailure): void;
  /** Monotonic ms after which the request times out. */
  deadline: number;
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

// Upstream ids are positive 31-bit integers kept in the low half of Dubbo's 64-bit id, so the
// pending table is keyed by small integers rather than bigints.
const ID_LIMIT = 0x7fffffff;

export class UpstreamConnection {
  readonly address: string;
  private readonly socket: Socket;
  private readonly decoder: FrameDecoder;
  private readonly pending = new Map<number, InFlight>();
  private nextId = 1;
  private connected = false;
  private closed = false;
  /** The provider sent READONLY, or the bridge retired this connection: no new requests. */
  private retiring = false;
  private lastReadAt = performance.now();
  private heartbeatsUnanswered = 0;
  private readonly connectTimer: NodeJS.Timeout;
  private closeReason: UpstreamFailure | null = null;
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
    this.connectTimer = setTimeout(() => {
      this.closeReason = { outcome: 'connect_timeout', message: `${this.address}: no connection within ${options.connectTimeoutMs} ms` };
      this.socket.destroy();
    }, options.connectTimeoutMs);
    this.connectTimer.unref();
  }

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

  /** Bytes written to this connection and not yet handed to the kernel. */
  get buffered(): number {
    return this.socket.writableLength;
  }

  /**
   * Sends a two-way request frame and returns its upstream id. The id is rewritten in place (the
   * frame's bytes are the caller's to give away); the response goes to `inFlight.deliver`.
   */
  send(frame: Frame, inFlight: InFlight): number {
    const id = this.allocateId();
    const bytes = frame.bytes;
    bytes.writeUInt32BE(0, 4);
    bytes.writeUInt32BE(id, 8);
    this.pending.set(id, inFlight);
    this.socket.write(bytes);
    return id;
  }

  /** Forgets a request whose caller went away: its answer, when it comes, is dropped. */
  cancel(id: number): void {
    this.pending.delete(id);
    if (this.retiring && this.pending.size === 0) this.close();
  }

  /** Sends a one-way request: nothing comes back, so no id is kept. */
  sendOneWay(frame: Frame): void {
    this.socket.write(frame.bytes);
  }

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  /** Takes no new requests and closes once those in flight are answered. */
  retire(): void {
    this.retiring = true;
    if (this.pending.size === 0) this.close();
  }

  /** Fails the requests whose deadline passed; called by the owner's sweep timer. */
  expire(now: number): void {
    for (const [id, inFlight] of this.pending) {
      if (inFlight.deadline <= now) {
        this.pending.delete(id);
        inFlight.fail({ outcome: 'response_timeout', message: `${this.address} did not answer in time` });
      }
    }
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
    this.socket.write(encodeHeartbeat(BigInt(this.allocateId()), true));
  }

  close(reason: UpstreamFailure = { outcome: 'reset', message: `${this.address}: closed by the bridge` }): void {
    this.closeReason ??= reason;
    this.socket.destroy();
    // Fail what is in flight now, not when the socket's 'close' event comes a turn or two later:
    // a shutdown answers those requests before it closes the consumers' connections.
    this.onClose();
  }

  private allocateId(): number {
    const id = this.nextId;
    this.nextId = id >= ID_LIMIT ? 1 : id + 1;
    return id;
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
    const high = frame.bytes.readUInt32BE(4);
    const id = frame.bytes.readUInt32BE(8);
    if (header.event) {
      this.heartbeatsUnanswered = 0;
      return;
    }
    const inFlight = high === 0 ? this.pending.get(id) : undefined;
    if (inFlight === undefined) return; // answered after its timeout or its caller left: dropped
    this.pending.delete(id);
    inFlight.deliver(frame);
    if (this.retiring && this.pending.size === 0) this.close();
  };

  /** An answer over the body limit: only its call fails; its bytes are skipped, not buffered. */
  private onOversized(header: FrameHeader): void {
    if (header.isRequest || header.requestId < 0n || header.requestId > BigInt(ID_LIMIT)) return;
    const id = Number(header.requestId);
    const inFlight = this.pending.get(id);
    if (inFlight === undefined) return;
    this.pending.delete(id);
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
    const failed = [...this.pending.values()];
    this.pending.clear();
    this.options.onClose(this);
    for (const inFlight of failed) inFlight.fail(reason);
  }
}
