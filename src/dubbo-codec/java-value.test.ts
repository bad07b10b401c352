import { CodecError } from '../errors';
import { decodeValue, encodeValue } from './hessian2';
import {
  javaArray,
  javaBigDecimal,
  javaBytes,
  javaDate,
  javaDouble,
  javaEnum,
  javaInt,
  javaList,
  javaLong,
  javaMap,
  javaObject,
} from './java-value';

// First byte of each hessian2 encoding: which Java type went on the wire.
const hex = (v: unknown): string => encodeValue(v).toString('hex');

describe('java-value helpers', () => {
  test('javaLong writes a long (a bare number would be an int), bigint exactly', () => {
    expect(hex(7)).toBe('97'); // int 7
    expect(hex(javaLong(7))).toBe('e7'); // long 7
    expect(hex(javaLong(2n ** 63n - 1n))).toBe('4c7fffffffffffffff');
    expect(hex(javaLong(-(2n ** 63n)))).toBe('4c8000000000000000');
    expect(decodeValue(encodeValue(javaLong(9007199254740993n)))).toBe(9007199254740993n);
  });

  test('javaLong refuses what is not an exact 64-bit integer', () => {
    expect(() => javaLong(2n ** 63n)).toThrow(CodecError);
    expect(() => javaLong(1.5)).toThrow(/safe integer/);
    expect(() => javaLong(2 ** 60)).toThrow(/bigint/);
  });

  test('javaInt checks the 32-bit range', () => {
    expect(hex(javaInt(-16))).toBe('80');
    expect(() => javaInt(2 ** 31)).toThrow(CodecError);
    expect(() => javaInt(0.5)).toThrow(CodecError);
  });

  test('javaDouble writes a double even for an integral number', () => {
    expect(hex(1)).toBe('91'); // int 1
    expect(hex(javaDouble(1))).toBe('5c'); // double 1.0
    expect(hex(javaDouble(0))).toBe('5b');
    expect(hex(javaDouble(NaN))).toBe('447ff8000000000000');
  });

  test('javaDate from a Date or epoch milliseconds', () => {
    expect(decodeValue(encodeValue(javaDate(1700000000123)))).toEqual(new Date(1700000000123));
    expect(encodeValue(javaDate(new Date(5)))).toEqual(encodeValue(new Date(5)));
    expect(() => javaDate(new Date(NaN))).toThrow(CodecError);
  });

  test('javaBigDecimal is the Dubbo {value} form and reads back as itself', () => {
    const big = javaBigDecimal('12345.6789');
    expect(big).toEqual({ $class: 'java.math.BigDecimal', $: { value: '12345.6789' } });
    expect(decodeValue(encodeValue(big))).toEqual(big);
    expect(() => javaBigDecimal('12,5')).toThrow(CodecError);
    expect(javaBigDecimal('-1.5E+10').$.value).toBe('-1.5E+10');
  });

  test('javaEnum reads back as {name}, or the name when its class is named', () => {
    const e = javaEnum('com.example.Color', 'RED');
    expect(decodeValue(encodeValue(e))).toEqual({ name: 'RED' });
    expect(decodeValue(encodeValue(e), { enums: ['com.example.Color'] })).toBe('RED');
    expect(decodeValue(encodeValue([e, e]), { enums: ['com.example.Color'] })).toEqual(['RED', 'RED']);
  });

  test('javaObject keeps fields and their Java types', () => {
    const order = javaObject('com.example.Order', { id: 'o-1', amount: javaLong(2n ** 60n), qty: 2 });
    expect(decodeValue(encodeValue(order))).toEqual({ id: 'o-1', amount: 2n ** 60n, qty: 2 });
  });

  test('javaList and javaArray', () => {
    expect(decodeValue(encodeValue(javaList([1, 'a'])))).toEqual([1, 'a']);
    // int[] is a typed list '[int'
    expect(hex(javaArray('int', [1]))).toBe('7104' + Buffer.from('[int').toString('hex') + '91');
    // long[] elements are written as longs
    expect(hex(javaArray('long', [1]))).toBe('7105' + Buffer.from('[long').toString('hex') + 'e1');
    expect(javaArray('java.lang.String', []).$class).toBe('[string');
    expect(() => javaArray('int', [2 ** 40])).toThrow(CodecError);
  });

  test('javaMap keeps entry order and typed keys; non-HashMap classes stay maps', () => {
    const m = javaMap(new Map<unknown, unknown>([['b', 1], ['a', 2]]), 'java.util.LinkedHashMap');
    const buf = encodeValue(m);
    expect(buf[0]).toBe(0x4d); // 'M' typed map, not an object of class LinkedHashMap
    expect(Object.keys(decodeValue(buf) as object)).toEqual(['b', 'a']);
    expect(hex(javaMap(new Map([[javaLong(1), 'x']])))).toBe('48e10178' + '5a');
    expect(decodeValue(encodeValue(javaMap({ k: 'v' }, 'java.util.TreeMap')))).toEqual({ k: 'v' });
  });

  test('javaBytes from a Uint8Array view', () => {
    const u = new Uint8Array([9, 1, 2, 3]).subarray(1);
    expect(decodeValue(encodeValue(javaBytes(u)))).toEqual(Buffer.from([1, 2, 3]));
  });
});

describe('hessian.js fixes in hessian2.ts', () => {
  test('a bare bigint is a long, exact both ways', () => {
    for (const v of [0n, -1n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n)]) {
      expect(decodeValue(encodeValue(v))).toBe(v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : v);
    }
    expect(() => encodeValue(2n ** 64n)).toThrow(CodecError);
  });

  test('NaN is a double, not null', () => {
    expect(decodeValue(encodeValue(NaN))).toBeNaN();
  });

  test('an integral number beyond 2^53 is a double, not a wrapped long', () => {
    expect(decodeValue(encodeValue(-1e300))).toBe(-1e300);
    expect(decodeValue(encodeValue(2 ** 64))).toBe(2 ** 64);
    expect(hex(3000000000)).toBe('4c00000000b2d05e00'); // a safe integer beyond int32 is still a long
  });
});
