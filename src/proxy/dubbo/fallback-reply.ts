// A degradation filter's fallback answer in Dubbo's form: a status-20 response the consumer decodes
// as the method's result (a null, a hessian2 value) or as its exception (RESPONSE_WITH_EXCEPTION
// carrying a Throwable of the configured class and message). Each answer is encoded once; a reply
// costs a copy of those bytes with the consumer's request id written in.
import { encodeResponse, javaThrowable } from '../../dubbo-codec';
import { DubboStatus } from '../../dubbo-codec/status';
import type { FallbackAnswer } from '../filters/filter';

const encoded = new WeakMap<FallbackAnswer, Buffer>();

function encode(answer: FallbackAnswer): Buffer {
  switch (answer.kind) {
    case 'null':
      return encodeResponse({ requestId: 0n, kind: 'null' });
    case 'value':
      return encodeResponse({ requestId: 0n, kind: 'value', value: answer.value });
    case 'exception':
      return encodeResponse({ requestId: 0n, kind: 'exception', exception: javaThrowable({ name: answer.className, message: answer.message }) });
    case 'http':
      // A static HTTP response has no Dubbo form (the degrade filter never offers one to Dubbo).
      return encodeResponse({ requestId: 0n, status: DubboStatus.SERVICE_ERROR, errorMessage: 'mesh-bridge: an HTTP fallback answer cannot be sent to a Dubbo consumer' });
  }
}

/** The response frame for `answer`, with the consumer's request id (both halves as it sent them). */
export function dubboFallbackFrame(answer: FallbackAnswer, idHigh: number, idLow: number): Buffer {
  let template = encoded.get(answer);
  if (template === undefined) encoded.set(answer, (template = encode(answer)));
  const frame = Buffer.allocUnsafe(template.length);
  template.copy(frame);
  frame.writeUInt32BE(idHigh, 4);
  frame.writeUInt32BE(idLow, 8);
  return frame;
}
