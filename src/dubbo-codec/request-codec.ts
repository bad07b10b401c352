// Dubbo request bodies: the routing view (read without decoding arguments), full decode, encode,
// and re-encoding with a new request id and attachments while the argument bytes travel untouched.
import { CodecError, preview } from '../errors';
import { Frame } from './frame-decoder';
import * as header from './header';
import { FrameHeader, HEADER_LENGTH, encodeHeader, writeRequestId } from './header';
import { HessianReader, writeWithRoom } from './hessian2';
import { countParameters } from './parameter-types';
import * as scanning from './hessian2-scanner';
import type { HessianScanner } from './hessian2-scanner';
import { Serialization } from './status';

export const DEFAULT_DUBBO_VERSION = '2.0.2';

// A module-local copy of what each request's view makes: where modules load as CommonJS (tsx, jest,
// tsc's re-exports), each read of an imported name is a property getter call.
const Scanner = scanning.HessianScanner;
const { uint32At } = header;

export type Attachments = Record<string, unknown>;

export interface DubboRequest {
  dubboVersion: string;
  path: string;
  version: string;
  method: string;
  parameterTypes: string;
  args: unknown[];
  attachments: Attachments;
}

export interface RequestToEncode {
  requestId: bigint;
  twoWay?: boolean;
  dubboVersion?: string;
  path: string;
  version?: string;
  method: string;
  parameterTypes: string;
  args?: unknown[];
  attachments?: Attachments;
}


/** Values other than strings inside an attachments map fall back to the full decoder. */
function readAttachmentValue(scanner: HessianScanner): unknown {
  const reader = new HessianReader(scanner.buf, scanner.pos);
  const value = reader.read();
  scanner.pos = reader.offset;
  return value;
}

const parameterCounts = new Map<string, number>();

/** countParameters, remembered per descriptor: a service has few and sends them on every call. */
function cachedParameterCount(descriptor: string): number {
  let count = parameterCounts.get(descriptor);
  if (count === undefined) {
    count = countParameters(descriptor);
    if (parameterCounts.size >= 10_000) parameterCounts.clear();
    parameterCounts.set(descriptor, count);
  }
  return count;
}

/** The leading part of a request body that routing reads eagerly, as RoutingView holds it. */
interface RoutingHead {
  readonly dubboVersion: string;
  readonly path: string;
  readonly version: string;
  readonly method: string;
  readonly parameterTypes: string;
  readonly argumentCount: number;
}

// A direct-mapped cache of whole heads (the bytes of the five leading strings, up to the first
// argument) by their bytes: a consumer sends the same few heads over and over, and comparing one
// run of ~90 bytes costs about half of reading five strings through the string cache. Only heads
// read successfully are stored, and only when all five strings are in the compact forms; a hit
// compares every byte, so it yields exactly what reading the bytes would.
const HEAD_SLOTS = 512; // a power of two
const HEAD_MAX_LENGTH = 256;
const headBytes = new Uint8Array(HEAD_SLOTS * HEAD_MAX_LENGTH);
/** The same bytes as big-endian 32-bit words, for comparing four at a time. */
const headWords = new Uint32Array((HEAD_SLOTS * HEAD_MAX_LENGTH) >> 2);
const headLengths = new Int32Array(HEAD_SLOTS).fill(-1);
const heads: Array<RoutingHead | null> = new Array<RoutingHead | null>(HEAD_SLOTS).fill(null);

/**
 * Where the five leading strings of `body` would end if each is in a compact form (at most 1023
 * characters, one byte a character), with a hash of their lengths and some of their bytes; -1 when
 * they are not in compact forms, run past the body or past HEAD_MAX_LENGTH. Result: end * HEAD_SLOTS + slot.
 */
function headKey(bytes: Uint8Array, bodyStart: number, bodyEnd: number): number {
  const end = bodyEnd - bodyStart;
  let pos = 0;
  let hash = 0x811c9dc5;
  for (let n = 0; n < 5; n++) {
    if (pos + 1 >= end) return -1;
    const code = bytes[bodyStart + pos];
    let start: number;
    let length: number;
    if (code <= 0x1f) {
      start = pos + 1;
      length = code;
    } else if (code >= 0x30 && code <= 0x33) {
      start = pos + 2;
      length = ((code - 0x30) << 8) | bytes[bodyStart + pos + 1];
    } else {
      return -1;
    }
    pos = start + length;
    if (pos > end || pos > HEAD_MAX_LENGTH) return -1;
    hash = Math.imul(hash ^ length, 0x01000193);
    if (length > 0) {
      hash = Math.imul(hash ^ bytes[bodyStart + start], 0x01000193);
      hash = Math.imul(hash ^ bytes[bodyStart + start + (length >> 1)], 0x01000193);
      hash = Math.imul(hash ^ bytes[bodyStart + pos - 2], 0x01000193);
      hash = Math.imul(hash ^ bytes[bodyStart + pos - 1], 0x01000193);
    }
  }
  hash ^= hash >>> 13;
  return pos * HEAD_SLOTS + (hash & (HEAD_SLOTS - 1));
}

/** The cached head for the body starting at bytes[bodyStart], or null. */
function cachedHead(bytes: Uint8Array, bodyStart: number, key: number): RoutingHead | null {
  const slot = key & (HEAD_SLOTS - 1);
  const length = (key - slot) / HEAD_SLOTS;
  if (headLengths[slot] !== length || !sameHeadBytes(bytes, bodyStart, slot, length)) return null;
  lastSlot = slot;
  return heads[slot];
}

/**
 * The slot of the last head found or stored. A consumer's batch repeats one head, so the next
 * body is first compared with it alone: the five strings are self-delimiting, so a body whose
 * first bytes equal a stored head's bytes reads as that head, and no key need be computed.
 */
let lastSlot = 0;

/** The last head, when the body starting at bytes[bodyStart] (of `length` bytes) begins with its bytes. */
function lastHead(bytes: Uint8Array, bodyStart: number, length: number): RoutingHead | null {
  const slot = lastSlot;
  const headLength = headLengths[slot];
  return headLength >= 0 && headLength <= length && sameHeadBytes(bytes, bodyStart, slot, headLength) ? heads[slot] : null;
}

/** Whether bytes[bodyStart, bodyStart + length) equal the head stored in `slot`, compared four bytes at a time. */
function sameHeadBytes(bytes: Uint8Array, bodyStart: number, slot: number, length: number): boolean {
  let i = bodyStart;
  const wordsEnd = bodyStart + (length & ~3);
  for (let w = slot * (HEAD_MAX_LENGTH >> 2); i < wordsEnd; i += 4, w++) {
    if (uint32At(bytes, i) !== headWords[w]) return false;
  }
  const base = slot * HEAD_MAX_LENGTH - bodyStart;
  const end = bodyStart + length;
  for (; i < end; i++) if (headBytes[base + i] !== bytes[i]) return false;
  return true;
}

function rememberHead(body: Buffer, key: number, head: RoutingHead, argumentsOffset: number): void {
  const slot = key & (HEAD_SLOTS - 1);
  // A head with non-ASCII characters is longer than headKey assumed: not cached.
  if (argumentsOffset !== (key - slot) / HEAD_SLOTS) return;
  const base = slot * HEAD_MAX_LENGTH;
  headBytes.set(body.subarray(0, argumentsOffset), base);
  for (let w = 0; w < argumentsOffset >> 2; w++) {
    headWords[(base >> 2) + w] = uint32At(headBytes, base + 4 * w);
  }
  headLengths[slot] = argumentsOffset;
  heads[slot] = head;
  lastSlot = slot;
}

/**
 * What a proxy needs to route a request, read without decoding the arguments.
 *
 * Read at once (and validated, so a request too broken to route fails in readRoutingView): Dubbo
 * version, service path, version, method and parameter descriptor. Everything past the arguments
 * is read on first access and then kept: `group`, `attachmentsOffset`, `attachment(name)` and
 * `attachments` need the arguments skipped (done once, by walking their structure), so a proxy that
 * routes on path, version and method alone never pays for it. A malformed argument or attachments
 * map is therefore reported (as a CodecError) by the first of those accesses, not by readRoutingView.
 */
export class RoutingView {
  readonly dubboVersion: string;
  /** The service path: the interface name, as registered. */
  readonly path: string;
  readonly version: string;
  readonly method: string;
  /** The parameter descriptor, e.g. `Ljava/lang/String;I`. */
  readonly parameterTypes: string;
  /** Body offset of the first argument byte. */
  readonly argumentsOffset: number;
  /** The frame's bytes and where the body lies in them; `bodyView` is made only when something scans past the head. */
  private readonly source: Buffer;
  private readonly bodyStart: number;
  private readonly bodyEnd: number;
  private bodyView: Buffer | undefined;
  /** How many arguments the descriptor declares. */
  private readonly argumentCount: number;
  /** Body offset of the attachments map; -1 until the arguments were skipped. */
  private attachmentsAt = -1;
  /** Class definitions made by the arguments, which attachment values may refer to. */
  private argumentClasses: readonly number[] | null = null;
  private groupValue: string | undefined = undefined;
  private decodedAttachments: Attachments | undefined = undefined;

  /** The body is source[bodyStart, bodyEnd): a frame's bytes, read without a view of its body when the head is a cached one. */
  constructor(source: Buffer, bodyStart = 0, bodyEnd = source.length) {
    this.source = source;
    this.bodyStart = bodyStart;
    this.bodyEnd = bodyEnd;
    this.bodyView = bodyStart === 0 && bodyEnd === source.length ? source : undefined;
    let head = lastHead(source, bodyStart, bodyEnd - bodyStart);
    let key = 0;
    if (head === null) {
      key = headKey(source, bodyStart, bodyEnd);
      head = key < 0 ? null : cachedHead(source, bodyStart, key);
    }
    let argumentsOffset: number;
    if (head !== null) {
      argumentsOffset = headLengths[lastSlot];
    } else {
      const body = this.body;
      const scanner = new Scanner(body);
      const dubboVersion = scanner.readString();
      const path = scanner.readString();
      const version = scanner.readString();
      const method = scanner.readString();
      const parameterTypes = scanner.readString();
      argumentsOffset = scanner.pos;
      head = { dubboVersion, path, version, method, parameterTypes, argumentCount: cachedParameterCount(parameterTypes) };
      if (key >= 0) rememberHead(body, key, head, argumentsOffset);
    }
    this.dubboVersion = head.dubboVersion;
    this.path = head.path;
    this.version = head.version;
    this.method = head.method;
    this.parameterTypes = head.parameterTypes;
    this.argumentCount = head.argumentCount;
    this.argumentsOffset = argumentsOffset;
  }

  private get body(): Buffer {
    return (this.bodyView ??= this.source.subarray(this.bodyStart, this.bodyEnd));
  }

  /** Body offset of the attachments map (the body's length when it has none): skips the arguments on first use. */
  get attachmentsOffset(): number {
    if (this.attachmentsAt < 0) this.skipArguments();
    return this.attachmentsAt;
  }

  /** From the `group` attachment; '' when none. Skips the arguments and scans the attachments on first use. */
  get group(): string {
    if (this.groupValue === undefined) {
      const group = this.attachment('group');
      this.groupValue = typeof group === 'string' ? group : '';
    }
    return this.groupValue;
  }

  /** Every attachment, decoded on first use. */
  get attachments(): Attachments {
    if (this.decodedAttachments === undefined) {
      const scanner = this.attachmentsScanner();
      this.decodedAttachments = scanner.atEnd ? {} : (scanner.readStringMap(readAttachmentValue) ?? {});
    }
    return this.decodedAttachments;
  }

  /** One attachment, found without decoding the others. */
  attachment(name: string): unknown {
    if (this.decodedAttachments !== undefined) return this.decodedAttachments[name];
    return this.scanAttachment(this.attachmentsScanner(), name);
  }

  /** Skips the arguments; returns the scanner, at the attachments. */
  private skipArguments(): HessianScanner {
    const scanner = new Scanner(this.body, this.argumentsOffset);
    for (let i = 0; i < this.argumentCount; i++) scanner.skipValue();
    // A copy: the scanner goes on into the attachments, whose own class definitions must not join these.
    this.argumentClasses = scanner.classes === null ? null : scanner.classes.slice();
    this.attachmentsAt = scanner.pos;
    return scanner;
  }

  private attachmentsScanner(): HessianScanner {
    // The first time, the scanner that skipped the arguments goes on: one scanner, not two.
    if (this.attachmentsAt < 0) return this.skipArguments();
    return new Scanner(this.body, this.attachmentsAt, this.body.length, this.argumentClasses);
  }

  /** Walks the attachments map comparing keys as bytes; returns the value of `name`, or undefined. */
  private scanAttachment(scanner: HessianScanner, name: string): unknown {
    if (scanner.atEnd) return undefined;
    const code = scanner.peek();
    if (code === 0x4e) return undefined;
    if (code !== 0x48 && code !== 0x4d) {
      throw new CodecError('DUBBO_BAD_BODY', `request attachments at byte ${scanner.pos} are not a map (code 0x${code.toString(16)})`, {
        value: code,
        where: scanner.pos,
      });
    }
    // Let the map reader validate the whole map when a typed map shows up.
    if (code === 0x4d) return this.attachments[name];
    scanner.pos++;
    while (scanner.peek() !== 0x5a) {
      if (!scanner.isStringStart(scanner.peek())) scanner.skipValue(); // a key that is not a string
      else if (scanner.consumeStringEquals(name)) return scanner.isStringStart(scanner.peek()) ? scanner.readString() : readAttachmentValue(scanner);
      scanner.skipValue();
    }
    return undefined;
  }
}

/** Reads service path, version, method and descriptor at once; group and attachments lazily (see RoutingView). */
export function readRoutingView(body: Buffer): RoutingView {
  return new RoutingView(body);
}

/** readRoutingView for the body at source[bodyStart, bodyEnd), without making a view of it on the usual path. */
export function readRoutingViewAt(source: Buffer, bodyStart: number, bodyEnd: number): RoutingView {
  return new RoutingView(source, bodyStart, bodyEnd);
}

/** Decodes a hessian2 request body in full, arguments included. */
export function decodeRequestBody(body: Buffer): DubboRequest {
  const reader = new HessianReader(body);
  const dubboVersion = reader.readString();
  const path = reader.readString();
  const version = readOptionalString(reader);
  const method = reader.readString();
  const parameterTypes = reader.readString();
  const count = cachedParameterCount(parameterTypes);
  const args = new Array<unknown>(count);
  for (let i = 0; i < count; i++) args[i] = reader.read();
  let attachments: Attachments = {};
  if (reader.offset < body.length) {
    const at = reader.offset;
    const value = reader.read();
    if (value !== null && value !== undefined) {
      if (typeof value !== 'object' || Array.isArray(value)) {
        throw new CodecError('DUBBO_BAD_BODY', `request attachments at byte ${at} are not a map: ${preview(value)}`, { value, where: at });
      }
      attachments = value as Attachments;
    }
  }
  return { dubboVersion, path, version, method, parameterTypes, args, attachments };
}

function readOptionalString(reader: HessianReader): string {
  const at = reader.offset;
  const value = reader.read();
  if (value === null) return '';
  if (typeof value !== 'string') {
    throw new CodecError('HESSIAN_DECODE', `expected a hessian2 string at byte ${at}, got ${preview(value)}`, { value, where: at });
  }
  return value;
}

/**
 * Encodes a request frame. Like a Java consumer, it puts `path`, `interface` and `version` into
 * the attachments unless they are given.
 */
export function encodeRequest(request: RequestToEncode): Buffer {
  const version = request.version ?? '';
  const args = request.args ?? [];
  const expected = cachedParameterCount(request.parameterTypes);
  if (args.length !== expected) {
    throw new CodecError('HESSIAN_ENCODE', `descriptor ${preview(request.parameterTypes)} declares ${expected} parameters, got ${args.length} arguments`, {
      value: args.length,
    });
  }
  // The body is written after HEADER_LENGTH bytes of room, then the header into them: one copy.
  const frame = writeWithRoom(HEADER_LENGTH, (writer) => {
    writer
      .writeString(request.dubboVersion ?? DEFAULT_DUBBO_VERSION)
      .writeString(request.path)
      .writeString(version)
      .writeString(request.method)
      .writeString(request.parameterTypes);
    for (const arg of args) writer.write(arg);
    writer.write({ path: request.path, interface: request.path, version, ...request.attachments });
  });
  encodeHeader(
    {
      isRequest: true,
      twoWay: request.twoWay ?? true,
      event: false,
      serializationId: Serialization.HESSIAN2,
      status: 0,
      requestId: request.requestId,
      bodyLength: frame.length - HEADER_LENGTH,
    },
    frame,
  );
  return frame;
}

export interface Reencoding {
  requestId?: bigint;
  /** The complete new attachments map. Values must be strings, numbers, booleans or null. */
  attachments?: Attachments;
}

/**
 * Re-encodes a request frame for forwarding: a new request id and/or new attachments. The bytes
 * up to the attachments map (version, path, method, arguments) are copied untouched.
 */
export function reencodeRequest(frame: Frame, change: Reencoding, view?: RoutingView): Buffer {
  if (change.attachments === undefined) {
    const bytes = Buffer.from(frame.bytes);
    if (change.requestId !== undefined) writeRequestId(bytes, change.requestId);
    return bytes;
  }
  const routing = view ?? readRoutingView(frame.body);
  const tail = encodeAttachments(change.attachments);
  const prefixLength = routing.attachmentsOffset;
  const out = Buffer.allocUnsafe(HEADER_LENGTH + prefixLength + tail.length);
  encodeHeader({ ...frame.header, requestId: change.requestId ?? frame.header.requestId, bodyLength: prefixLength + tail.length }, out);
  frame.body.copy(out, HEADER_LENGTH, 0, prefixLength);
  tail.copy(out, HEADER_LENGTH + prefixLength);
  return out;
}

/**
 * Encodes an attachments map on its own. Only scalar values are allowed: an object would open a
 * class definition whose index could collide with the ones the untouched arguments already use.
 */
export function encodeAttachments(attachments: Attachments): Buffer {
  for (const [key, value] of Object.entries(attachments)) {
    if (value !== null && typeof value === 'object') {
      throw new CodecError('HESSIAN_ENCODE', `attachment ${key} must be a string, number, boolean or null to be re-encoded; got ${preview(value)}`, {
        value,
        where: key,
      });
    }
  }
  return writeWithRoom(0, (writer) => writer.write(attachments));
}

export function frameOf(header: FrameHeader, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LENGTH + body.length);
  encodeHeader(header, out);
  out.writeInt32BE(body.length, 12); // the length of `body`, whatever header.bodyLength says
  body.copy(out, HEADER_LENGTH);
  return out;
}
