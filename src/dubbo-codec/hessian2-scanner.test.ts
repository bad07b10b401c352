import { CodecError } from '../errors';
import { HessianWriter, decodeValue, encodeValue } from './hessian2';
import { HessianScanner, internAscii } from './hessian2-scanner';

// Values in every hessian2 form hessian.js writes: the scanner must skip each exactly.
const values: Array<[string, unknown]> = [
  ['null', null],
  ['true', true],
  ['false', false],
  ['small int', 7],
  ['byte int', -2000],
  ['short int', 200_000],
  ['full int', 2_000_000_000],
  ['long in a byte', { $class: 'long', $: 3 }],
  ['long in two bytes', { $class: 'long', $: 2000 }],
  ['long in three bytes', { $class: 'long', $: 200_000 }],
  ['long as int', { $class: 'long', $: 2_000_000_000 }],
  ['full long', { $class: 'long', $: '9007199254740993' }],
  ['double 0', { $class: 'double', $: 0 }],
  ['double 1', { $class: 'double', $: 1 }],
  ['double byte', { $class: 'double', $: 3 }],
  ['double short', { $class: 'double', $: 3000 }],
  ['double mills', { $class: 'double', $: 12.25 }],
  ['double full', 3.141592653589793],
  ['date', new Date(1_700_000_000_123)],
  ['date in minutes', new Date(1_700_000_040_000)],
  ['short string', 'hello'],
  ['medium string', 'x'.repeat(300)],
  ['chunked string', 'y'.repeat(70_000)],
  ['non-ASCII string', 'grüße 你好 😀'],
  ['short binary', Buffer.alloc(5, 1)],
  ['medium binary', Buffer.alloc(600, 2)],
  ['chunked binary', Buffer.alloc(100_000, 3)],
  ['untyped list', [1, 'a', null]],
  ['long list', Array.from({ length: 20 }, (_, i) => i)],
  ['typed list', { $class: '[int', $: [1, 2, 3] }],
  ['long typed list', { $class: 'java.util.ArrayList', $: Array.from({ length: 12 }, (_, i) => `v${i}`) }],
  ['map', { a: 1, b: [true], c: { d: 'e' } }],
  ['typed map', { $class: 'java.util.HashMap', $: { k: 'v' } }],
  ['object', { $class: 'org.demo.User', $: { name: 'ann', age: 30, tags: ['x'] } }],
  ['nested objects sharing a class', [{ $class: 'org.demo.P', $: { x: 1 } }, { $class: 'org.demo.P', $: { x: 2 } }]],
];

describe('HessianScanner.skipValue', () => {
  it.each(values)('skips a %s exactly', (_name, value) => {
    const bytes = encodeValue(value);
    const scanner = new HessianScanner(Buffer.concat([bytes, Buffer.from([0x4e])]));
    scanner.skipValue();
    expect(scanner.pos).toBe(bytes.length);
  });

  it('skips consecutive values sharing class definitions', () => {
    const writer = new HessianWriter();
    for (const [, value] of values) writer.write(value);
    writer.write({ $class: 'org.demo.User', $: { name: 'bob', age: 31, tags: [] } });
    const bytes = writer.toBuffer();
    const scanner = new HessianScanner(bytes);
    for (let i = 0; i <= values.length; i++) scanner.skipValue();
    expect(scanner.pos).toBe(bytes.length);
  });

  it.each(values.filter(([, v]) => encodeValue(v).length > 1))('reports a truncated %s as a codec error', (_name, value) => {
    const bytes = encodeValue(value);
    const scanner = new HessianScanner(bytes.subarray(0, bytes.length - 1));
    expect(() => scanner.skipValue()).toThrow(CodecError);
  });

  it('refuses values nested too deep instead of overflowing the stack', () => {
    const deep = Buffer.concat([Buffer.alloc(10_000, 0x79) /* one-element untyped lists */, Buffer.from([0x4e])]);
    expect(() => new HessianScanner(deep).skipValue()).toThrow(expect.objectContaining({ code: 'HESSIAN_DECODE' }));
  });

  it('refuses an object whose class was never defined', () => {
    expect(() => new HessianScanner(Buffer.from([0x60])).skipValue()).toThrow(expect.objectContaining({ code: 'HESSIAN_DECODE', value: 0 }));
  });
});

describe('HessianScanner.readString', () => {
  it.each([
    ['an empty', ''],
    ['an interface name', 'org.apache.dubbo.demo.DemoService'],
    ['a 1,000-character', 'x'.repeat(1000)],
    ['a chunked 40,000-character', 'z'.repeat(40_000)],
    ['a non-ASCII', 'grüße 你好 😀'],
  ])('reads %s string as hessian.js wrote it', (_name, text) => {
    const scanner = new HessianScanner(encodeValue(text));
    expect(scanner.readString()).toBe(text);
    expect(scanner.atEnd).toBe(true);
  });

  it('reads a surrogate pair written as two three-byte sequences, as Java writes it', () => {
    // U+1F600 as Java's hessian writes it: each UTF-16 surrogate as its own 3-byte sequence.
    const bytes = Buffer.from([0x02, 0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80]);
    expect(new HessianScanner(bytes).readString()).toBe('😀');
  });

  it('refuses a four-byte sequence beyond U+10FFFF as a codec error (found by the fuzzer)', () => {
    const bytes = Buffer.from([0x02, 0xf4, 0xbb, 0x80, 0x80]);
    expect(() => new HessianScanner(bytes).readString()).toThrow(expect.objectContaining({ code: 'HESSIAN_DECODE' }));
  });

  it('reads every int form', () => {
    for (const n of [0, -16, 47, -2048, 2047, -262144, 262143, 2 ** 31 - 1, -(2 ** 31)]) {
      expect(new HessianScanner(encodeValue(n)).readInt()).toBe(n);
    }
  });

  it('reads a string map with non-string values through the fallback', () => {
    const scanner = new HessianScanner(encodeValue({ a: 'b', n: 5 }));
    const map = scanner.readStringMap((s) => {
      s.skipValue();
      return 'other';
    });
    expect(map).toEqual({ a: 'b', n: 'other' });
    expect(scanner.atEnd).toBe(true);
  });

  it('refuses a fallback that does not consume its value', () => {
    const scanner = new HessianScanner(encodeValue({ n: 5 }));
    expect(() => scanner.readStringMap(() => 'other')).toThrow(expect.objectContaining({ code: 'HESSIAN_DECODE' }));
  });
});

describe('the shared string cache', () => {
  it('gives the right string for ranges that share a slot or differ in one byte', () => {
    const words: string[] = [];
    for (let i = 0; i < 3000; i++) words.push(`com.example.s${i % 7}.Service${i}`, `v${i}`, 'x'.repeat(i % 65), `k-${i % 10}-${'y'.repeat(i % 50)}`);
    for (let round = 0; round < 2; round++) {
      for (const word of words) {
        const scanner = new HessianScanner(encodeValue(word));
        expect(scanner.readString()).toBe(word);
      }
    }
  });

  it('returns null for a non-ASCII range, and the string once it is ASCII again', () => {
    const ascii = Buffer.from('routing-key');
    const other = Buffer.from('routing-këy');
    expect(internAscii(ascii, 0, ascii.length)).toBe('routing-key');
    expect(internAscii(other, 0, other.length)).toBeNull();
    expect(internAscii(ascii, 0, ascii.length)).toBe('routing-key');
    expect(internAscii(ascii, 0, 0)).toBe('');
    expect(internAscii(ascii, 8, ascii.length)).toBe('key');
  });

  it('is what the full decoder reads short strings through too', () => {
    const word = `shared-${Date.now()}`;
    const first = decodeValue(encodeValue(word));
    expect(first).toBe(word);
    const bytes = Buffer.from(word);
    expect(internAscii(bytes, 0, bytes.length)).toBe(word);
  });
});

describe('HessianScanner.skipValue on odd input', () => {
  it('skips a chunked string without making it, and refuses a bad chunk', () => {
    const bytes = encodeValue('q'.repeat(70_000));
    const scanner = new HessianScanner(bytes);
    scanner.skipValue();
    expect(scanner.pos).toBe(bytes.length);
    const bad = Buffer.from([0x52, 0x00, 0x01, 0x61, 0x49]);
    expect(() => new HessianScanner(bad).skipValue()).toThrow(expect.objectContaining({ code: 'HESSIAN_DECODE', where: 4 }));
  });

  it('counts a four-byte character as two when skipping, as when reading', () => {
    const bytes = encodeValue('a😀b');
    const scanner = new HessianScanner(Buffer.concat([bytes, Buffer.from([0x4e])]));
    scanner.skipValue();
    expect(scanner.pos).toBe(bytes.length);
  });

  it('names the byte of an unknown code', () => {
    const scanner = new HessianScanner(Buffer.from([0x91, 0x45]));
    scanner.skipValue();
    expect(() => scanner.skipValue()).toThrow(expect.objectContaining({ code: 'HESSIAN_DECODE', value: 0x45, where: 1 }));
  });
});
