// Dubbo response bodies: the six result types of status 20, the error strings of other statuses
// (including the status-80 string bodies that JavaScript providers send for business exceptions),
// and heartbeat and other event frames in both directions.
import { CodecError, preview } from '../errors';
import { FrameHeader, HEADER_LENGTH, encodeHeader } from './header';
import { HessianReader, writeWithRoom } from './hessian2';
import { Attachments, frameOf } from './request-codec';
import { DubboStatus, Serialization } from './status';

/** The type int that opens a status-20 response body. */
export const ResponseType = {
  EXCEPTION: 0,
  VALUE: 1,
  NULL: 2,
  EXCEPTION_WITH_ATTACHMENTS: 3,
  VALUE_WITH_ATTACHMENTS: 4,
  NULL_WITH_ATTACHMENTS: 5,
} as const;

/**
 * value / null: a normal result; exception: a Throwable thrown by the service (status 20);
 * error: any other status, with its message; event: a heartbeat reply or another event.
 */
export type ResponseKind = 'value' | 'null' | 'exception' | 'error' | 'event';

export interface DubboResponse {
  status: number;
  kind: ResponseKind;
  value?: unknown;
  exception?: unknown;
  errorMessage?: string;
  attachments: Attachments;
}

/** Decodes a hessian2 response body. */
export function decodeResponseBody(header: FrameHeader, body: Buffer): DubboResponse {
  const reader = new HessianReader(body);
  if (header.event) {
    return { status: header.status, kind: 'event', value: body.length === 0 ? null : reader.read(), attachments: {} };
  }
  if (header.status !== DubboStatus.OK) {
    // Java writes the message as a string; some JavaScript providers write other values here.
    const message = body.length === 0 ? '' : reader.read();
    return { status: header.status, kind: 'error', errorMessage: typeof message === 'string' ? message : preview(message, 4096), attachments: {} };
  }
  const typeAt = reader.offset;
  const type = reader.read();
  let response: DubboResponse;
  switch (type) {
    case ResponseType.VALUE:
    case ResponseType.VALUE_WITH_ATTACHMENTS:
      response = { status: header.status, kind: 'value', value: reader.read(), attachments: {} };
      break;
    case ResponseType.NULL:
    case ResponseType.NULL_WITH_ATTACHMENTS:
      response = { status: header.status, kind: 'null', value: null, attachments: {} };
      break;
    case ResponseType.EXCEPTION:
    case ResponseType.EXCEPTION_WITH_ATTACHMENTS:
      response = { status: header.status, kind: 'exception', exception: reader.read(), attachments: {} };
      break;
    default:
      throw new CodecError('DUBBO_BAD_BODY', `unknown Dubbo response type ${preview(type)} at byte ${typeAt}`, { value: type, where: typeAt });
  }
  if (type === ResponseType.VALUE_WITH_ATTACHMENTS || type === ResponseType.NULL_WITH_ATTACHMENTS || type === ResponseType.EXCEPTION_WITH_ATTACHMENTS) {
    const at = reader.offset;
    const attachments = reader.read();
    if (attachments !== null) {
      if (typeof attachments !== 'object' || Array.isArray(attachments)) {
        throw new CodecError('DUBBO_BAD_BODY', `response attachments at byte ${at} are not a map: ${preview(attachments)}`, { value: attachments, where: at });
      }
      response.attachments = attachments as Attachments;
    }
  }
  return response;
}

export interface ResponseToEncode {
  requestId: bigint;
  status?: number;
  /** Defaults from the other fields: error when status is not 20, else exception, value or null. */
  kind?: Exclude<ResponseKind, 'event'>;
  value?: unknown;
  /** A Java Throwable as a hessian.js typed object, or an Error / `{name?, message}` to wrap as one. */
  exception?: unknown;
  errorMessage?: string;
  /** Written with the result types 3/4/5 when present. */
  attachments?: Attachments;
}

/** Encodes a response frame. */
export function encodeResponse(response: ResponseToEncode): Buffer {
  const status = response.status ?? DubboStatus.OK;
  const kind = response.kind ?? inferKind(response, status);
  // The body is written after HEADER_LENGTH bytes of room, then the header into them: one copy.
  const frame = writeWithRoom(HEADER_LENGTH, (writer) => {
    if (kind === 'error' || status !== DubboStatus.OK) {
      writer.writeString(response.errorMessage ?? '');
      return;
    }
    const withAttachments = response.attachments !== undefined;
    if (kind === 'value') {
      writer.write(withAttachments ? ResponseType.VALUE_WITH_ATTACHMENTS : ResponseType.VALUE).write(response.value);
    } else if (kind === 'null') {
      writer.write(withAttachments ? ResponseType.NULL_WITH_ATTACHMENTS : ResponseType.NULL);
    } else {
      writer.write(withAttachments ? ResponseType.EXCEPTION_WITH_ATTACHMENTS : ResponseType.EXCEPTION).write(javaThrowable(response.exception));
    }
    if (withAttachments) writer.write(response.attachments);
  });
  const header = responseHeader(response.requestId, status, false);
  header.bodyLength = frame.length - HEADER_LENGTH;
  encodeHeader(header, frame);
  return frame;
}

function inferKind(response: ResponseToEncode, status: number): Exclude<ResponseKind, 'event'> {
  if (status !== DubboStatus.OK) return 'error';
  if (response.exception !== undefined) return 'exception';
  return response.value === undefined || response.value === null ? 'null' : 'value';
}

/** Wraps an Error or `{name?, message}` as a java.lang.RuntimeException hessian.js can write. */
export function javaThrowable(exception: unknown): unknown {
  if (exception !== null && typeof exception === 'object' && '$class' in exception) return exception;
  const source = (exception ?? {}) as { name?: unknown; message?: unknown };
  const className = typeof source.name === 'string' && source.name.includes('.') ? source.name : 'java.lang.RuntimeException';
  return {
    $class: className,
    $: {
      detailMessage: typeof source.message === 'string' ? source.message : String(exception),
      stackTrace: { $class: '[java.lang.StackTraceElement', $: [] },
      suppressedExceptions: { $class: 'java.util.List', $: [] },
    },
  };
}

function responseHeader(requestId: bigint, status: number, event: boolean): FrameHeader {
  return { isRequest: false, twoWay: false, event, serializationId: Serialization.HESSIAN2, status, requestId, bodyLength: 0 };
}

const HESSIAN_NULL = Buffer.from([0x4e]);

/** A heartbeat: an event frame whose body is hessian null. Requests are two-way; replies status 20. */
export function encodeHeartbeat(requestId: bigint, isRequest: boolean, serializationId: number = Serialization.HESSIAN2): Buffer {
  return frameOf(
    isRequest
      ? { isRequest: true, twoWay: true, event: true, serializationId, status: 0, requestId, bodyLength: 0 }
      : { ...responseHeader(requestId, DubboStatus.OK, true), serializationId },
    HESSIAN_NULL,
  );
}

/** True for a heartbeat frame: an event whose body is empty or hessian null. */
export function isHeartbeat(header: FrameHeader, body: Buffer): boolean {
  return header.event && (body.length === 0 || (body.length === 1 && body[0] === 0x4e));
}
