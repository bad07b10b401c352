// A Dubbo consumer made of our own codec: one socket, requests multiplexed by id, as real consumers
// do. For tests and benchmarks that need many calls, exact control of frames, or garbage bytes.
import { Socket, connect } from 'node:net';
import { DubboResponse, Frame, FrameDecoder, RequestToEncode, decodeResponseBody, encodeHeartbeat, encodeRequest, readRequestId } from '../../src/dubbo-codec';
import { isReadonlyEvent } from '../../src/proxy/dubbo/readonly-event';

export interface RawCall {
  path: string;
  method: string;
  parameterTypes?: string;
  args?: unknown[];
  version?: string;
  attachments?: Record<string, string>;
}

export class RawDubboClient {
  private readonly decoder = new FrameDecoder();
  private readonly pending = new Map<bigint, { resolve(r: DubboResponse): void; reject(e: Error): void }>();
  private nextId = 1n;
  private closedError: Error | null = null;
  /** The server sent Dubbo's READONLY event (it is shutting down). */
  readonlyReceived = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk) => {
      try {
        this.decoder.push(chunk, (frame) => this.onFrame(frame));
      } catch (err) {
        this.failAll(err as Error);
        socket.destroy();
      }
    });
    socket.on('error', (err) => this.failAll(err));
    socket.on('close', () => this.failAll(new Error('connection closed')));
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<RawDubboClient> {
    const socket = connect({ host, port, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawDubboClient(socket);
  }

  get closed(): boolean {
    return this.closedError !== null;
  }

  /** Sends a request and resolves with the decoded response (errors included: check `status`). */
  call(call: RawCall): Promise<DubboResponse> {
    const requestId = this.nextId++;
    const request: RequestToEncode = {
      requestId,
      path: call.path,
      method: call.method,
      version: call.version ?? '',
      parameterTypes: call.parameterTypes ?? '',
      args: call.args ?? [],
      attachments: call.attachments,
    };
    return this.send(requestId, encodeRequest(request));
  }

  /** Sends a heartbeat and resolves when it is answered. */
  heartbeat(): Promise<DubboResponse> {
    const requestId = this.nextId++;
    return this.send(requestId, encodeHeartbeat(requestId, true));
  }

  /** Sends a whole frame built by the caller (its request id is used as it is) and awaits the answer. */
  sendFrame(frame: Buffer): Promise<DubboResponse> {
    return this.send(readRequestId(frame), frame);
  }

  /** Writes raw bytes, e.g. garbage. */
  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  close(): void {
    this.socket.destroy();
  }

  private send(requestId: bigint, bytes: Buffer): Promise<DubboResponse> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      this.pending.set(requestId, { resolve, reject });
      this.socket.write(bytes);
    });
  }

  private onFrame(frame: Frame): void {
    if (frame.header.isRequest) {
      // From the server: a heartbeat is answered as Java consumers do; READONLY is noted.
      if (frame.header.event && frame.header.twoWay) this.socket.write(encodeHeartbeat(frame.header.requestId, false));
      else if (isReadonlyEvent(frame.header, frame.body)) this.readonlyReceived = true;
      return;
    }
    const waiter = this.pending.get(frame.header.requestId);
    if (!waiter) return;
    this.pending.delete(frame.header.requestId);
    waiter.resolve(decodeResponseBody(frame.header, frame.body));
  }

  private failAll(err: Error): void {
    this.closedError ??= err;
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
  }
}
