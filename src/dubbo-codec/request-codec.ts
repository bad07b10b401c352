// Dubbo request bodies: the routing view (read without decoding arguments), full decode, encode,
// and re-encoding with a new request id and attachments while the argument bytes travel untouched.
import { CodecError, preview } from '../errors';
import { Frame } from './frame-decoder';
import { FrameHeader, HEADER_LENGTH, encodeHeader, writeRequestId } from './header';
import { HessianReader, HessianWriter } from './hessian2';
import { HessianScanner } from './hessian2-scanner';
import { Serialization } from './status';

export const DEFAULT_DUBBO_VERSION = '2.0.2';

export type Attachments = Record<string, unknown>;

/** What a proxy needs to route a request, read without touching the arguments. */
export interface RoutingView {
  dubboVersion: string;
  /** The service path: the interface name, as registered. */
  path: string;
  version: string;
  /** From the `group` attachment; '' when none. */
  group: string;
  method: string;
  /** The parameter descriptor, e.g. `Ljava/lang/String;I`. */
  parameterTypes: string;
  attachments: Attachments;
  /** Body offsets of the first argument byte and of the attachments map. */
  argumentsOffset: number;
  attachmentsOffset: number;
}

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

/** How many parameters a descriptor such as `Ljava/lang/String;[IJ` declares. */
export function countParameters(descriptor: string): number {
  let count = 0;
  for (let i = 0; i < descriptor.length; i++) {
    let c = descriptor.charCodeAt(i);
    while (c === 0x5b /* [ */) c = descriptor.charCodeAt(++i);
    if (c === 0x4c /* L */) {
      const end = descriptor.indexOf(';', i);
      if (end < 0) {
        throw new CodecError('DUBBO_BAD_DESCRIPTOR', `unterminated class name in parameter descriptor ${preview(descriptor)} at ${i}`, {
          value: descriptor,
          where: i,
        });
      }
      i = end;
    } else if (Number.isNaN(c) || 'ZBCDFIJSV'.indexOf(descriptor[i]) < 0) {
      throw new CodecError('DUBBO_BAD_DESCRIPTOR', `bad parameter descriptor ${preview(descriptor)} at ${i}`, { value: descriptor, where: i });
    }
    count++;
  }
  return count;
}

/** Values other than strings inside an attachments map fall back to the full decoder. */
function readAttachmentValue(scanner: HessianScanner): unknown {
  const reader = new HessianReader(scanner.buf, scanner.pos);
  const value = reader.read();
  scanner.pos = reader.offset;
  return value;
}

/** Reads service, version, group, method and attachments without decoding a single argument. */
export function readRoutingView(body: Buffer): RoutingView {
  const scanner = new HessianScanner(body);
  const dubboVersion = scanner.readString();
  const path = scanner.readString();
  const version = scanner.readString();
  const method = scanner.readString();
  const parameterTypes = scanner.readString();
  const argumentsOffset = scanner.pos;
  const count = countParameters(parameterTypes);
  for (let i = 0; i < count; i++) scanner.skipValue();
  const attachmentsOffset = scanner.pos;
  const attachments = scanner.atEnd ? {} : (scanner.readStringMap(readAttachmentValue) ?? {});
  const group = attachments.group;
  return {
    dubboVersion,
    path,
    version,
    group: typeof group === 'string' ? group : '',
    method,
    parameterTypes,
    attachments,
    argumentsOffset,
    attachmentsOffset,
  };
}

/** Decodes a hessian2 request body in full, arguments included. */
export function decodeRequestBody(body: Buffer): DubboRequest {
  const reader = new HessianReader(body);
  const dubboVersion = reader.readString();
  const path = reader.readString();
  const version = readOptionalString(reader);
  const method = reader.readString();
  const parameterTypes = reader.readString();
  const count = countParameters(parameterTypes);
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
  const writer = new HessianWriter()
    .writeString(request.dubboVersion ?? DEFAULT_DUBBO_VERSION)
    .writeString(request.path)
    .writeString(version)
    .writeString(request.method)
    .writeString(request.parameterTypes);
  const args = request.args ?? [];
  const expected = countParameters(request.parameterTypes);
  if (args.length !== expected) {
    throw new CodecError('HESSIAN_ENCODE', `descriptor ${preview(request.parameterTypes)} declares ${expected} parameters, got ${args.length} arguments`, {
      value: args.length,
    });
  }
  for (const arg of args) writer.write(arg);
  writer.write({ path: request.path, interface: request.path, version, ...request.attachments });
  const body = writer.toBuffer();
  return frameOf(
    {
      isRequest: true,
      twoWay: request.twoWay ?? true,
      event: false,
      serializationId: Serialization.HESSIAN2,
      status: 0,
      requestId: request.requestId,
      bodyLength: body.length,
    },
    body,
  );
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
  return new HessianWriter().write(attachments).toBuffer();
}

export function frameOf(header: FrameHeader, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LENGTH + body.length);
  encodeHeader({ ...header, bodyLength: body.length }, out);
  body.copy(out, HEADER_LENGTH);
  return out;
}
