// The heads nearly every peer sends, recognised without Node's parser.
// - Responses: HTTP/1.1, a final status that has a body, framed by one Content-Length, and no
//   hop-by-hop header other than Connection (keep-alive or close) and Keep-Alive. Such a head goes
//   to the caller as the upstream's own bytes with those two lines cut out: no parser call, no
//   header strings, no head rebuilt.
// - Requests: HTTP/1.1 without a body (no Content-Length, no Transfer-Encoding), one Host, an
//   origin-form target, and no header the listener rewrites (X-Forwarded-*, the hops count) or
//   refuses (Upgrade, Proxy-*, TE, Trailer). Its header lines go upstream as the caller's bytes.
//
// The grammar here is narrower than HTTP's, never wider: a head outside it (chunked, 1xx, 101, 204,
// 304, HTTP/1.0, a repeated Content-Length, a folded line, a byte outside printable ASCII and tab,
// a head split across reads ...) is left to the parser and handled as before (response-head.ts,
// http-listener.ts).
//
// The functions work on the shared read buffer (read-buffer.ts), the only place upstream bytes
// are read into, and not on a buffer passed in: optimised code then knows the buffer and checks
// each byte with about half the instructions (3,800 instead of 5,400 for node:http's usual head,
// counted under callgrind). They are otherwise pure: bytes in, decisions out.
import { MAX_HEADER_SIZE } from './http-parser';
import { READ_BUFFER } from './read-buffer';

/** False with MESH_BRIDGE_PLAIN_HEADS=0: every head goes through the parser, as before this file. */
export const PLAIN_HEADS = process.env.MESH_BRIDGE_PLAIN_HEADS !== '0';

/** A constant the compiler can see (an imported binding is read from its module on each use). */
const BYTES: Uint8Array = READ_BUFFER;

/** What a plain head says; one object is reused for every head of a kind (see newPlainHead). */
export interface PlainHead {
  /** A response's status. */
  status: number;
  /** A response body's length, from its one Content-Length header. */
  contentLength: number;
  /** The peer said Connection: close: its connection ends with this message. */
  close: boolean;
  /** Lines to cut out of the head (Connection, Keep-Alive): [start, end) pairs, in order, adjacent ones merged. */
  readonly gaps: Int32Array;
  gapCount: number;
  /** A request's method: one of methodAt's names (a constant string, not one made from the bytes). */
  method: string;
  /** A request's target, `[targetStart, targetEnd)`. */
  targetStart: number;
  targetEnd: number;
  /** Where a request's first header line starts (its request line ends just before). */
  headersStart: number;
  /** A request's one Host header's value, trimmed. */
  hostStart: number;
  hostEnd: number;
}

/** More hop-by-hop lines than this and the head is left to the parser. */
const MAX_GAPS = 4;

export function newPlainHead(): PlainHead {
  return { status: 0, contentLength: 0, close: false, gaps: new Int32Array(MAX_GAPS * 2), gapCount: 0, method: '', targetStart: 0, targetEnd: 0, headersStart: 0, hostStart: 0, hostEnd: 0 };
}

/** RFC 9110 tchar: the bytes a header name may hold. */
const TCHAR = new Uint8Array(256);
for (let b = 0x21; b <= 0x7e; b++) if (!'"(),/:;<=>?@[\\]{}'.includes(String.fromCharCode(b))) TCHAR[b] = 1;
/** The bytes a plain request target may hold: RFC 3986's unreserved, sub-delims, ':', '@', '/', '?' and '%'. */
const TARGET = new Uint8Array(256);
for (let b = 0x21; b <= 0x7e; b++) if (/[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]/.test(String.fromCharCode(b))) TARGET[b] = 1;

/** Not a byte a header value or reason phrase may hold here (HTAB, SP and VCHAR may; obs-text may not). */
function notText(b: number): boolean {
  return b < 0x20 ? b !== 0x09 : b > 0x7e;
}

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;

/** `BYTES[from, to)` spells `lower` in any case (`lower` is lower-case letters and '-'). */
function spells(from: number, to: number, lower: string): boolean {
  if (to - from !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) if ((BYTES[from + i] | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/**
 * Reads a response head that starts at `READ_BUFFER[from]`. Returns where it ends (just past its
 * CRLFCRLF) when the whole head lies in `READ_BUFFER[from, to)` and is plain, filling `out`; -1
 * when it is not plain or not complete there: the parser reads it then, from the same byte.
 */
export function scanPlainHead(from: number, to: number, out: PlainHead): number {
  const bytes = BYTES;
  // Status line: "HTTP/1.1 " 3DIGIT SP reason CRLF.
  let i = from;
  if (to - from < 17) return -1;
  if (
    bytes[i] !== 0x48 || bytes[i + 1] !== 0x54 || bytes[i + 2] !== 0x54 || bytes[i + 3] !== 0x50 ||
    bytes[i + 4] !== 0x2f || bytes[i + 5] !== 0x31 || bytes[i + 6] !== 0x2e || bytes[i + 7] !== 0x31 || bytes[i + 8] !== SP
  ) {
    return -1;
  }
  const d0 = bytes[i + 9] - 0x30;
  const d1 = bytes[i + 10] - 0x30;
  const d2 = bytes[i + 11] - 0x30;
  if (d0 < 2 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9 || bytes[i + 12] !== SP) return -1;
  const status = d0 * 100 + d1 * 10 + d2;
  if (status === 204 || status === 304) return -1;
  i += 13;
  while (i < to && !notText(bytes[i])) i++;
  if (i + 1 >= to || bytes[i] !== CR || bytes[i + 1] !== LF) return -1;
  i += 2;

  out.status = status;
  return scanHeaderLines(from, i, to, out, false);
}

/** The request methods a plain request may use, by their bytes (CONNECT, TRACE and others go to the parser). */
function methodAt(i: number, to: number): string {
  const bytes = BYTES;
  if (i + 8 > to) return '';
  switch (bytes[i]) {
    case 0x47: // G
      return bytes[i + 1] === 0x45 && bytes[i + 2] === 0x54 && bytes[i + 3] === SP ? 'GET' : '';
    case 0x48: // H
      return bytes[i + 1] === 0x45 && bytes[i + 2] === 0x41 && bytes[i + 3] === 0x44 && bytes[i + 4] === SP ? 'HEAD' : '';
    case 0x50: // P
      if (bytes[i + 1] === 0x4f) return bytes[i + 2] === 0x53 && bytes[i + 3] === 0x54 && bytes[i + 4] === SP ? 'POST' : '';
      if (bytes[i + 1] === 0x55) return bytes[i + 2] === 0x54 && bytes[i + 3] === SP ? 'PUT' : '';
      return bytes[i + 1] === 0x41 && bytes[i + 2] === 0x54 && bytes[i + 3] === 0x43 && bytes[i + 4] === 0x48 && bytes[i + 5] === SP ? 'PATCH' : '';
    case 0x44: // D
      return bytes[i + 1] === 0x45 && bytes[i + 2] === 0x4c && bytes[i + 3] === 0x45 && bytes[i + 4] === 0x54 && bytes[i + 5] === 0x45 && bytes[i + 6] === SP ? 'DELETE' : '';
    case 0x4f: // O
      return bytes[i + 1] === 0x50 && bytes[i + 2] === 0x54 && bytes[i + 3] === 0x49 && bytes[i + 4] === 0x4f && bytes[i + 5] === 0x4e && bytes[i + 6] === 0x53 && bytes[i + 7] === SP ? 'OPTIONS' : '';
    default:
      return '';
  }
}

/**
 * Reads a request head that starts at `READ_BUFFER[from]`, as scanPlainHead does a response's:
 * where it ends when it is plain and whole in `[from, to)`, filling `out`; else -1.
 */
export function scanPlainRequest(from: number, to: number, out: PlainHead): number {
  const bytes = BYTES;
  const method = methodAt(from, to);
  if (method === '') return -1;
  let i = from + method.length + 1;
  // origin-form target, then " HTTP/1.1" CRLF
  const targetStart = i;
  if (bytes[i] !== 0x2f /* / */) return -1;
  while (i < to && TARGET[bytes[i]] === 1) i++;
  const targetEnd = i;
  if (i + 10 >= to) return -1;
  if (
    bytes[i] !== SP || bytes[i + 1] !== 0x48 || bytes[i + 2] !== 0x54 || bytes[i + 3] !== 0x54 || bytes[i + 4] !== 0x50 ||
    bytes[i + 5] !== 0x2f || bytes[i + 6] !== 0x31 || bytes[i + 7] !== 0x2e || bytes[i + 8] !== 0x31 || bytes[i + 9] !== CR || bytes[i + 10] !== LF
  ) {
    return -1;
  }
  i += 11;
  out.method = method;
  out.targetStart = targetStart;
  out.targetEnd = targetEnd;
  out.headersStart = i;
  return scanHeaderLines(from, i, to, out, true);
}

/**
 * Reads the header lines of a head that starts at `from`, from `i` to the empty line that ends it,
 * and fills `out`'s framing fields. Returns where the head ends, or -1 when it is not plain (see the
 * file's top) or not whole before `to`. Both kinds refuse the hop-by-hop headers they would have to
 * rewrite; a response needs its one Content-Length, a request its one Host and no body.
 */
function scanHeaderLines(from: number, i: number, to: number, out: PlainHead, request: boolean): number {
  const bytes = BYTES;
  let contentLength = -1;
  let close = false;
  let hostStart = -1;
  let hostEnd = -1;
  let gapCount = 0;
  const gaps = out.gaps;
  for (;;) {
    if (i + 1 >= to) return -1;
    if (bytes[i] === CR) {
      if (bytes[i + 1] !== LF) return -1;
      i += 2;
      break;
    }
    const lineStart = i;
    while (i < to && TCHAR[bytes[i]] === 1) i++;
    const nameEnd = i;
    if (nameEnd === lineStart || i >= to || bytes[i] !== 0x3a /* : */) return -1;
    i++;
    while (i < to && (bytes[i] === SP || bytes[i] === HTAB)) i++;
    const valueStart = i;
    while (i < to && !notText(bytes[i])) i++;
    if (i + 1 >= to || bytes[i] !== CR || bytes[i + 1] !== LF) return -1;
    // Trailing spaces only: llhttp refuses a Content-Length and ignores a Connection: close that ends in a tab.
    let valueEnd = i;
    while (valueEnd > valueStart && bytes[valueEnd - 1] === SP) valueEnd--;
    i += 2;
    // Only names of these lengths can be framing, hop-by-hop or rewritten: any other line passes as it is.
    let cut = false;
    switch (nameEnd - lineStart) {
      case 2:
        if (spells(lineStart, nameEnd, 'te')) return -1;
        break;
      case 4:
        if (request && spells(lineStart, nameEnd, 'host')) {
          if (hostStart >= 0) return -1; // two: refused on the parser's path
          hostStart = valueStart;
          hostEnd = valueEnd;
          while (hostEnd > hostStart && (bytes[hostEnd - 1] === HTAB || bytes[hostEnd - 1] === SP)) hostEnd--; // as llhttp trims a value it keeps
        }
        break;
      case 7:
        if (spells(lineStart, nameEnd, 'trailer') || spells(lineStart, nameEnd, 'upgrade')) return -1;
        break;
      case 10:
        if (spells(lineStart, nameEnd, 'connection')) {
          if (spells(valueStart, valueEnd, 'close')) close = true;
          else if (!spells(valueStart, valueEnd, 'keep-alive')) return -1; // names other headers, or an upgrade
          cut = true;
        } else cut = spells(lineStart, nameEnd, 'keep-alive');
        break;
      case 14:
        if (spells(lineStart, nameEnd, 'content-length')) {
          if (request || contentLength >= 0 || valueEnd === valueStart || valueEnd - valueStart > 15) return -1;
          let n = 0;
          for (let k = valueStart; k < valueEnd; k++) {
            const d = bytes[k] - 0x30;
            if (d < 0 || d > 9) return -1;
            n = n * 10 + d;
          }
          contentLength = n;
        }
        break;
      case 15:
        if (request && spells(lineStart, nameEnd, 'x-forwarded-for')) return -1;
        break;
      case 16:
        if (spells(lineStart, nameEnd, 'proxy-connection') || (request && spells(lineStart, nameEnd, 'x-forwarded-host'))) return -1;
        break;
      case 17:
        if (spells(lineStart, nameEnd, 'transfer-encoding') || (request && spells(lineStart, nameEnd, 'x-forwarded-proto'))) return -1;
        break;
      case 18:
        if (spells(lineStart, nameEnd, 'proxy-authenticate') || (request && spells(lineStart, nameEnd, 'x-mesh-bridge-hops'))) return -1;
        break;
      case 19:
        if (spells(lineStart, nameEnd, 'proxy-authorization')) return -1;
        break;
    }
    if (cut) {
      if (gapCount > 0 && gaps[gapCount * 2 - 1] === lineStart) gaps[gapCount * 2 - 1] = i;
      else {
        if (gapCount === MAX_GAPS) return -1;
        gaps[gapCount * 2] = lineStart;
        gaps[gapCount * 2 + 1] = i;
        gapCount++;
      }
    }
  }
  if ((request ? hostStart < 0 : contentLength < 0) || i - from > MAX_HEADER_SIZE) return -1;
  out.contentLength = contentLength;
  out.close = close;
  out.hostStart = hostStart;
  out.hostEnd = hostEnd;
  out.gapCount = gapCount;
  return i;
}

/**
 * Cuts the gaps a scan found out of the lines starting at `READ_BUFFER[from]` by moving the lines
 * before each gap forward over it: they then end where they ended (a response head right before
 * its body). Returns where they now start.
 */
export function closeGaps(from: number, head: PlainHead): number {
  const gaps = head.gaps;
  let g = head.gapCount;
  if (g === 0) return from;
  let dst = gaps[g * 2 - 1];
  while (g > 0) {
    g--;
    const segmentStart = g === 0 ? from : gaps[g * 2 - 1];
    const segmentEnd = gaps[g * 2];
    BYTES.copyWithin(dst - (segmentEnd - segmentStart), segmentStart, segmentEnd);
    dst -= segmentEnd - segmentStart;
  }
  return dst;
}
