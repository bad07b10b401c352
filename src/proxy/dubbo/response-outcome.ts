// How a provider's Dubbo response ended, as one of the data path's failure classes, read from the
// header and at most the first five bytes of the body: the value itself is never decoded.
import * as header from '../../dubbo-codec/header';
import * as statuses from '../../dubbo-codec/status';
import type { Outcome } from '../failure-class';

// Module-local copies (read once per response): where modules load as CommonJS, each read of an
// imported name is a property getter call.
const { FLAG_EVENT, HEADER_LENGTH, SERIALIZATION_MASK } = header;
const { DubboStatus, Serialization } = statuses;

// hessian2 writes the result type (0..5) as a one-byte compact int, 0x90 + n; a long-form int
// ('I' and four bytes) is accepted too.
const COMPACT_ZERO = 0x90;
const LONG_INT = 0x49;
const EXCEPTION = 0;
const EXCEPTION_WITH_ATTACHMENTS = 3;

/** The outcome of a whole response frame (header and body), or of the one at [start, end) of `buf`. */
export function responseOutcome(buf: Buffer, start = 0, end = buf.length): Outcome {
  const status = buf[start + 3];
  if (status === DubboStatus.OK) {
    const flags = buf[start + 2];
    const body = start + HEADER_LENGTH;
    if ((flags & FLAG_EVENT) !== 0 || (flags & SERIALIZATION_MASK) !== Serialization.HESSIAN2 || end <= body) return 'ok';
    const first = buf[body];
    let type = first - COMPACT_ZERO;
    if (first === LONG_INT && end >= body + 5) type = buf.readInt32BE(body + 1);
    return type === EXCEPTION || type === EXCEPTION_WITH_ATTACHMENTS ? 'application_exception' : 'ok';
  }
  switch (status) {
    case DubboStatus.SERVER_THREADPOOL_EXHAUSTED_ERROR:
      return 'upstream_overloaded';
    case DubboStatus.CLIENT_TIMEOUT:
    case DubboStatus.SERVER_TIMEOUT:
      return 'response_timeout';
    case DubboStatus.CHANNEL_INACTIVE:
      return 'reset';
    default:
      // 70 (a service error), 80 (sofa-rpc-node's business exceptions), 40/50/60/90: the
      // application or the call is at fault, not the instance's transport.
      return 'application_exception';
  }
}
