// A fast, allocation-light hessian2 cursor for the routing view: reads strings and ints, and
// skips whole values (arguments) by walking their structure without building them. Full value
// decoding stays with hessian2.ts; this exists because a proxy must route a frame far more cheaply
// than decoding it.
import { CodecError } from '../errors';

/** Nesting deeper than this is refused: real payloads stay far below, hostile ones would blow the stack. */
export const MAX_NESTING = 256;

const TERMINATOR = 0x5a; // 'Z'

const INTERN_SLOTS = 4096; // a power of two
const INTERN_MAX_LENGTH = 64;
const internBytes: Array<Buffer | null> = new Array<Buffer | null>(INTERN_SLOTS).fill(null);
const internStrings: string[] = new Array<string>(INTERN_SLOTS).fill('');

/**
 * Returns the string of an ASCII byte range, from a small direct-mapped cache when the same bytes
 * were seen before (interface, method and attachment names repeat on every request), or null when
 * the range is not ASCII. Making a string from a Buffer costs a native call; hashing and comparing
 * a few dozen bytes in JavaScript costs a fraction of that.
 */
function internAscii(buf: Buffer, start: number, end: number): string | null {
  let hash = 0x811c9dc5 ^ (end - start);
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b >= 0x80) return null;
    hash = Math.imul(hash ^ b, 0x01000193);
  }
  const slot = hash & (INTERN_SLOTS - 1);
  const cached = internBytes[slot];
  if (cached !== null && cached.length === end - start) {
    let same = true;
    for (let i = 0; i < cached.length; i++) {
      if (cached[i] !== buf[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return internStrings[slot];
  }
  const text = buf.toString('latin1', start, end);
  // A copy: the cache must not keep a socket's chunk alive.
  internBytes[slot] = Buffer.from(buf.subarray(start, end));
  internStrings[slot] = text;
  return text;
}

function isAscii(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] >= 0x80) return false;
  return true;
}

export class HessianScanner {
  pos: number;
  /** Field counts of the class definitions seen so far; object instances refer to them by index. */
  private classFieldCounts: number[] = [];

  constructor(
    readonly buf: Buffer,
    pos = 0,
    readonly end = buf.length,
  ) {
    this.pos = pos;
  }

  get atEnd(): boolean {
    return this.pos >= this.end;
  }

  peek(): number {
    if (this.pos >= this.end) this.truncated('a value');
    return this.buf[this.pos];
  }

  /** Reads a string value (any of hessian2's string forms, chunked or not). */
  readString(): string {
    const code = this.byte('a string');
    if (code <= 0x1f) return this.readChars(code);
    if (code >= 0x30 && code <= 0x33) return this.readChars(((code - 0x30) << 8) | this.byte('a string length'));
    if (code === 0x53 || code === 0x52) {
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
    if (code === 0x4e) return ''; // null where a string is expected: Dubbo writes "" the same way for versions
    return this.unexpected(code, 'a string');
  }

  /** Skips a string value without making it. */
  skipString(): void {
    const code = this.peek();
    if (code <= 0x1f) {
      this.pos++;
      this.skipChars(code);
    } else if (this.isStringStart(code)) {
      this.skipValue();
    } else {
      this.readString();
    }
  }

  /**
   * Consumes a string and tells whether it equals `ascii` (an ASCII string), without making a
   * string for the common compact form.
   */
  consumeStringEquals(ascii: string): boolean {
    const code = this.peek();
    if (code <= 0x1f) {
      const start = this.pos + 1;
      this.pos = start;
      if (code !== ascii.length || start + code > this.end) {
        this.skipChars(code);
        return false;
      }
      let same = true;
      for (let i = 0; i < code; i++) {
        if (this.buf[start + i] !== ascii.charCodeAt(i)) {
          same = false;
          break;
        }
      }
      if (same) {
        this.pos = start + code;
        return true;
      }
      this.skipChars(code);
      return false;
    }
    return this.readString() === ascii;
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
    const code = this.byte('a value');
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
    if (code >= 0x60 && code <= 0x6f) return this.skipObjectFields(code - 0x60, at, depth);
    if (code >= 0x70 && code <= 0x77) {
      this.skipType();
      return this.skipValues(code - 0x70, depth);
    }
    if (code >= 0x78 && code <= 0x7f) return this.skipValues(code - 0x78, depth);
    switch (code) {
      case 0x41: // 'A' binary chunk, more follow
      case 0x42: // 'B' final binary chunk
        return this.skipBinaryChunks(code);
      case 0x43: // 'C' class definition, then the value that uses it
        this.readClassDefinition();
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
        this.pos = at;
        this.readString();
        return;
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
        this.pos = at;
        return this.unexpected(code, 'a value');
    }
  }

  /** A type is a string (remembered by the decoder) or an int reference to an earlier one. */
  private skipType(): void {
    const code = this.peek();
    if (this.isStringStart(code)) this.readString();
    else this.readInt();
  }

  private readClassDefinition(): void {
    this.readString();
    const fields = this.readLength();
    for (let i = 0; i < fields; i++) this.readString();
    this.classFieldCounts.push(fields);
  }

  private skipObjectFields(classIndex: number, at: number, depth: number): void {
    const fields = this.classFieldCounts[classIndex];
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
    // Fast path: a short plain-ASCII string, one byte a character, most likely seen before.
    if (count <= INTERN_MAX_LENGTH && start + count <= this.end) {
      const text = internAscii(buf, start, start + count);
      if (text !== null) {
        this.pos = start + count;
        return text;
      }
    } else if (start + count <= this.end && isAscii(buf, start, start + count)) {
      this.pos = start + count;
      return buf.toString('latin1', start, start + count);
    }
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

  private skipChars(count: number): void {
    const buf = this.buf;
    for (let i = 0; i < count; i++) {
      if (this.pos >= this.end) this.truncated('a string');
      const b = buf[this.pos];
      if (b < 0x80) this.pos += 1;
      else if ((b & 0xe0) === 0xc0) this.pos += 2;
      else if ((b & 0xf0) === 0xe0) this.pos += 3;
      else if ((b & 0xf8) === 0xf0) {
        this.pos += 4;
        i++;
      } else {
        throw new CodecError('HESSIAN_DECODE', `bad UTF-8 lead byte 0x${b.toString(16)} in a hessian2 string at byte ${this.pos}`, {
          value: b,
          where: this.pos,
        });
      }
    }
    if (this.pos > this.end) this.truncated('a string');
  }

  private skipBytes(count: number): void {
    this.need(count, 'a value');
    this.pos += count;
  }

  private uint16(): number {
    this.need(2, 'a length');
    const value = (this.buf[this.pos] << 8) | this.buf[this.pos + 1];
    this.pos += 2;
    return value;
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
