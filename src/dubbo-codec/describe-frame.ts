// One decoded frame as a plain record for operators (the `decode` command) and logs. Values may
// still hold bigint, Buffer or Date; turn them into JSON with toJsonValue.
import { Frame } from './frame-decoder';
import { decodeRequestBody } from './request-codec';
import { decodeResponseBody, isHeartbeat } from './response-codec';
import { Serialization, serializationName, statusName } from './status';

export type FrameKind = 'request' | 'response' | 'heartbeat' | 'event';

export interface FrameDescription {
  offset: number;
  requestId: bigint;
  kind: FrameKind;
  /** request, or response when the frame answers one. */
  direction: 'request' | 'response';
  twoWay: boolean;
  serialization: string;
  status?: number;
  statusName?: string;
  bodyLength: number;
  service?: string;
  version?: string;
  group?: string;
  method?: string;
  /** The parameter descriptor as sent, e.g. `Ljava/lang/String;I`. */
  parameterTypes?: string;
  arguments?: unknown[];
  attachments?: Record<string, unknown>;
  result?: unknown;
  exception?: unknown;
  errorMessage?: string;
  /** Event frames other than heartbeats (e.g. Dubbo's readonly event). */
  event?: unknown;
  /** Set when the body is in a serialization this codec does not decode. */
  note?: string;
}

/** Decodes a frame in full. Throws a CodecError when its body is not valid. */
export function describeFrame(frame: Frame): FrameDescription {
  const { header, body } = frame;
  const heartbeat = isHeartbeat(header, body);
  const description: FrameDescription = {
    offset: frame.offset,
    requestId: header.requestId,
    kind: heartbeat ? 'heartbeat' : header.event ? 'event' : header.isRequest ? 'request' : 'response',
    direction: header.isRequest ? 'request' : 'response',
    twoWay: header.isRequest ? header.twoWay : false,
    serialization: serializationName(header.serializationId),
    bodyLength: header.bodyLength,
  };
  if (!header.isRequest) {
    description.status = header.status;
    description.statusName = statusName(header.status);
  }
  if (heartbeat) return description;
  if (header.serializationId !== Serialization.HESSIAN2) {
    description.note = `body not decoded: serialization ${description.serialization} (id ${header.serializationId}) is not supported`;
    return description;
  }
  if (header.event) {
    description.event = decodeResponseBody({ ...header, isRequest: false }, body).value;
    return description;
  }
  if (header.isRequest) {
    const request = decodeRequestBody(body);
    const group = request.attachments.group;
    Object.assign(description, {
      service: request.path,
      version: request.version,
      group: typeof group === 'string' ? group : '',
      method: request.method,
      parameterTypes: request.parameterTypes,
      arguments: request.args,
      attachments: request.attachments,
    });
    return description;
  }
  const response = decodeResponseBody(header, body);
  description.attachments = response.attachments;
  if (response.kind === 'value' || response.kind === 'null') description.result = response.value ?? null;
  else if (response.kind === 'exception') description.exception = response.exception;
  else description.errorMessage = response.errorMessage;
  return description;
}
