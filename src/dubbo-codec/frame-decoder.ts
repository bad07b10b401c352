// A streaming Dubbo frame decoder: fed arbitrary socket chunks, it yields whole frames. Frames may
// be split anywhere or coalesced many to a chunk; the body limit is enforced from the header,
// before anything of the body is buffered, and a split body takes memory only as its bytes come.
import { CodecError } from '../errors';
import * as header from './header';
import { DEFAULT_MAX_BODY_LENGTH, FrameHeader, MAGIC_HIGH, MAGIC_LOW } from './header';

// Module-local copies of what the per-frame loop reads: where modules load as CommonJS (tsx, jest,
// tsc's re-exports), each read of an imported name is a property getter call.
const { HEADER_LENGTH, decodeHeaderLazily } = header;

export interface Frame {
  header: FrameHeader;
  /** The whole frame, header and body (a view of `source`). */
  readonly bytes: Buffer;
  /** The body alone (a view of `source`). */
  readonly body: Buffer;
  /** Byte offset of the frame's first byte in the stream. */
  offset: number;
  /**
   * The buffer the frame lies in, at [start, end), header included: a proxy reads and patches ids
   * there and forwards consecutive frames of one chunk as one run, without a view per frame.
   */
  readonly source: Buffer;
  readonly start: number;
  readonly end: number;
}

export interface FrameDecoderOptions {
  /** The largest body accepted, in bytes. Default 8 MiB, as Dubbo's `payload`. */
  maxBodyLength?: number;
  /**
   * Called for a frame whose body is over the limit, instead of failing the stream: its body is
   * then skipped (counted, not buffered), so one oversized answer on a shared connection costs
   * only that answer. Without it, an oversized frame fails the decoder.
   */
  onOversized?(header: FrameHeader, offset: number): void;
}

const EMPTY = Buffer.alloc(0);
/** First size of the buffer a split frame is assembled in, when the frame is longer. */
const INITIAL_PARTIAL = 64 * 1024;

export type FrameListener = (frame: Frame) => void;

/**
 * The frames FrameDecoder hands out. `bytes` and `body` are views made on first use: a view costs
 * ~40 ns, as much as reading the header, and most consumers need only one of them (a proxy
 * forwarding untouched frames reads `bytes`; a decoder reads `body`).
 */
class DecodedFrame implements Frame {
  private bytesView: Buffer | undefined;
  private bodyView: Buffer | undefined;

  constructor(
    public header: FrameHeader,
    public offset: number,
    /** Holds the frame in [start, end), header included. */
    readonly source: Buffer,
    readonly start: number,
    readonly end: number,
  ) {}

  get bytes(): Buffer {
    return (this.bytesView ??= this.source.subarray(this.start, this.end));
  }

  get body(): Buffer {
    return (this.bodyView ??= this.source.subarray(this.start + HEADER_LENGTH, this.end));
  }
}

/**
 * Cuts a byte stream into frames. Complete frames inside one chunk are handed out as views of
 * that chunk (no copy); a frame that spans chunks is assembled into a buffer that starts at up to
 * 64 KiB and doubles as bytes come, so memory follows the bytes received (at most twice them),
 * never the length a header declares. After the first error the decoder stays failed: a stream with a bad frame
 * cannot be resynchronised.
 */
export class FrameDecoder {
  readonly maxBodyLength: number;
  private readonly onOversized: ((header: FrameHeader, offset: number) => void) | undefined;
  /** Start of the frame being assembled, or the offset of the next byte when none is. */
  private streamOffset = 0;
  /** The frame being assembled across chunks, header included: `partialFilled` bytes of it so far. */
  private partial: Buffer = EMPTY;
  private partialFilled = 0;
  /** Header + body length of the frame being assembled; 0 when none is. */
  private partialLength = 0;
  private partialHeader: FrameHeader | null = null;
  /** Body bytes still to discard of an oversized frame being skipped. */
  private skipping = 0;
  /** Bytes of a header that arrived split. */
  private readonly headerScratch = Buffer.allocUnsafe(HEADER_LENGTH);
  private headerFilled = 0;
  private failure: CodecError | null = null;

  constructor(options: FrameDecoderOptions = {}) {
    this.maxBodyLength = options.maxBodyLength ?? DEFAULT_MAX_BODY_LENGTH;
    this.onOversized = options.onOversized;
  }

  /** Bytes held for a frame not yet complete. */
  get bufferedBytes(): number {
    return this.partialLength !== 0 ? this.partialFilled : this.headerFilled;
  }

  /** True while a frame has started but not completed (header bytes, body bytes, or a skip). */
  get midFrame(): boolean {
    return this.partialLength !== 0 || this.headerFilled !== 0 || this.skipping !== 0;
  }

  /** The offset in the stream of the next byte to be pushed. */
  get position(): number {
    // While a frame is assembled, streamOffset stays at its start until it completes.
    return this.partialLength !== 0 ? this.streamOffset + this.partialFilled : this.streamOffset;
  }

  /** Feeds a chunk; calls `onFrame` for each frame completed by it. Throws a CodecError on bad bytes. */
  push(chunk: Buffer, onFrame: FrameListener): void {
    if (this.failure !== null) throw this.failure;
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      if (this.skipping !== 0) {
        const take = Math.min(this.skipping, end - pos);
        this.skipping -= take;
        this.streamOffset += take;
        pos += take;
        continue;
      }
      if (this.partialLength !== 0) {
        pos = this.fillPartial(chunk, pos, onFrame);
        continue;
      }
      if (this.headerFilled > 0) {
        pos = this.fillHeader(chunk, pos);
        continue;
      }
      const available = end - pos;
      if (available < HEADER_LENGTH) {
        this.checkMagic(chunk.subarray(pos), 0, available, this.streamOffset);
        chunk.copy(this.headerScratch, 0, pos, end);
        this.headerFilled = available;
        this.streamOffset += available;
        return;
      }
      const header = this.readHeader(chunk, pos);
      if (header === null) {
        this.streamOffset += HEADER_LENGTH;
        pos += HEADER_LENGTH;
        continue;
      }
      const frameLength = HEADER_LENGTH + header.bodyLength;
      if (available >= frameLength) {
        const frameOffset = this.streamOffset;
        this.streamOffset += frameLength;
        onFrame(new DecodedFrame(header, frameOffset, chunk, pos, pos + frameLength));
        pos += frameLength;
        continue;
      }
      this.startPartial(header, chunk.subarray(pos, end));
      return;
    }
  }

  private fillHeader(chunk: Buffer, pos: number): number {
    const take = Math.min(HEADER_LENGTH - this.headerFilled, chunk.length - pos);
    const before = this.headerFilled;
    chunk.copy(this.headerScratch, before, pos, pos + take);
    this.headerFilled += take;
    this.checkMagic(this.headerScratch, before, this.headerFilled, this.streamOffset - before);
    this.streamOffset += take;
    if (this.headerFilled < HEADER_LENGTH) return pos + take;
    const header = this.readHeader(this.headerScratch, 0, this.streamOffset - HEADER_LENGTH);
    this.headerFilled = 0;
    if (header === null) return pos + take;
    // The stream offset already counts the header bytes; fillPartial counts them again.
    this.streamOffset -= HEADER_LENGTH;
    this.startPartial(header, Buffer.from(this.headerScratch));
    return pos + take;
  }

  private startPartial(header: FrameHeader, head: Buffer): void {
    this.partial = Buffer.allocUnsafe(Math.min(HEADER_LENGTH + header.bodyLength, Math.max(INITIAL_PARTIAL, 2 * head.length)));
    head.copy(this.partial, 0);
    this.partialFilled = head.length;
    this.partialLength = HEADER_LENGTH + header.bodyLength;
    this.partialHeader = header;
  }

  private fillPartial(chunk: Buffer, pos: number, onFrame: FrameListener): number {
    const take = Math.min(this.partialLength - this.partialFilled, chunk.length - pos);
    const needed = this.partialFilled + take;
    if (needed > this.partial.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.partialLength, Math.max(needed, 2 * this.partial.length)));
      this.partial.copy(grown, 0, 0, this.partialFilled);
      this.partial = grown;
    }
    chunk.copy(this.partial, this.partialFilled, pos, pos + take);
    this.partialFilled = needed;
    if (needed < this.partialLength) return pos + take;
    const whole = this.partial;
    const header = this.partialHeader as FrameHeader;
    const frameOffset = this.streamOffset;
    this.streamOffset += whole.length;
    this.partial = EMPTY;
    this.partialFilled = 0;
    this.partialLength = 0;
    this.partialHeader = null;
    onFrame(new DecodedFrame(header, frameOffset, whole, 0, whole.length));
    return pos + take;
  }

  /**
   * Rejects a wrong magic as soon as its first bytes arrive, so garbage is never buffered.
   * Checks bytes `from`..`to` (exclusive, at most 2) of a frame starting at `frameOffset`.
   */
  private checkMagic(frameStart: Buffer, from: number, to: number, frameOffset: number): void {
    for (let i = from; i < to && i < 2; i++) {
      const seen = frameStart[i];
      if (seen !== (i === 0 ? MAGIC_HIGH : MAGIC_LOW)) {
        this.fail(
          new CodecError('DUBBO_BAD_MAGIC', `expected Dubbo magic 0xdabb at byte ${frameOffset}, got 0x${seen.toString(16).padStart(2, '0')} at byte ${frameOffset + i}`, {
            value: seen,
            where: frameOffset,
          }),
        );
      }
    }
  }

  /** The header at `at`; null when its body is too long and is being skipped (see `onOversized`). */
  private readHeader(buf: Buffer, at: number, frameOffset = this.streamOffset): FrameHeader | null {
    let header: FrameHeader;
    try {
      header = decodeHeaderLazily(buf, at, frameOffset);
    } catch (err) {
      this.fail(err as CodecError);
    }
    if (header.bodyLength < 0 || (header.bodyLength > this.maxBodyLength && this.onOversized === undefined)) {
      this.fail(
        new CodecError('DUBBO_BODY_TOO_LARGE', `frame at byte ${frameOffset} declares a body of ${header.bodyLength} bytes; the limit is ${this.maxBodyLength}`, {
          value: header.bodyLength,
          where: frameOffset,
        }),
      );
    }
    if (header.bodyLength > this.maxBodyLength) {
      // Counted, never buffered: the stream stays in step and only this frame is lost.
      this.skipping = header.bodyLength;
      (this.onOversized as (header: FrameHeader, offset: number) => void)(header, frameOffset);
      return null;
    }
    return header;
  }

  private fail(err: CodecError): never {
    this.failure = err;
    this.partial = EMPTY;
    this.partialFilled = 0;
    this.partialLength = 0;
    this.headerFilled = 0;
    throw err;
  }
}
