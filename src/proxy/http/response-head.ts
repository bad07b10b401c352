// The response head the bridge sends its caller, rebuilt from the upstream's parsed head: the
// upstream's hop-by-hop headers (and those its Connection header names) describe the bridge's
// connection to it, not the caller's, and the body's framing is chosen for the caller's HTTP
// version. Pure: fields in, head text and two decisions out.

/** Headers that describe one hop, never forwarded (RFC 9110 section 7.6.1, and RFC 2616's list). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);

/**
 * isHopByHop(lower), without hashing: header names arrive as new strings on every message, and
 * a set lookup would hash each one; comparing by length first rejects almost every name at once.
 */
export function isHopByHop(lower: string): boolean {
  switch (lower.length) {
    case 2:
      return lower === 'te';
    case 7:
      return lower === 'trailer' || lower === 'upgrade';
    case 10:
      return lower === 'connection' || lower === 'keep-alive';
    case 16:
      return lower === 'proxy-connection';
    case 17:
      return lower === 'transfer-encoding';
    case 18:
      return lower === 'proxy-authenticate';
    case 19:
      return lower === 'proxy-authorization';
    default:
      return false;
  }
}

/**
 * By name length: 1 where a response header may be hop-by-hop or Content-Length, the only names a
 * response head is rebuilt around; any other is passed on without a lower-cased copy made of it.
 */
const NEEDS_A_LOOK: Readonly<Record<number, 1>> = { 2: 1, 7: 1, 10: 1, 14: 1, 16: 1, 17: 1, 18: 1, 19: 1 };

/**
 * A header name in lower case, without making one for the spellings servers send (a lower-cased
 * copy costs a few hundred instructions, four times a response). Only the names a response head
 * is rebuilt around get here (NEEDS_A_LOOK): one comparison picks the usual spelling of each.
 */
export function lowerName(name: string): string {
  switch (name.length) {
    case 10:
      if ((name.charCodeAt(0) | 0x20) === 0x63 /* c */) {
        if (name === 'Connection' || name === 'connection') return 'connection';
      } else if (name === 'Keep-Alive' || name === 'keep-alive') return 'keep-alive';
      break;
    case 14:
      if (name === 'Content-Length' || name === 'content-length') return 'content-length';
      break;
    case 17:
      if (name === 'Transfer-Encoding' || name === 'transfer-encoding') return 'transfer-encoding';
      break;
  }
  return name.toLowerCase();
}

/** The connection options every hop understands: naming them in Connection strips nothing more. */
const PLAIN_CONNECTION_TOKENS = new Set(['close', 'keep-alive', 'upgrade']);

/** Where the head's decisions land (the exchange itself, so no object is made per response). */
export interface ResponseFraming {
  /** The body arrives de-chunked from the parser and goes to the caller chunked again. */
  rechunk: boolean;
  /** The caller's connection closes after this response (its own wish, or a close-delimited body). */
  closeAfter: boolean;
  /** The body's Content-Length when that alone frames it (no Transfer-Encoding), else -1. */
  contentLength: number;
}

/**
 * The head for a final (>= 200, not 101) response. `noBody`: a HEAD request's response, or a status
 * that never has one. `http10`: the caller spoke HTTP/1.0 and cannot read chunked bodies.
 */
export function finalResponseHead(
  out: ResponseFraming,
  status: number,
  message: string,
  fields: readonly string[],
  noBody: boolean,
  http10: boolean,
): string {
  let head = `HTTP/1.1 ${status} ${message}\r\n`;
  let transferEncoding = '';
  let connection = '';
  let length = -1;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i];
    if (!NEEDS_A_LOOK[name.length]) {
      head += `${name}: ${fields[i + 1]}\r\n`;
      continue;
    }
    const lower = lowerName(name);
    // For the usual spellings lowerName returns these very constants: the comparisons are quick.
    if (lower === 'content-length') {
      length = Number(fields[i + 1]);
      head += `${name}: ${fields[i + 1]}\r\n`;
      continue;
    }
    if (isHopByHop(lower)) {
      if (lower === 'transfer-encoding') transferEncoding = transferEncoding === '' ? fields[i + 1] : `${transferEncoding}, ${fields[i + 1]}`;
      else if (lower === 'connection') connection = connection === '' ? fields[i + 1] : `${connection},${fields[i + 1]}`;
      continue;
    }
    head += `${name}: ${fields[i + 1]}\r\n`;
  }
  if (connection !== '' && connection !== 'keep-alive' && connection !== 'close' && !PLAIN_CONNECTION_TOKENS.has(connection.toLowerCase())) head = withoutNamed(head, connection);
  out.rechunk = false;
  out.contentLength = transferEncoding === '' ? length : -1;
  const bodyless = noBody || status === 204 || status === 304;
  if (!bodyless) {
    if (transferEncoding !== '') {
      // The parser removes the chunked framing; the other codings (gzip ...) stay on the body.
      const codings = withoutChunked(transferEncoding);
      if (http10) {
        out.closeAfter = true;
        if (codings !== '') head += `transfer-encoding: ${codings}\r\n`;
      } else {
        out.rechunk = true;
        head += `transfer-encoding: ${codings === '' ? 'chunked' : `${codings}, chunked`}\r\n`;
      }
    } else if (length < 0) {
      // Delimited by the end of the upstream connection: chunked to a caller that can read it, so
      // its connection stays open; close-delimited to an HTTP/1.0 caller.
      if (http10) out.closeAfter = true;
      else {
        out.rechunk = true;
        head += 'transfer-encoding: chunked\r\n';
      }
    }
  }
  if (out.closeAfter) head += 'connection: close\r\n\r\n';
  else head += http10 ? 'connection: keep-alive\r\n\r\n' : '\r\n';
  return head;
}

/** The head of an interim (1xx other than 101) response; '' for an HTTP/1.0 caller, which must not get one. */
export function interimResponseHead(status: number, message: string, fields: readonly string[], http10: boolean): string {
  if (http10) return '';
  let head = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i < fields.length; i += 2) if (!isHopByHop(fields[i].toLowerCase())) head += `${fields[i]}: ${fields[i + 1]}\r\n`;
  return head + '\r\n';
}

/** The head of a 101: the upgrade it agreed to, on a connection that is now a tunnel. */
export function switchingProtocolsHead(message: string, fields: readonly string[]): string {
  let head = `HTTP/1.1 101 ${message}\r\n`;
  for (let i = 0; i < fields.length; i += 2) {
    const lower = fields[i].toLowerCase();
    if (lower === 'upgrade' || !isHopByHop(lower)) head += `${fields[i]}: ${fields[i + 1]}\r\n`;
  }
  return head + 'connection: upgrade\r\n\r\n';
}

/** The transfer codings without a final `chunked`. */
function withoutChunked(value: string): string {
  const codings = value.split(',').map((c) => c.trim()).filter((c) => c !== '');
  if (codings.length > 0 && codings[codings.length - 1].toLowerCase() === 'chunked') codings.pop();
  return codings.join(', ');
}

/** The head without the header lines a Connection header named (rare: usually only close or keep-alive). */
function withoutNamed(head: string, connection: string): string {
  let named: Set<string> | null = null;
  for (const token of connection.split(',')) {
    const name = token.trim().toLowerCase();
    if (name !== '' && !PLAIN_CONNECTION_TOKENS.has(name)) (named ??= new Set()).add(name);
  }
  if (named === null) return head;
  const lines = head.split('\r\n');
  const kept = [lines[0]];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (!named.has(line.slice(0, colon).toLowerCase())) kept.push(line);
  }
  return kept.join('\r\n') + '\r\n';
}
