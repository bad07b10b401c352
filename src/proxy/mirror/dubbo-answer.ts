// A Dubbo answer as the side-by-side run compares it: the response frame decoded (dubbo-codec) to
// its result value, its exception (class and message) or its error status and message. Two answers
// are equal when their kinds match and the values are deeply equal, ignore rules left out.
import { DubboStatus, HEADER_LENGTH, decodeHeader, decodeResponseBody } from '../../dubbo-codec';
import type { JsonPath } from './json-path';
import { Difference, firstDifference } from './value-diff';

/** What a decoded answer is compared as. Status-80 bodies (sofa-rpc-node's exceptions) are errors. */
export type DubboAnswer = { kind: 'value'; value: unknown } | { kind: 'exception'; exception: unknown } | { kind: 'error'; status: number; message: string };

/** Decodes a whole response frame (header and body); throws a CodecError when it cannot. */
export function dubboAnswer(frame: Buffer): DubboAnswer {
  const header = decodeHeader(frame);
  const response = decodeResponseBody(header, frame.subarray(HEADER_LENGTH, HEADER_LENGTH + header.bodyLength));
  if (header.status !== DubboStatus.OK) return { kind: 'error', status: header.status, message: response.errorMessage ?? '' };
  if (response.kind === 'exception') return { kind: 'exception', exception: throwableOf(response.exception) };
  return { kind: 'value', value: response.value ?? null };
}

/** The first difference between two answers; ignore paths are rooted at the result value (`$.field`). */
export function dubboAnswerDifference(primary: DubboAnswer, shadow: DubboAnswer, ignore: readonly JsonPath[]): Difference | null {
  if (primary.kind !== shadow.kind) return { path: ['(kind)'], primary: describe(primary), shadow: describe(shadow) };
  if (primary.kind === 'value') return firstDifference(primary.value, (shadow as typeof primary).value, ignore);
  if (primary.kind === 'exception') return firstDifference(primary.exception, (shadow as typeof primary).exception, ignore);
  const other = shadow as typeof primary;
  if (primary.status !== other.status) return { path: ['(status)'], primary: primary.status, shadow: other.status };
  return primary.message === other.message ? null : { path: ['(message)'], primary: primary.message, shadow: other.message };
}

/**
 * A Throwable as compared: class and message. hessian.js makes an Error (class in `name`) only of
 * classes named *Exception; others arrive as their fields, with the message in `detailMessage`.
 */
function throwableOf(exception: unknown): { class: string; message: unknown } {
  if (exception instanceof Error) return { class: exception.name, message: exception.message };
  const fields = (exception ?? {}) as { detailMessage?: unknown; message?: unknown };
  return { class: '(a Throwable not named *Exception)', message: fields.detailMessage ?? fields.message ?? null };
}

function describe(answer: DubboAnswer): unknown {
  if (answer.kind === 'value') return answer.value;
  if (answer.kind === 'exception') return answer.exception;
  return `status ${answer.status}: ${answer.message}`;
}
