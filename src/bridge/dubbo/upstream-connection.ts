// One pooled connection from the bridge to a Dubbo provider. Requests from many consumers share it;
// each gets an upstream request id of this connection's own, and the response is matched back by
// it. Idle connections send heartbeats; a provider's heartbeat is answered here.
import { Socket, connect } from 'node:net';
import { CodecError } from '../../errors';
import { Frame, FrameDecoder, encodeHeartbeat, readRequestId } from '../../dubbo-codec';

/** A request in flight on an upstream connection; the listener keeps what it needs to answer. */
export interface InFlight {
  /** Where the response goes, with the consumer's own request id restored. */
  deliver(frame: Frame): void;
  /** The request failed here (connection lost, timeout); the owner answers or retries. */
  fail(reason: UpstreamFailure): void;
  /** Monotonic ms after which the request times out. */
  deadline: number;
}

export type UpstreamFailure = { kind: 'closed' | 'connect' | 'timeout' | 'bad-frame'; message: string };

export interface UpstreamConnectionOptions {
  host: string;
  port: number;
  connectTimeoutMs: number;
  /** Send a heartbeat after this long without reading anything; close after three unanswered. */
  heartbeatIdleMs: number;
  maxBodyLength: number;
  onClose(connection: UpstreamConnection): void;
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
  private lastReadAt = performance.now();
  private heartbeatsUnanswered = 0;
  private readonly connectTimer: NodeJS.Timeout;
  private closeReason: UpstreamFailure | null = null;

  constructor(private readonly options: UpstreamConnectionOptions) {
    this.address = `${options.host}:${options.port}`;
    this.decoder = new FrameDecoder({ maxBodyLength: options.maxBodyLength });
    this.socket = connect({ host: options.host, port: options.port, noDelay: true });
    this.socket.on('connect', () => {
      this.connected = true;
      clearTimeout(this.connectTimer);
    });
    this.socket.on('data', (chunk) => this.onData(chunk));
    this.socket.on('error', (err) => {
      this.closeReason ??= { kind: this.connected ? 'closed' : 'connect', message: `${this.address}: ${err.message}` };
    });
    this.socket.on('close', () => this.onClose());
    this.connectTimer = setTimeout(() => {
      this.closeReason = { kind: 'connect', message: `${this.address}: no connection within ${options.connectTimeoutMs} ms` };
      this.socket.destroy();
    }, options.connectTimeoutMs);
    this.connectTimer.unref();
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Sends a two-way request frame. Its id is rewritten in place (the frame's bytes are the
   * caller's to give away); the response goes to `inFlight.deliver`.
   */
  send(frame: Frame, inFlight: InFlight): void {
    const id = this.allocateId();
    const bytes = frame.bytes;
    bytes.writeUInt32BE(0, 4);
    bytes.writeUInt32BE(id, 8);
    this.pending.set(id, inFlight);
    this.socket.write(bytes);
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

  /** Fails the requests whose deadline passed; called by the owner's sweep timer. */
  expire(now: number): void {
    for (const [id, inFlight] of this.pending) {
      if (inFlight.deadline <= now) {
        this.pending.delete(id);
        inFlight.fail({ kind: 'timeout', message: `${this.address} did not answer in time` });
      }
    }
  }

  /** Heartbeat upkeep; called by the owner's timer. */
  keepAlive(now: number): void {
    if (!this.connected || this.closed || now - this.lastReadAt < this.options.heartbeatIdleMs) return;
    if (this.heartbeatsUnanswered >= 3) {
      this.close({ kind: 'closed', message: `${this.address}: no answer to 3 heartbeats` });
      return;
    }
    this.heartbeatsUnanswered++;
    this.lastReadAt = now;
    this.socket.write(encodeHeartbeat(BigInt(this.allocateId()), true));
  }

  close(reason: UpstreamFailure = { kind: 'closed', message: `${this.address}: closed by the bridge` }): void {
    this.closeReason ??= reason;
    this.socket.destroy();
    // Fail what is in flight now, not when the socket's 'close' event comes a turn or two later:
    // a shutdown answers those requests before it closes the consumers' connections.
    this.onClose();
  }

  /** Closes once nothing is in flight (graceful shutdown). */
  get idle(): boolean {
    return this.pending.size === 0;
  }

  private allocateId(): number {
    const id = this.nextId;
    this.nextId = id >= ID_LIMIT ? 1 : id + 1;
    return id;
  }

  private readonly onFrame = (frame: Frame): void => {
    const { header } = frame;
    if (header.isRequest) {
      // A provider's heartbeat to us: answer it. Other requests from a provider make no sense.
      if (header.event && header.twoWay) this.socket.write(encodeHeartbeat(readRequestId(frame.bytes), false));
      return;
    }
    const high = frame.bytes.readUInt32BE(4);
    const id = frame.bytes.readUInt32BE(8);
    if (header.event) {
      this.heartbeatsUnanswered = 0;
      return;
    }
    const inFlight = high === 0 ? this.pending.get(id) : undefined;
    if (inFlight === undefined) return; // answered after its timeout: dropped
    this.pending.delete(id);
    inFlight.deliver(frame);
  };

  private onData(chunk: Buffer): void {
    this.lastReadAt = performance.now();
    this.heartbeatsUnanswered = 0;
    try {
      this.decoder.push(chunk, this.onFrame);
    } catch (err) {
      const message = err instanceof CodecError ? `${this.address} sent a bad frame: ${err.code}: ${err.message}` : `${this.address}: ${(err as Error).message}`;
      this.close({ kind: 'bad-frame', message });
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.connectTimer);
    const reason = this.closeReason ?? { kind: 'closed' as const, message: `${this.address} closed the connection` };
    const failed = [...this.pending.values()];
    this.pending.clear();
    this.options.onClose(this);
    for (const inFlight of failed) inFlight.fail(reason);
  }
}
