// A streaming Dubbo frame decoder: fed arbitrary socket chunks, it yields whole frames. Frames may
// be split anywhere or coalesced many to a chunk; the body limit is enforced from the header,
// before anything of the body is buffered.
import { CodecError } from '../errors';
import { DEFAULT_MAX_BODY_LENGTH, FrameHeader, HEADER_LENGTH, MAGIC_HIGH, MAGIC_LOW, decodeHeader } from './header';

export interface Frame {
  header: FrameHeader;
  /** The whole frame, header and body: what a proxy forwards. */
  bytes: Buffer;
  /** The body alone (a view into `bytes`). */
  body: Buffer;
  /** Byte offset of the frame's first byte in the stream. */
  offset: number;
}

export interface FrameDecoderOptions {
  /** The largest body accepted, in bytes. Default 8 MiB, as Dubbo's `payload`. */
  maxBodyLength?: number;
}

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
    private readonly source: Buffer,
    private readonly start: number,
    private readonly end: number,
  ) {}

  get bytes(): Buffer {
    return (this.bytesView ??= this.source.subarray(this.start, this.end));
  }

  set bytes(value: Buffer) {
    this.bytesView = value;
  }

  get body(): Buffer {
    return (this.bodyView ??= this.source.subarray(this.start + HEADER_LENGTH, this.end));
  }

  set body(value: Buffer) {
    this.bodyView = value;
  }
}

/**
 * Cuts a byte stream into frames. Complete frames inside one chunk are handed out as views of
 * that chunk (no copy); a frame that spans chunks is assembled into one buffer of its exact size.
 * After the first error the decoder stays failed: a stream with a bad frame cannot be resynchronised.
 */
export class FrameDecoder {
  readonly maxBodyLength: number;
  /** Start of the frame being assembled, or the offset of the next byte when none is. */
  private streamOffset = 0;
  /** The frame being assembled across chunks, sized header + body once the header is known. */
  private partial: Buffer | null = null;
  private partialFilled = 0;
  private partialHeader: FrameHeader | null = null;
  /** Bytes of a header that arrived split. */
  private readonly headerScratch = Buffer.allocUnsafe(HEADER_LENGTH);
  private headerFilled = 0;
  private failure: CodecError | null = null;

  constructor(options: FrameDecoderOptions = {}) {
    this.maxBodyLength = options.maxBodyLength ?? DEFAULT_MAX_BODY_LENGTH;
  }

  /** Bytes held for a frame not yet complete. */
  get bufferedBytes(): number {
    return this.partial !== null ? this.partialFilled : this.headerFilled;
  }

  /** The offset in the stream of the next byte to be pushed. */
  get position(): number {
    // While a frame is assembled, streamOffset stays at its start until it completes.
    return this.partial !== null ? this.streamOffset + this.partialFilled : this.streamOffset;
  }

  /** Feeds a chunk; calls `onFrame` for each frame completed by it. Throws a CodecError on bad bytes. */
  push(chunk: Buffer, onFrame: FrameListener): void {
    if (this.failure !== null) throw this.failure;
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      if (this.partial !== null) {
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
    this.partial = Buffer.allocUnsafe(HEADER_LENGTH + header.bodyLength);
    this.headerScratch.copy(this.partial, 0);
    this.partialFilled = HEADER_LENGTH;
    this.partialHeader = header;
    // The stream offset already counts the header bytes; fillPartial counts only body bytes.
    this.streamOffset -= HEADER_LENGTH;
    return pos + take;
  }

  private startPartial(header: FrameHeader, head: Buffer): void {
    this.partial = Buffer.allocUnsafe(HEADER_LENGTH + header.bodyLength);
    head.copy(this.partial, 0);
    this.partialFilled = head.length;
    this.partialHeader = header;
  }

  private fillPartial(chunk: Buffer, pos: number, onFrame: FrameListener): number {
    const partial = this.partial as Buffer;
    const take = Math.min(partial.length - this.partialFilled, chunk.length - pos);
    chunk.copy(partial, this.partialFilled, pos, pos + take);
    this.partialFilled += take;
    if (this.partialFilled < partial.length) return pos + take;
    const header = this.partialHeader as FrameHeader;
    const frameOffset = this.streamOffset;
    this.streamOffset += partial.length;
    this.partial = null;
    this.partialHeader = null;
    this.partialFilled = 0;
    onFrame(new DecodedFrame(header, frameOffset, partial, 0, partial.length));
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

  private readHeader(buf: Buffer, at: number, frameOffset = this.streamOffset): FrameHeader {
    let header: FrameHeader;
    try {
      header = decodeHeader(buf, at, frameOffset);
    } catch (err) {
      this.fail(err as CodecError);
    }
    if (header.bodyLength < 0 || header.bodyLength > this.maxBodyLength) {
      this.fail(
        new CodecError('DUBBO_BODY_TOO_LARGE', `frame at byte ${frameOffset} declares a body of ${header.bodyLength} bytes; the limit is ${this.maxBodyLength}`, {
          value: header.bodyLength,
          where: frameOffset,
        }),
      );
    }
    return header;
  }

  private fail(err: CodecError): never {
    this.failure = err;
    this.partial = null;
    this.headerFilled = 0;
    throw err;
  }
}
