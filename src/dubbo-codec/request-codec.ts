// Dubbo request bodies: the routing view (read without decoding arguments), full decode, encode,
// and re-encoding with a new request id and attachments while the argument bytes travel untouched.
import { CodecError, preview } from '../errors';
import { Frame } from './frame-decoder';
import { FrameHeader, HEADER_LENGTH, encodeHeader, writeRequestId } from './header';
import { HessianReader, writeWithRoom } from './hessian2';
import { countParameters } from './parameter-types';
import { HessianScanner } from './hessian2-scanner';
import { Serialization } from './status';

export const DEFAULT_DUBBO_VERSION = '2.0.2';

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

/**
 * What a proxy needs to route a request, read without decoding the arguments: service path,
 * version, method and group are read at once; the other attachments only when asked for.
 */
export class RoutingView {
  readonly dubboVersion: string;
  /** The service path: the interface name, as registered. */
  readonly path: string;
  readonly version: string;
  readonly method: string;
  /** The parameter descriptor, e.g. `Ljava/lang/String;I`. */
  readonly parameterTypes: string;
  /** From the `group` attachment; '' when none. */
  readonly group: string;
  /** Body offsets of the first argument byte and of the attachments map. */
  readonly argumentsOffset: number;
  readonly attachmentsOffset: number;
  private readonly body: Buffer;
  private decodedAttachments: Attachments | undefined;

  constructor(body: Buffer) {
    const scanner = new HessianScanner(body);
    this.body = body;
    this.dubboVersion = scanner.readString();
    this.path = scanner.readString();
    this.version = scanner.readString();
    this.method = scanner.readString();
    this.parameterTypes = scanner.readString();
    this.argumentsOffset = scanner.pos;
    const count = cachedParameterCount(this.parameterTypes);
    for (let i = 0; i < count; i++) scanner.skipValue();
    this.attachmentsOffset = scanner.pos;
    const group = this.scanAttachment(scanner, 'group');
    this.group = typeof group === 'string' ? group : '';
  }

  /** Every attachment, decoded on first use. */
  get attachments(): Attachments {
    if (this.decodedAttachments === undefined) {
      const scanner = new HessianScanner(this.body, this.attachmentsOffset);
      this.decodedAttachments = scanner.atEnd ? {} : (scanner.readStringMap(readAttachmentValue) ?? {});
    }
    return this.decodedAttachments;
  }

  /** One attachment, found without decoding the others. */
  attachment(name: string): unknown {
    if (this.decodedAttachments !== undefined) return this.decodedAttachments[name];
    return this.scanAttachment(new HessianScanner(this.body, this.attachmentsOffset), name);
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
    // Let the map reader validate the whole map when a typed map or an odd key shows up.
    if (code === 0x4d) return this.attachments[name];
    scanner.pos++;
    while (scanner.peek() !== 0x5a) {
      const found = scanner.isStringStart(scanner.peek()) ? scanner.consumeStringEquals(name) : (scanner.skipValue(), false);
      if (found) return scanner.isStringStart(scanner.peek()) ? scanner.readString() : readAttachmentValue(scanner);
      scanner.skipValue();
    }
    return undefined;
  }
}

/** Reads service, version, group, method and attachments without decoding a single argument. */
export function readRoutingView(body: Buffer): RoutingView {
  return new RoutingView(body);
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
