// A degradation filter's fallback answer in HTTP's form: 204 for a null, 200 with the value as JSON,
// the configured status with a JSON error body for an exception, or the configured static response.
// Every one says it was degraded (x-mesh-bridge-degraded names the rule's message). Each answer's
// bytes are built once per framing (keep-alive or close).
import { STATUS_CODES } from 'node:http';
import type { FallbackAnswer } from '../filters/filter';

interface Encoded {
  status: number;
  keepAlive: Buffer;
  close: Buffer;
  /** Where the body starts in each: a HEAD request gets the head alone. */
  keepAliveHead: number;
  closeHead: number;
}

const encoded = new WeakMap<FallbackAnswer, Map<string, Encoded>>();
/** Distinct messages remembered per answer (a message names the rule and, on breaker-open, the breaker key). */
const MAX_MESSAGES = 64;

function parts(answer: FallbackAnswer): { status: number; headers: Record<string, string>; body: string } {
  switch (answer.kind) {
    case 'null':
      return { status: 204, headers: {}, body: '' };
    case 'value':
      return { status: 200, headers: { 'content-type': 'application/json' }, body: answer.json };
    case 'exception':
      return {
        status: answer.httpStatus,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ error: { code: 'HTTP_DEGRADED', class: answer.className, message: answer.message } }),
      };
    case 'http':
      return { status: answer.status, headers: { ...answer.headers }, body: answer.body };
  }
}

function build(answer: FallbackAnswer, message: string): Encoded {
  const { status, headers, body } = parts(answer);
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  // The message is the sidecar's own (rule names from the config): kept to printable ASCII.
  head += `x-mesh-bridge-degraded: ${message.replace(/[^\x20-\x7e]/g, '?').slice(0, 512)}\r\n`;
  if (status !== 204 && status !== 304) head += `content-length: ${Buffer.byteLength(body)}\r\n`;
  const bodyBytes = Buffer.from(status === 204 || status === 304 ? '' : body);
  const keepAliveHead = Buffer.from(`${head}\r\n`, 'latin1');
  const closeHead = Buffer.from(`${head}connection: close\r\n\r\n`, 'latin1');
  return {
    status,
    keepAlive: Buffer.concat([keepAliveHead, bodyBytes]),
    close: Buffer.concat([closeHead, bodyBytes]),
    keepAliveHead: keepAliveHead.length,
    closeHead: closeHead.length,
  };
}

/** The response for `answer`; `message` (the local reply's) goes into x-mesh-bridge-degraded. A HEAD request gets no body. */
export function httpFallbackResponse(answer: FallbackAnswer, message: string, close: boolean, head = false): { status: number; bytes: Buffer } {
  let byMessage = encoded.get(answer);
  if (byMessage === undefined) encoded.set(answer, (byMessage = new Map()));
  let built = byMessage.get(message);
  if (built === undefined) {
    built = build(answer, message);
    if (byMessage.size >= MAX_MESSAGES) byMessage.clear();
    byMessage.set(message, built);
  }
  const bytes = close ? built.close : built.keepAlive;
  return { status: built.status, bytes: head ? bytes.subarray(0, close ? built.closeHead : built.keepAliveHead) : bytes };
}
