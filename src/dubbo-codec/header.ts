// The 16-byte Dubbo 2 frame header: magic, flags, status, request id and body length.
import { CodecError } from '../errors';

export const MAGIC = 0xdabb;
export const MAGIC_HIGH = 0xda;
export const MAGIC_LOW = 0xbb;
export const HEADER_LENGTH = 16;
/** Dubbo's own default payload limit (`payload` parameter): 8 MiB. */
export const DEFAULT_MAX_BODY_LENGTH = 8 * 1024 * 1024;

export const FLAG_REQUEST = 0x80;
export const FLAG_TWO_WAY = 0x40;
export const FLAG_EVENT = 0x20;
export const SERIALIZATION_MASK = 0x1f;

export interface FrameHeader {
  isRequest: boolean;
  /** Requests only: the caller waits for a response. */
  twoWay: boolean;
  /** Heartbeats and other events. */
  event: boolean;
  serializationId: number;
  /** Responses only; 0 in requests. */
  status: number;
  /** A signed 64-bit id, as Java writes it; responses echo the request's. */
  requestId: bigint;
  bodyLength: number;
}

/** Reads a header from 16 bytes at `offset`. `streamOffset` only labels errors. */
export function decodeHeader(buf: Buffer, offset = 0, streamOffset = offset): FrameHeader {
  checkHeader(buf, offset, streamOffset);
  const flag = buf[offset + 2];
  return {
    isRequest: (flag & FLAG_REQUEST) !== 0,
    twoWay: (flag & FLAG_TWO_WAY) !== 0,
    event: (flag & FLAG_EVENT) !== 0,
    serializationId: flag & SERIALIZATION_MASK,
    status: buf[offset + 3],
    requestId: buf.readBigInt64BE(offset + 4),
    bodyLength: buf.readInt32BE(offset + 12),
  };
}

/**
 * decodeHeader's result with the request id made on first read: a proxy reads the id's halves from
 * the bytes and never needs the bigint, which costs several allocations per frame. The id is not
 * an own property, so spreading this header leaves it out.
 */
export function decodeHeaderLazily(buf: Buffer, offset = 0, streamOffset = offset): FrameHeader {
  checkHeader(buf, offset, streamOffset);
  return new LazyIdHeader(buf[offset + 2], buf[offset + 3], uint32At(buf, offset + 4) | 0, uint32At(buf, offset + 8), uint32At(buf, offset + 12) | 0);
}

// The per-frame reads and writes of a proxy, as byte operations: Buffer's readUInt32BE and
// writeUInt32BE check their arguments on every call, which cost more than the four bytes.

/** The unsigned big-endian 32-bit integer at `at`; the caller knows the four bytes are there. */
export function uint32At(buf: Uint8Array, at: number): number {
  return ((buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]) >>> 0;
}

/** Writes `value` (0 .. 2^32 - 1) big-endian at `at`; the caller knows the four bytes are there. */
export function setUint32At(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value >>> 24;
  buf[at + 1] = value >>> 16;
  buf[at + 2] = value >>> 8;
  buf[at + 3] = value;
}

class LazyIdHeader implements FrameHeader {
  isRequest: boolean;
  twoWay: boolean;
  event: boolean;
  serializationId: number;
  status: number;
  bodyLength: number;
  private id: bigint | undefined = undefined;

  constructor(
    flag: number,
    status: number,
    private readonly idHigh: number,
    private readonly idLow: number,
    bodyLength: number,
  ) {
    this.isRequest = (flag & FLAG_REQUEST) !== 0;
    this.twoWay = (flag & FLAG_TWO_WAY) !== 0;
    this.event = (flag & FLAG_EVENT) !== 0;
    this.serializationId = flag & SERIALIZATION_MASK;
    this.status = status;
    this.bodyLength = bodyLength;
  }

  get requestId(): bigint {
    return (this.id ??= this.idHigh === 0 ? BigInt(this.idLow) : (BigInt(this.idHigh) << 32n) + BigInt(this.idLow));
  }

  set requestId(id: bigint) {
    this.id = id;
  }
}

function checkHeader(buf: Buffer, offset: number, streamOffset: number): void {
  if (buf.length - offset < HEADER_LENGTH) {
    throw new CodecError('DUBBO_TRUNCATED', `a Dubbo header needs ${HEADER_LENGTH} bytes, got ${buf.length - offset}`, {
      where: streamOffset,
    });
  }
  if (buf[offset] !== MAGIC_HIGH || buf[offset + 1] !== MAGIC_LOW) {
    const seen = buf.readUInt16BE(offset);
    throw new CodecError('DUBBO_BAD_MAGIC', `expected Dubbo magic 0xdabb at byte ${streamOffset}, got 0x${seen.toString(16).padStart(4, '0')}`, {
      value: seen,
      where: streamOffset,
    });
  }
}

export function flagByte(header: Pick<FrameHeader, 'isRequest' | 'twoWay' | 'event' | 'serializationId'>): number {
  let flag = header.serializationId & SERIALIZATION_MASK;
  if (header.isRequest) {
    flag |= FLAG_REQUEST;
    if (header.twoWay) flag |= FLAG_TWO_WAY;
  }
  if (header.event) flag |= FLAG_EVENT;
  return flag;
}

/** Writes a header into `target` at `offset` (a new 16-byte buffer when none is given). */
export function encodeHeader(header: FrameHeader, target: Buffer = Buffer.allocUnsafe(HEADER_LENGTH), offset = 0): Buffer {
  target[offset] = MAGIC_HIGH;
  target[offset + 1] = MAGIC_LOW;
  target[offset + 2] = flagByte(header);
  target[offset + 3] = header.isRequest ? 0 : header.status;
  target.writeBigInt64BE(BigInt.asIntN(64, header.requestId), offset + 4);
  target.writeInt32BE(header.bodyLength, offset + 12);
  return target;
}

/** Rewrites the request id of an encoded frame in place: what a proxy does per forwarded frame. */
export function writeRequestId(frame: Buffer, requestId: bigint): void {
  frame.writeBigInt64BE(BigInt.asIntN(64, requestId), 4);
}

/** Reads the request id of an encoded frame without decoding the rest of the header. */
export function readRequestId(frame: Buffer): bigint {
  return frame.readBigInt64BE(4);
}
