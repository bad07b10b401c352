import { CodecError } from '../errors';
import { HessianReader, HessianWriter, decodeValue, encodeValue, writeWithRoom } from './hessian2';

describe('hessian2 shared writer', () => {
  it('starts every message empty, also after a write that threw', () => {
    const clean = encodeValue({ $class: 'com.example.A', $: { a: 1 } });
    expect(() => encodeValue([{ $class: 'com.example.A', $: { a: 1 } }, 2n ** 64n])).toThrow(CodecError);
    // A leftover class definition would turn the second message into a bare reference.
    expect(encodeValue({ $class: 'com.example.A', $: { a: 1 } })).toEqual(clean);
  });

  it('survives nested use: a getter that encodes while a value is being written', () => {
    const inner = { get b(): string {
      return encodeValue('nested').toString('hex');
    } };
    const out = decodeValue(encodeValue({ a: 'x', inner })) as { a: string; inner: { b: string } };
    expect(out).toEqual({ a: 'x', inner: { b: encodeValue('nested').toString('hex') } });
  });

  it('leaves the requested room in front of the bytes', () => {
    const buf = writeWithRoom(16, (w) => w.write('hi'));
    expect(buf.subarray(16)).toEqual(new HessianWriter().write('hi').toBuffer());
  });
});

describe('hessian2 string reading', () => {
  it.each([
    ['empty', ''],
    ['short ASCII', 'sayHello'],
    ['64 ASCII', 'a'.repeat(64)],
    ['65 ASCII', 'b'.repeat(65)],
    ['1023 ASCII', 'c'.repeat(1023)],
    ['long ASCII', 'd'.repeat(70_000)],
    ['non-ASCII', 'héllo wörld €'],
    ['surrogate pair', 'a😀b'],
  ])('reads a %s string', (_name, text) => {
    expect(decodeValue(encodeValue(text))).toBe(text);
    // Twice: the second read may come from the intern cache.
    expect(decodeValue(encodeValue(text))).toBe(text);
  });

  it('tells strings apart that hash alike in length', () => {
    expect(decodeValue(encodeValue(['ab', 'ba', 'ab']))).toEqual(['ab', 'ba', 'ab']);
  });

  it('reports a truncated string as a codec error', () => {
    const bytes = encodeValue('hello');
    expect(() => decodeValue(bytes.subarray(0, 3))).toThrow(CodecError);
  });

  it('reports an unknown byte code as a codec error', () => {
    expect(() => decodeValue(Buffer.from([0x40]))).toThrow(CodecError);
    expect(() => decodeValue(Buffer.alloc(0))).toThrow(CodecError);
  });
});

describe('hessian2 reader at the end of a body', () => {
  it('says the body ended where a value was expected', () => {
    const reader = new HessianReader(Buffer.from([0x90]));
    expect(reader.read()).toBe(0);
    expect(() => reader.read()).toThrow(expect.objectContaining({ code: 'HESSIAN_DECODE', where: 1, message: expect.stringContaining('the body ends at byte 1') }));
  });
});
