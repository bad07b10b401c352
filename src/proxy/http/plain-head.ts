// The response heads nearly every upstream sends, recognised without Node's parser: HTTP/1.1, a
// final status that has a body, framed by one Content-Length, and no hop-by-hop header other than
// Connection (keep-alive or close) and Keep-Alive. Such a head goes to the caller as the upstream's
// own bytes with those two lines cut out: no parser call, no header strings, no head rebuilt.
//
// The grammar here is narrower than HTTP's, never wider: a head outside it (chunked, 1xx, 101, 204,
// 304, HTTP/1.0, a repeated Content-Length, a folded line, a byte outside printable ASCII and tab,
// a head split across reads ...) is left to the parser and rebuilt as before (response-head.ts).
//
// Both functions work on the shared read buffer (read-buffer.ts), the only place upstream bytes
// are read into, and not on a buffer passed in: optimised code then knows the buffer and checks
// each byte with about half the instructions (3,800 instead of 5,400 for node:http's usual head,
// counted under callgrind). They are otherwise pure: bytes in, decisions out.
import { MAX_HEADER_SIZE } from './http-parser';
import { READ_BUFFER } from './read-buffer';

/** A constant the compiler can see (an imported binding is read from its module on each use). */
const BYTES: Uint8Array = READ_BUFFER;

/** What a plain head says; one object is reused for every head (see newPlainHead). */
export interface PlainHead {
  status: number;
  /** The body's length, from its one Content-Length header. */
  contentLength: number;
  /** The upstream said Connection: close: its connection ends with this response. */
  close: boolean;
  /** Lines to cut out of the head (Connection, Keep-Alive): [start, end) pairs, in order, adjacent ones merged. */
  readonly gaps: Int32Array;
  gapCount: number;
}

/** More hop-by-hop lines than this and the head is left to the parser. */
const MAX_GAPS = 4;

export function newPlainHead(): PlainHead {
  return { status: 0, contentLength: 0, close: false, gaps: new Int32Array(MAX_GAPS * 2), gapCount: 0 };
}

/** RFC 9110 tchar: the bytes a header name may hold. */
const TCHAR = new Uint8Array(256);
for (let b = 0x21; b <= 0x7e; b++) if (!'"(),/:;<=>?@[\\]{}'.includes(String.fromCharCode(b))) TCHAR[b] = 1;

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

  let contentLength = -1;
  let close = false;
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
    // Only names of these lengths can be framing or hop-by-hop: any other line passes as it is.
    let cut = false;
    switch (nameEnd - lineStart) {
      case 10:
        if (spells(lineStart, nameEnd, 'connection')) {
          if (spells(valueStart, valueEnd, 'close')) close = true;
          else if (!spells(valueStart, valueEnd, 'keep-alive')) return -1; // names other headers, or an upgrade
          cut = true;
        } else cut = spells(lineStart, nameEnd, 'keep-alive');
        break;
      case 14:
        if (spells(lineStart, nameEnd, 'content-length')) {
          if (contentLength >= 0 || valueEnd === valueStart || valueEnd - valueStart > 15) return -1;
          let n = 0;
          for (let k = valueStart; k < valueEnd; k++) {
            const d = bytes[k] - 0x30;
            if (d < 0 || d > 9) return -1;
            n = n * 10 + d;
          }
          contentLength = n;
        }
        break;
      case 2:
        if (spells(lineStart, nameEnd, 'te')) return -1;
        break;
      case 7:
        if (spells(lineStart, nameEnd, 'trailer') || spells(lineStart, nameEnd, 'upgrade')) return -1;
        break;
      case 16:
        if (spells(lineStart, nameEnd, 'proxy-connection')) return -1;
        break;
      case 17:
        if (spells(lineStart, nameEnd, 'transfer-encoding')) return -1;
        break;
      case 18:
        if (spells(lineStart, nameEnd, 'proxy-authenticate')) return -1;
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
  if (contentLength < 0 || i - from > MAX_HEADER_SIZE) return -1;
  out.status = status;
  out.contentLength = contentLength;
  out.close = close;
  out.gapCount = gapCount;
  return i;
}

/**
 * Cuts the gaps `scanPlainHead` found out of the head starting at `READ_BUFFER[from]` by moving the lines
 * before each gap forward over it: the head then ends where it ended, right before its body.
 * Returns where it now starts.
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
