// A fast, allocation-light hessian2 cursor for the routing view: reads strings and ints, and
// skips whole values (arguments) by walking their structure without building them. Full value
// decoding stays with hessian2.ts; this exists because a proxy must route a frame far more cheaply
// than decoding it.
import { CodecError } from '../errors';

/** Nesting deeper than this is refused: real payloads stay far below, hostile ones would blow the stack. */
export const MAX_NESTING = 256;

const TERMINATOR = 0x5a; // 'Z'

// ---- The short-string cache, shared with hessian2.ts's decoder ---------------------------------

/** Strings up to this many bytes go through the cache; longer ones are made directly. */
export const INTERN_MAX_LENGTH = 64;
const INTERN_SLOTS = 4096; // a power of two
/** The bytes of each slot's string, slot i at [i * INTERN_MAX_LENGTH, + internLengths[i]). */
const internBytes = new Uint8Array(INTERN_SLOTS * INTERN_MAX_LENGTH);
/** The byte length of each slot's string; -1 for an empty slot. */
const internLengths = new Int32Array(INTERN_SLOTS).fill(-1);
const internStrings: string[] = new Array<string>(INTERN_SLOTS).fill('');

/**
 * Returns the string of a byte range of at most INTERN_MAX_LENGTH bytes when it is all ASCII, from
 * a small direct-mapped cache when the same bytes were seen before (interface, method and
 * attachment names repeat on every request), or null when the range is not ASCII. Making a string
 * from a Buffer costs a native call; comparing a few dozen bytes in JavaScript costs a fraction.
 *
 * The slot is chosen by a hash of the length and at most eight sampled bytes, not all of them: the
 * bytes are compared in full anyway, and a cached string is ASCII, so a hit also proves the range
 * is; a hash collision costs a miss, never a wrong string. Shared by HessianScanner and hessian2.ts,
 * so a name seen by either is one entry.
 */
export function internAscii(buf: Buffer, start: number, end: number): string | null {
  const length = end - start;
  let hash = length;
  if (length > 0) {
    if (length <= 8) {
      for (let i = start; i < end; i++) hash = Math.imul(hash ^ buf[i], 0x01000193);
    } else {
      const step = length >> 2;
      hash = Math.imul(hash ^ buf[start], 0x01000193);
      hash = Math.imul(hash ^ buf[start + 1], 0x01000193);
      hash = Math.imul(hash ^ buf[start + step], 0x01000193);
      hash = Math.imul(hash ^ buf[start + 2 * step], 0x01000193);
      hash = Math.imul(hash ^ buf[start + 3 * step], 0x01000193);
      hash = Math.imul(hash ^ buf[end - 3], 0x01000193);
      hash = Math.imul(hash ^ buf[end - 2], 0x01000193);
      hash = Math.imul(hash ^ buf[end - 1], 0x01000193);
    }
    hash ^= hash >>> 15;
  }
  const slot = hash & (INTERN_SLOTS - 1);
  const base = slot * INTERN_MAX_LENGTH;
  if (internLengths[slot] === length) {
    let i = 0;
    while (i < length && internBytes[base + i] === buf[start + i]) i++;
    if (i === length) return internStrings[slot];
  }
  // A miss: check the range is ASCII while copying it into the slot (a copy: the cache must not
  // keep a socket's chunk alive).
  for (let i = 0; i < length; i++) {
    const b = buf[start + i];
    if (b >= 0x80) {
      internLengths[slot] = -1; // the slot's bytes are half overwritten
      return null;
    }
    internBytes[base + i] = b;
  }
  const text = buf.toString('latin1', start, end);
  internLengths[slot] = length;
  internStrings[slot] = text;
  return text;
}

function isAscii(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] >= 0x80) return false;
  return true;
}

export class HessianScanner {
  pos: number;
  /** Field counts of the class definitions seen so far (made on the first); objects refer to them by index. */
  private classFieldCounts: number[] | null;

  constructor(
    readonly buf: Buffer,
    pos = 0,
    readonly end = buf.length,
    /** Class definitions already seen earlier in the same body (copied, not shared). */
    classFieldCounts: readonly number[] | null = null,
  ) {
    this.pos = pos;
    this.classFieldCounts = classFieldCounts === null || classFieldCounts.length === 0 ? null : classFieldCounts.slice();
  }

  get atEnd(): boolean {
    return this.pos >= this.end;
  }

  /** The field counts of the class definitions read so far, or null when none were. */
  get classes(): readonly number[] | null {
    return this.classFieldCounts;
  }

  peek(): number {
    if (this.pos >= this.end) this.truncated('a value');
    return this.buf[this.pos];
  }

  /** Reads a string value (any of hessian2's string forms, chunked or not). */
  readString(): string {
    const pos = this.pos;
    if (pos >= this.end) this.truncated('a string');
    const code = this.buf[pos];
    this.pos = pos + 1;
    if (code <= 0x1f) return this.readChars(code);
    if (code >= 0x30 && code <= 0x33) return this.readChars(((code - 0x30) << 8) | this.byte('a string length'));
    if (code === 0x53 || code === 0x52) return this.readChunkedString(code);
    if (code === 0x4e) return ''; // null where a string is expected: Dubbo writes "" the same way for versions
    return this.unexpected(code, 'a string');
  }

  private readChunkedString(code: number): string {
    let text = '';
    let final = code === 0x53;
    for (;;) {
      text += this.readChars(this.uint16());
      if (final) return text;
      const next = this.byte('a string chunk');
      if (next === 0x53) final = true;
      else if (next !== 0x52) {
        if (next <= 0x1f) return text + this.readChars(next);
        if (next >= 0x30 && next <= 0x33) return text + this.readChars(((next - 0x30) << 8) | this.byte('a string length'));
        this.unexpected(next, 'a string chunk');
      }
    }
  }

  /** Skips a string value without making it (hessian null counts as a string, as in readString). */
  skipString(): void {
    const pos = this.pos;
    if (pos >= this.end) this.truncated('a string');
    const code = this.buf[pos];
    this.pos = pos + 1;
    if (code <= 0x1f) this.skipChars(code);
    else if (code >= 0x30 && code <= 0x33) this.skipChars(((code - 0x30) << 8) | this.byte('a string length'));
    else if (code === 0x53 || code === 0x52) this.skipChunkedString(code);
    else if (code !== 0x4e) this.unexpected(code, 'a string');
  }

  /**
   * Consumes a string and tells whether it equals `ascii` (an ASCII string), without making a
   * string for the common compact form.
   */
  consumeStringEquals(ascii: string): boolean {
    const buf = this.buf;
    const at = this.pos;
    if (at >= this.end) this.truncated('a string');
    const code = buf[at];
    if (code > 0x1f) return this.readString() === ascii;
    const start = at + 1;
    this.pos = start;
    if (code === ascii.length && start + code <= this.end) {
      let i = 0;
      while (i < code && buf[start + i] === ascii.charCodeAt(i)) i++;
      if (i === code) {
        this.pos = start + code;
        return true;
      }
    }
    this.skipChars(code);
    return false;
  }

  /** Reads an int value (any of hessian2's int forms). */
  readInt(): number {
    const code = this.byte('an int');
    if (code >= 0x80 && code <= 0xbf) return code - 0x90;
    if (code >= 0xc0 && code <= 0xcf) return ((code - 0xc8) << 8) | this.byte('an int');
    if (code >= 0xd0 && code <= 0xd7) {
      const high = code - 0xd4;
      return (high << 16) | this.uint16();
    }
    if (code === 0x49) {
      this.need(4, 'an int');
      const value = this.buf.readInt32BE(this.pos);
      this.pos += 4;
      return value;
    }
    return this.unexpected(code, 'an int');
  }

  /**
   * Reads a map of string keys to string values (Dubbo's attachments), with `readOther` called for
   * any value that is not a string. Returns null when the next value is hessian null.
   */
  readStringMap(readOther: (scanner: HessianScanner) => unknown): Record<string, unknown> | null {
    const code = this.byte('a map');
    if (code === 0x4e) return null;
    if (code === 0x4d) this.skipType();
    else if (code !== 0x48) this.unexpected(code, 'a map');
    const map: Record<string, unknown> = {};
    while (this.peek() !== TERMINATOR) {
      const key = this.isStringStart(this.buf[this.pos]) ? this.readString() : String(this.readOtherValue(readOther));
      map[key] = this.isStringStart(this.peek()) ? this.readString() : this.readOtherValue(readOther);
    }
    this.pos++;
    return map;
  }

  private readOtherValue(readOther: (scanner: HessianScanner) => unknown): unknown {
    const at = this.pos;
    const value = readOther(this);
    if (this.pos <= at) throw new CodecError('HESSIAN_DECODE', `hessian2 map value at byte ${at} was not consumed`, { where: at });
    return value;
  }

  isStringStart(code: number): boolean {
    return code <= 0x1f || (code >= 0x30 && code <= 0x33) || code === 0x52 || code === 0x53;
  }

  /** Skips one complete value of any type. */
  skipValue(depth = 0): void {
    if (depth > MAX_NESTING) {
      throw new CodecError('HESSIAN_DECODE', `hessian2 values nested deeper than ${MAX_NESTING} at byte ${this.pos}`, { where: this.pos });
    }
    const at = this.pos;
    if (at >= this.end) this.truncated('a value');
    const code = this.buf[at];
    this.pos = at + 1;
    // Fixed-size values first, in code order: most fields of a DTO are one of these.
    if (code <= 0x1f) return this.skipChars(code);
    if (code <= 0x2f) return this.skipBytes(code - 0x20);
    if (code <= 0x33) return this.skipChars(((code - 0x30) << 8) | this.byte('a string length'));
    if (code <= 0x37) return this.skipBytes(((code - 0x34) << 8) | this.byte('a binary length'));
    if (code <= 0x3f) return this.skipBytes(2); // long, three bytes in all
    if (code >= 0x80) {
      if (code <= 0xbf || (code >= 0xd8 && code <= 0xef)) return; // int and long in the code byte
      if (code <= 0xcf || code >= 0xf0) return this.skipBytes(1);
      return this.skipBytes(2); // 0xd0-0xd7 int, three bytes in all
    }
    if (code >= 0x60) {
      if (code <= 0x6f) return this.skipObjectFields(code - 0x60, at, depth);
      if (code <= 0x77) {
        this.skipType();
        return this.skipValues(code - 0x70, depth);
      }
      return this.skipValues(code - 0x78, depth);
    }
    switch (code) {
      case 0x41: // 'A' binary chunk, more follow
      case 0x42: // 'B' final binary chunk
        return this.skipBinaryChunks(code);
      case 0x43: // 'C' class definition, then the value that uses it
        this.skipClassDefinition();
        return this.skipValue(depth);
      case 0x44: // 'D' double
      case 0x4a: // 'J' date in milliseconds
      case 0x4c: // 'L' long
        return this.skipBytes(8);
      case 0x46: // 'F'
      case 0x4e: // 'N'
      case 0x54: // 'T'
      case 0x5b: // double 0.0
      case 0x5c: // double 1.0
        return;
      case 0x48: // 'H' untyped map
        return this.skipUntilTerminator(depth);
      case 0x49: // 'I' int
      case 0x4b: // 'K' date in minutes
      case 0x59: // 'Y' long as int
      case 0x5f: // double as int thousandths
        return this.skipBytes(4);
      case 0x4d: // 'M' typed map
        this.skipType();
        return this.skipUntilTerminator(depth);
      case 0x4f: // 'O' object instance, class by index
        return this.skipObjectFields(this.readInt(), at, depth);
      case 0x51: // 'Q' reference to an earlier value
        this.readInt();
        return;
      case 0x52: // 'R' string chunk, more follow
      case 0x53: // 'S' final string chunk
        return this.skipChunkedString(code);
      case 0x55: // 'U' variable-length typed list
        this.skipType();
        return this.skipUntilTerminator(depth);
      case 0x56: // 'V' fixed-length typed list
        this.skipType();
        return this.skipValues(this.readLength(), depth);
      case 0x57: // 'W' variable-length untyped list
        return this.skipUntilTerminator(depth);
      case 0x58: // 'X' fixed-length untyped list
        return this.skipValues(this.readLength(), depth);
      case 0x5d: // double as byte
        return this.skipBytes(1);
      case 0x5e: // double as short
        return this.skipBytes(2);
      default:
        return this.unexpected(code, 'a value');
    }
  }

  /** A type is a string (remembered by the decoder) or an int reference to an earlier one. */
  private skipType(): void {
    const code = this.peek();
    if (this.isStringStart(code)) this.skipString();
    else this.readInt();
  }

  /** A class definition: its name and field names are skipped, only the field count is kept. */
  private skipClassDefinition(): void {
    this.skipString();
    const fields = this.readLength();
    for (let i = 0; i < fields; i++) this.skipString();
    if (this.classFieldCounts === null) this.classFieldCounts = [fields];
    else this.classFieldCounts.push(fields);
  }

  private skipObjectFields(classIndex: number, at: number, depth: number): void {
    const classes = this.classFieldCounts;
    const fields = classes === null ? undefined : classes[classIndex];
    if (fields === undefined) {
      this.pos = at;
      throw new CodecError('HESSIAN_DECODE', `hessian2 object at byte ${at} refers to undefined class #${classIndex}`, {
        value: classIndex,
        where: at,
      });
    }
    this.skipValues(fields, depth);
  }

  private skipValues(count: number, depth: number): void {
    for (let i = 0; i < count; i++) this.skipValue(depth + 1);
  }

  private skipUntilTerminator(depth: number): void {
    while (this.peek() !== TERMINATOR) this.skipValue(depth + 1);
    this.pos++;
  }

  /** Skips the chunks of a string after its first code ('R' or 'S'), as readChunkedString reads them. */
  private skipChunkedString(code: number): void {
    let final = code === 0x53;
    for (;;) {
      this.skipChars(this.uint16());
      if (final) return;
      const next = this.byte('a string chunk');
      if (next === 0x53) final = true;
      else if (next !== 0x52) {
        if (next <= 0x1f) return this.skipChars(next);
        if (next >= 0x30 && next <= 0x33) return this.skipChars(((next - 0x30) << 8) | this.byte('a string length'));
        this.unexpected(next, 'a string chunk');
      }
    }
  }

  private skipBinaryChunks(code: number): void {
    let final = code === 0x42;
    for (;;) {
      this.skipBytes(this.uint16());
      if (final) return;
      const next = this.byte('a binary chunk');
      if (next === 0x42) final = true;
      else if (next >= 0x20 && next <= 0x2f) return this.skipBytes(next - 0x20);
      else if (next >= 0x34 && next <= 0x37) return this.skipBytes(((next - 0x34) << 8) | this.byte('a binary length'));
      else if (next !== 0x41) this.unexpected(next, 'a binary chunk');
    }
  }

  private readLength(): number {
    const at = this.pos;
    const length = this.readInt();
    if (length < 0) throw new CodecError('HESSIAN_DECODE', `negative hessian2 length ${length} at byte ${at}`, { value: length, where: at });
    return length;
  }

  /**
   * Reads `count` UTF-16 code units. Hessian counts characters, not bytes, and Java writes each
   * surrogate of a pair as its own three-byte sequence, which Node's UTF-8 decoder would reject.
   */
  private readChars(count: number): string {
    const start = this.pos;
    const buf = this.buf;
    const end = start + count;
    // Fast path: a plain-ASCII string, one byte a character; a short one most likely seen before.
    if (end <= this.end) {
      if (count <= INTERN_MAX_LENGTH) {
        const text = internAscii(buf, start, end);
        if (text !== null) {
          this.pos = end;
          return text;
        }
      } else if (isAscii(buf, start, end)) {
        this.pos = end;
        return buf.toString('latin1', start, end);
      }
    }
    return this.readCharsSlowly(count);
  }

  private readCharsSlowly(count: number): string {
    const buf = this.buf;
    let text = '';
    for (let i = 0; i < count; i++) {
      const b = this.byte('a string character');
      if (b < 0x80) text += String.fromCharCode(b);
      else if ((b & 0xe0) === 0xc0) text += String.fromCharCode(((b & 0x1f) << 6) | (this.byte('a string character') & 0x3f));
      else if ((b & 0xf0) === 0xe0) {
        this.need(2, 'a string character');
        text += String.fromCharCode(((b & 0x0f) << 12) | ((buf[this.pos] & 0x3f) << 6) | (buf[this.pos + 1] & 0x3f));
        this.pos += 2;
      } else if ((b & 0xf8) === 0xf0) {
        // A four-byte sequence (written by non-Java encoders) is one code point: two code units.
        this.need(3, 'a string character');
        const cp = ((b & 0x07) << 18) | ((buf[this.pos] & 0x3f) << 12) | ((buf[this.pos + 1] & 0x3f) << 6) | (buf[this.pos + 2] & 0x3f);
        if (cp > 0x10ffff) {
          throw new CodecError('HESSIAN_DECODE', `invalid code point 0x${cp.toString(16)} in a hessian2 string at byte ${this.pos - 1}`, {
            value: cp,
            where: this.pos - 1,
          });
        }
        this.pos += 3;
        text += String.fromCodePoint(cp);
        i++;
      } else {
        throw new CodecError('HESSIAN_DECODE', `bad UTF-8 lead byte 0x${b.toString(16)} in a hessian2 string at byte ${this.pos - 1}`, {
          value: b,
          where: this.pos - 1,
        });
      }
    }
    return text;
  }

  /** Skips `count` characters (UTF-16 code units, as readChars counts them). */
  private skipChars(count: number): void {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    // Fast path: as many ASCII bytes as characters.
    const asciiEnd = pos + count <= end ? pos + count : end;
    while (pos < asciiEnd && buf[pos] < 0x80) pos++;
    let i = count - (pos - this.pos);
    while (i > 0) {
      if (pos >= end) {
        this.pos = pos;
        this.truncated('a string');
      }
      const b = buf[pos];
      if (b < 0x80) pos += 1;
      else if ((b & 0xe0) === 0xc0) pos += 2;
      else if ((b & 0xf0) === 0xe0) pos += 3;
      else if ((b & 0xf8) === 0xf0) {
        pos += 4;
        i--;
      } else {
        this.pos = pos;
        throw new CodecError('HESSIAN_DECODE', `bad UTF-8 lead byte 0x${b.toString(16)} in a hessian2 string at byte ${pos}`, {
          value: b,
          where: pos,
        });
      }
      i--;
    }
    this.pos = pos;
    if (pos > end) this.truncated('a string');
  }

  private skipBytes(count: number): void {
    if (this.pos + count > this.end) this.truncated('a value');
    this.pos += count;
  }

  private uint16(): number {
    const pos = this.pos;
    if (pos + 2 > this.end) this.truncated('a length');
    this.pos = pos + 2;
    return (this.buf[pos] << 8) | this.buf[pos + 1];
  }

  private byte(what: string): number {
    if (this.pos >= this.end) this.truncated(what);
    return this.buf[this.pos++];
  }

  private need(count: number, what: string): void {
    if (this.pos + count > this.end) this.truncated(what);
  }

  private truncated(what: string): never {
    throw new CodecError('DUBBO_TRUNCATED', `body ends at byte ${this.end} inside ${what} (at byte ${this.pos})`, { where: this.pos });
  }

  private unexpected(code: number, what: string): never {
    throw new CodecError('HESSIAN_DECODE', `unexpected hessian2 code 0x${code.toString(16).padStart(2, '0')} where ${what} was expected, at byte ${this.pos - 1}`, {
      value: code,
      where: this.pos - 1,
    });
  }
}
