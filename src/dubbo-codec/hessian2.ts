// The hessian2 value layer of the codec: a thin, typed face over hessian.js. Everything in
// mesh-bridge that reads or writes a hessian2 value goes through here, so fixes to hessian.js
// (types it reads wrongly or slowly) live in one place.
import { CodecError, preview } from '../errors';
// The short-string cache shared with HessianScanner: service, method and attachment names and most
// attachment values repeat on every request, and comparing a few dozen bytes costs less than the
// native call that makes a string from a Buffer.
import { INTERN_MAX_LENGTH, internAscii } from './hessian2-scanner';

// hessian.js ships no types; this is the part of its API we use.
interface HessianDecoder {
  read(withType?: boolean): unknown;
  readString(): string;
  position(pos?: number): number;
}
interface HessianEncoder {
  write(value: unknown): HessianEncoder;
  writeString(value: string): HessianEncoder;
  writeLong(value: unknown): HessianEncoder;
  writeDouble(value: number): HessianEncoder;
  writeNull(): HessianEncoder;
  /** Empties the buffer and forgets the object, class and type references written so far. */
  reset(): HessianEncoder;
  get(): Buffer;
  /** hessian.js's `byte` ByteBuffer: the written bytes are _bytes[0, _offset). */
  byteBuffer: { _bytes: Buffer; _offset: number };
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const hessian: any = require('hessian.js');

// ---- Fixes to hessian.js 2.11, checked against Caucho Hessian 4.0.38 ----------------------------
// Each fix is a prototype method of a subclass made once here, so the hot path pays one extra
// comparison at most and hessian.js itself stays untouched.

interface LongBits {
  high: number;
  low: number;
}
// hessian.js's decoder internals the fixes touch.
interface DecoderInternals {
  byteBuffer: {
    get(index?: number): number;
    getLong(): LongBits;
    position(pos?: number): number;
    skip(n: number): void;
    /** The bytes read and the read offset into them. */
    _bytes: Buffer;
    _offset: number;
  };
  _isLastChunk: boolean;
  refMap: Record<number, unknown>;
  refId: number;
  classReaders?: ReadonlyMap<string, (fields: Record<string, unknown>) => unknown>;
  readRefId(): number;
}

const BaseDecoder = hessian.DecoderV2;
const baseReadObject = BaseDecoder.prototype.readObject;
const baseReadRef = BaseDecoder.prototype.readRef;
const baseReadLong = BaseDecoder.prototype.readLong;
const baseReadString = BaseDecoder.prototype.readString;
/** hessian.js's table of the method name reading each leading byte code. */
const BYTE_CODE_METHODS: Readonly<Record<number, string | undefined>> = new BaseDecoder().BYTE_CODES;

/** True when bytes[start, end) are all ASCII, so each byte is one character. */
function isAscii(bytes: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (bytes[i] > 0x7f) return false;
  return true;
}

/** An int64 as a number when it is exact, else as a bigint. */
function longValue(bits: LongBits): number | bigint {
  // high * 2^32 is exact; the sum rounds only beyond 2^53, where isSafeInteger is false anyway.
  const n = bits.high * 0x100000000 + (bits.low >>> 0);
  return Number.isSafeInteger(n) ? n : (BigInt(bits.high) << 32n) | BigInt(bits.low >>> 0);
}

/** Looks up how to read the class of a decoded `{$class, $}` record, if specially. */
function classReader(d: DecoderInternals, rec: unknown): ((fields: Record<string, unknown>) => unknown) | undefined {
  if (typeof rec !== 'object' || rec === null) return undefined;
  const className = (rec as { $class?: unknown }).$class;
  if (typeof className !== 'string') return undefined;
  return d.classReaders?.get(className) ?? DEFAULT_CLASS_READERS.get(className);
}

// FIX: hessian.js reads a BigDecimal (Dubbo writes it as class java.math.BigDecimal with one field
// `value`) as the bare object {value: '12.5'}: the class is lost, so it cannot be told from any
// other object and re-encodes as a HashMap. We keep it typed, in exactly the form javaBigDecimal()
// writes, so decode -> encode is lossless.
const DEFAULT_CLASS_READERS: ReadonlyMap<string, (fields: Record<string, unknown>) => unknown> = new Map([
  ['java.math.BigDecimal', (fields: Record<string, unknown>) => ({ $class: 'java.math.BigDecimal', $: { value: fields.value } })],
]);

function readEnumName(fields: Record<string, unknown>): unknown {
  return fields.name;
}

// The fixed decoder is built old-style (a constructor function whose prototype inherits
// DecoderV2's), not as `class extends DecoderV2`: V8 constructs a class derived from an ES5
// function an order of magnitude slower (measured ~460 ns against ~30 ns), and a decoder is made
// for every body decoded.
function FixedDecoderV2(this: object, buf: Buffer): void {
  BaseDecoder.call(this, buf);
}
FixedDecoderV2.prototype = Object.create(BaseDecoder.prototype, {
  constructor: { value: FixedDecoderV2, writable: true, configurable: true },
});
Object.assign(FixedDecoderV2.prototype, {
  // SPEED: hessian.js's read() looks the method up by name (this[BYTE_CODES[code]]), a keyed
  // load that sees dozens of names and goes megamorphic; this indexes a table of the functions
  // themselves (READERS, below), with the same error for an unknown code.
  read(this: DecoderInternals, withType?: boolean): unknown {
    const buf = this.byteBuffer;
    const code = buf._bytes[buf._offset];
    const reader = READERS[code];
    if (reader === undefined) throw new Error(`hessian read got an unexpect code: 0x${code === undefined ? 'undefined' : code.toString(16)}`);
    return reader.call(this, withType);
  },

  // SPEED: hessian.js assembles every string from an array of char codes. A string in one final
  // chunk (the usual case: up to 65535 chars) that is all ASCII is its bytes, read at once; any
  // other string, and a truncated one, goes the old way.
  readString(this: DecoderInternals): string {
    const buf = this.byteBuffer;
    const bytes = buf._bytes;
    const at = buf._offset;
    const code = bytes[at];
    let start: number;
    let length: number;
    if (code < 0x20) {
      start = at + 1;
      length = code;
    } else if (code >= 0x30 && code <= 0x33) {
      start = at + 2;
      length = (code - 0x30) * 256 + bytes[at + 1];
    } else if (code === 0x53) {
      start = at + 3;
      length = bytes[at + 1] * 256 + bytes[at + 2];
    } else {
      return baseReadString.call(this);
    }
    const end = start + length;
    if (!(end <= bytes.length)) return baseReadString.call(this);
    let text: string | null;
    if (length <= INTERN_MAX_LENGTH) text = internAscii(bytes, start, end);
    else text = isAscii(bytes, start, end) ? bytes.toString('latin1', start, end) : null;
    if (text === null) return baseReadString.call(this);
    buf._offset = end;
    this._isLastChunk = true;
    return text;
  },

  // FIX: hessian.js returns a long beyond +-2^53 as a decimal *string* (utils.handleLong), so a
  // Java long 9007199254740993 cannot be told from the String "9007199254740993". We return it
  // as an exact bigint; longs within 2^53 stay numbers as before.
  readLong(this: DecoderInternals): number | bigint {
    const buf = this.byteBuffer;
    if (buf.get(buf.position()) !== 0x4c) return baseReadLong.call(this);
    buf.skip(1);
    return longValue(buf.getLong());
  },

  // Classes read specially (BigDecimal, enums the caller named): see DEFAULT_CLASS_READERS.
  readObject(this: DecoderInternals, withType: boolean): unknown {
    const id = this.refId; // readObject registers its {$class, $} record as ref `id` first
    const value = baseReadObject.call(this, withType);
    const read = classReader(this, this.refMap[id]);
    return read && !withType ? read((this.refMap[id] as { $: Record<string, unknown> }).$) : value;
  },

  // The same for a back-reference to such an object (Caucho writes a repeated enum as a ref).
  readRef(this: DecoderInternals, withType: boolean): unknown {
    const buf = this.byteBuffer;
    const at = buf.position();
    const rec = this.refMap[this.readRefId()];
    const read = classReader(this, rec);
    if (read && !withType) return read((rec as { $: Record<string, unknown> }).$);
    buf.position(at);
    return baseReadRef.call(this, withType);
  },
});
const newDecoder = FixedDecoderV2 as unknown as new (buf: Buffer) => HessianDecoder;

/** For each leading byte code, the method of FixedDecoderV2 that reads the value (see read()). */
const READERS: ReadonlyArray<((this: DecoderInternals, withType?: boolean) => unknown) | undefined> = Array.from({ length: 256 }, (_, code) => {
  const name = BYTE_CODE_METHODS[code];
  return name === undefined ? undefined : FixedDecoderV2.prototype[name];
});

const BaseEncoder = hessian.EncoderV2;
const baseWrite = BaseEncoder.prototype.write;
const baseWriteLong = BaseEncoder.prototype.writeLong;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

// FIX: hessian.js writes only java.util.HashMap, java.util.Map and fastjson's JSONObject as maps;
// any other map class (LinkedHashMap, TreeMap, ...) is written as a plain *object* of that class
// whose fields are the keys, which Java cannot read back as a map.
const MAP_TYPES: Record<string, boolean> = {
  'java.util.LinkedHashMap': true,
  'java.util.TreeMap': true,
  'java.util.Hashtable': true,
  'java.util.SortedMap': true,
  'java.util.concurrent.ConcurrentHashMap': true,
  'java.util.concurrent.ConcurrentMap': true,
};

// Old-style for the same reason as FixedDecoderV2: cheap to construct.
function FixedEncoderV2(this: object, options: object): void {
  BaseEncoder.call(this, options);
}
FixedEncoderV2.prototype = Object.create(BaseEncoder.prototype, {
  constructor: { value: FixedEncoderV2, writable: true, configurable: true },
});
Object.assign(FixedEncoderV2.prototype, {
  write(this: HessianEncoder, value: unknown): HessianEncoder {
    // FIX: hessian.js cannot write a bigint at all (it falls through to writeObject and throws).
    // A bigint is a Java long.
    if (typeof value === 'bigint') return this.writeLong(value);
    if (typeof value === 'number' && !Number.isSafeInteger(value)) {
      // FIX: hessian.js writes NaN as null (its write() treats NaN like undefined), though NaN
      // is a valid Java double.
      // FIX: hessian.js writes every integral number beyond int32 as a long, including ones far
      // past 2^63: -1e300 went out as Long.MIN_VALUE. An integral number beyond 2^53 is not an
      // exact long anyway (use a bigint for that), so it is a double.
      if (Number.isNaN(value) || Number.isInteger(value)) return this.writeDouble(value);
    }
    return baseWrite.call(this, value);
  },

  // FIX: for an explicit long ({$class: 'long', $: 2n ** 60n}) hessian.js takes a number, a
  // decimal string or a Long, never a bigint; and it writes a non-integral or out-of-range number
  // as garbage. Both go through an exact decimal string, and anything else is refused.
  writeLong(this: HessianEncoder, value: unknown): HessianEncoder {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) {
      if (!Number.isInteger(value)) throw new TypeError(`${value} is not an integer, so not a Java long`);
      value = BigInt(value);
    }
    if (typeof value === 'bigint') {
      if (value < INT64_MIN || value > INT64_MAX) throw new TypeError(`${value} does not fit in a Java long`);
      return baseWriteLong.call(this, value.toString());
    }
    return baseWriteLong.call(this, value);
  },
});

function newEncoder(): HessianEncoder {
  return new (FixedEncoderV2 as unknown as new (options: object) => HessianEncoder)({ size: 1024, mapTypes: MAP_TYPES });
}

export interface HessianReaderOptions {
  /**
   * Java enum classes to read as their constant's name ('RED'). Hessian writes an enum as an
   * object with one field `name`, which cannot be told from a class with one field `name`, so
   * without this an enum reads as {name: 'RED'}.
   */
  enums?: Iterable<string>;
}

/**
 * Reads consecutive hessian2 values from one buffer, sharing class and type references.
 *
 * Java types as read: int, and long within +-2^53, and double -> number; long beyond 2^53 ->
 * bigint; Date -> Date; byte[] -> Buffer; String -> string; List and arrays -> array; Map -> plain
 * object; BigDecimal -> {$class: 'java.math.BigDecimal', $: {value}}; enum -> {name} (or the
 * name, see options); other objects -> plain objects of their fields; exceptions -> Error.
 */
export class HessianReader {
  private readonly decoder: HessianDecoder;
  private readonly length: number;

  constructor(buf: Buffer, offset = 0, options: HessianReaderOptions = {}) {
    this.decoder = new newDecoder(buf);
    this.length = buf.length;
    if (options.enums) {
      const readers = new Map(DEFAULT_CLASS_READERS);
      for (const name of options.enums) readers.set(name, readEnumName);
      (this.decoder as unknown as DecoderInternals).classReaders = readers;
    }
    if (offset !== 0) this.decoder.position(offset);
  }

  /** Byte offset of the next value. */
  get offset(): number {
    return this.decoder.position();
  }

  set offset(value: number) {
    this.decoder.position(value);
  }

  read(): unknown {
    const at = this.offset;
    try {
      return this.decoder.read(false);
    } catch (err) {
      // hessian.js reports reading past the end as a TypeError on undefined: say what happened.
      const why = at >= this.length ? `the body ends at byte ${this.length}, where a value was expected` : (err as Error).message;
      throw new CodecError('HESSIAN_DECODE', `cannot decode hessian2 value at byte ${at}: ${why}`, {
        where: at,
        cause: err,
      });
    }
  }

  readString(): string {
    const value = this.read();
    if (typeof value !== 'string') {
      throw new CodecError('HESSIAN_DECODE', `expected a hessian2 string, got ${preview(value)}`, {
        value,
        where: this.offset,
      });
    }
    return value;
  }
}

/** Writes consecutive hessian2 values into one buffer, sharing class and type references. */
export class HessianWriter {
  private readonly encoder: HessianEncoder = newEncoder();

  write(value: unknown): this {
    try {
      this.encoder.write(value);
    } catch (err) {
      throw new CodecError('HESSIAN_ENCODE', `cannot encode ${preview(value)} as hessian2: ${(err as Error).message}`, {
        value,
        cause: err,
      });
    }
    return this;
  }

  writeString(value: string): this {
    this.encoder.writeString(value);
    return this;
  }

  /**
   * The bytes written so far, copied into a new buffer after `room` bytes left for the caller
   * (not zeroed: a frame header goes there), so a frame costs one copy rather than two.
   */
  toBuffer(room = 0): Buffer {
    const { _bytes: bytes, _offset: length } = this.encoder.byteBuffer;
    const out = Buffer.allocUnsafe(room + length);
    bytes.copy(out, room, 0, length);
    return out;
  }

  /** Starts over: empty buffer, no references. */
  reset(): this {
    this.encoder.reset();
    return this;
  }

  /** Bytes the encoder holds on to between uses. */
  get capacity(): number {
    return this.encoder.byteBuffer._bytes.length;
  }
}

// One writer reused by writeWithRoom: each message then costs a reset() instead of a new encoder
// (whose constructor merges mapTypes and zero-fills a 1 KiB buffer). `sharedBusy` guards against
// nested use (hessian.js can run caller code mid-write: getters, toJSON, Map iterators), which
// then gets a fresh writer of its own.
let sharedWriter = new HessianWriter();
let sharedBusy = false;
/** A shared writer that grew past this (for one big message) is dropped rather than kept. */
const SHARED_MAX_CAPACITY = 256 * 1024;

/**
 * Runs `write` against an empty writer and returns what it wrote, after `room` bytes left free
 * for the caller (see HessianWriter.toBuffer). The writer must not escape `write`.
 */
export function writeWithRoom(room: number, write: (writer: HessianWriter) => void): Buffer {
  if (sharedBusy) {
    const writer = new HessianWriter();
    write(writer);
    return writer.toBuffer(room);
  }
  sharedBusy = true;
  const writer = sharedWriter;
  try {
    write(writer);
    return writer.toBuffer(room);
  } finally {
    // Reset after every use, a failed one too, so the next message starts empty and the writer
    // does not keep this message's objects alive (hessian.js remembers them for back-references).
    writer.reset();
    sharedBusy = false;
    if (writer.capacity > SHARED_MAX_CAPACITY) sharedWriter = new HessianWriter();
  }
}

export function decodeValue(buf: Buffer, options?: HessianReaderOptions): unknown {
  return new HessianReader(buf, 0, options).read();
}

export function encodeValue(value: unknown): Buffer {
  return writeWithRoom(0, (writer) => writer.write(value));
}
