// Ground truth for the hessian2 layer: Caucho Hessian 4.0.38 (Java) writes every case and we
// must read exactly the value Java meant; we write every case and Java must read exactly the
// value and the Java class we meant (int vs long vs double included). Java side:
// test/java/HessianGround.java.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { HessianReader, decodeValue, encodeValue } from '../../src/dubbo-codec/hessian2';
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
} from '../../src/dubbo-codec/java-value';
import { cleanupJava, javaUnavailable, runJava } from '../support/java';

const MAIN = 'com.example.HessianGround';
const COLOR = 'com.example.Color';

// Throws under CI when Java or the jar is missing; outside CI, skips with the reason.
const unavailable = javaUnavailable();
const describeJava = unavailable ? describe.skip : describe;
if (unavailable) {
  console.warn(`SKIPPING java-hessian tests: ${unavailable}`);
}

const UNICODE = 'h\u00e9llo \u4e16\u754c \ud83d\ude00!';
const LONG_STRING = Array.from({ length: 70000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
const BIG_BYTES = Buffer.from(Array.from({ length: 5000 }, (_, i) => i & 0xff));
const TWO_53_PLUS_1 = 9007199254740993n;
const LONG_MAX = 2n ** 63n - 1n;
const LONG_MIN = -(2n ** 63n);

/** HessianGround.quote(): a JSON string with every non-printable-ASCII UTF-16 unit escaped. */
function javaQuote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (s[i] === '"' || s[i] === '\\') out += `\\${s[i]}`;
    else if (ch < 0x20 || ch > 0x7e) out += `\\u${ch.toString(16).padStart(4, '0')}`;
    else out += s[i];
  }
  return `${out}"`;
}

afterAll(() => cleanupJava());

describeJava('Java (Caucho Hessian 4.0.38) writes, mesh-bridge reads', () => {
  let dir: string;
  const read = (name: string, enums?: string[]): unknown =>
    decodeValue(readFileSync(join(dir, `${name}.hessian`)), enums ? { enums } : undefined);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hessian-java-write-'));
    await runJava(MAIN, ['write', dir]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // name -> exactly the JS value we must read (toStrictEqual: bigint vs number vs string matter).
  const expected: Record<string, unknown> = {
    string_ascii: 'hello, dubbo',
    string_empty: '',
    string_unicode: UNICODE,
    string_long: LONG_STRING,
    int_zero: 0,
    int_small: 47,
    int_negative: -300,
    int_mid: 262143,
    int_max: 2147483647,
    int_min: -2147483648,
    long_small: 7,
    long_int_range: 2147483647,
    long_safe_max: Number.MAX_SAFE_INTEGER,
    long_2p53_plus1: TWO_53_PLUS_1,
    long_max: LONG_MAX,
    long_min: LONG_MIN,
    long_neg_unsafe: -TWO_53_PLUS_1,
    double_one: 1,
    double_zero: 0,
    double_half: 0.5,
    double_mill: 12.345,
    double_short: 1000,
    double_tiny: -1e300,
    double_pi: Math.PI,
    double_nan: NaN,
    double_inf: Infinity,
    bool_true: true,
    bool_false: false,
    null: null,
    date: new Date(1700000000123),
    date_minute: new Date(1700000040000),
    bigdecimal: javaBigDecimal('12345.6789'),
    bigdecimal_big: javaBigDecimal('-123456789012345678901234567890.000000001'),
    bytes: Buffer.from([0, 1, 2, 0xfe, 0xff]),
    bytes_big: BIG_BYTES,
    int_array: [1, -2, 300000],
    list: ['a', 1, 2, TWO_53_PLUS_1],
    map: { name: 'x', count: 3, big: LONG_MAX },
    enum: { name: 'GREEN' },
    enum_list: [{ name: 'RED' }, { name: 'RED' }],
    order: {
      id: 'o-1',
      amount: TWO_53_PLUS_1,
      items: [
        { name: 'apple', qty: 3 },
        { name: 'pear', qty: 1 },
      ],
    },
  };

  test('every case Java wrote has an expectation here (and vice versa)', () => {
    const written = readdirSync(dir)
      .filter((f) => f.endsWith('.hessian'))
      .map((f) => f.slice(0, -'.hessian'.length))
      .sort();
    expect(written).toEqual([...Object.keys(expected), 'exception'].sort());
  });

  test.each(Object.keys(expected))('%s', (name) => {
    expect(read(name)).toStrictEqual(expected[name]);
  });

  test('long above 2^53 is an exact bigint, never a lossy number or a string', () => {
    expect(typeof read('long_2p53_plus1')).toBe('bigint');
    expect(typeof read('long_max')).toBe('bigint');
    expect(typeof read('long_safe_max')).toBe('number');
  });

  test('a Date comes back as a Date, byte[] as a Buffer', () => {
    expect(read('date')).toBeInstanceOf(Date);
    expect(Buffer.isBuffer(read('bytes'))).toBe(true);
  });

  test('an enum reads as its name when its class is named in `enums`', () => {
    expect(read('enum', [COLOR])).toBe('GREEN');
    // the second RED is a back-reference on the wire
    expect(read('enum_list', [COLOR])).toEqual(['RED', 'RED']);
  });

  test('a Throwable reads as an Error with its Java class name and message', () => {
    const err = read('exception');
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe('java.lang.IllegalStateException');
    expect((err as Error).message).toBe('boom');
  });

  test('HessianReader reads consecutive values and tracks the offset', () => {
    const parts = ['long_max', 'string_unicode', 'date', 'double_pi'].map((n) => readFileSync(join(dir, `${n}.hessian`)));
    const reader = new HessianReader(Buffer.concat(parts));
    expect(reader.read()).toBe(LONG_MAX);
    expect(reader.offset).toBe(parts[0].length);
    expect(reader.readString()).toBe(UNICODE);
    expect(reader.read()).toEqual(new Date(1700000000123));
    expect(reader.read()).toBe(Math.PI);
    expect(reader.offset).toBe(Buffer.concat(parts).length);
  });

  test('a decoded BigDecimal re-encodes byte for byte as Java wrote it', () => {
    const javaBytesOnWire = readFileSync(join(dir, 'bigdecimal.hessian'));
    expect(encodeValue(decodeValue(javaBytesOnWire))).toEqual(javaBytesOnWire);
  });
});

describeJava('mesh-bridge writes, Java (Caucho Hessian 4.0.38) reads', () => {
  const item = (name: string, qty: number) => javaObject('com.example.Item', { name, qty });
  // name -> [value we write, Java class Java must read, HessianGround.canon() of the value]
  const cases: Record<string, [unknown, string, string]> = {
    string_ascii: ['hello, dubbo', 'java.lang.String', '"hello, dubbo"'],
    string_empty: ['', 'java.lang.String', '""'],
    string_unicode: [UNICODE, 'java.lang.String', javaQuote(UNICODE)],
    string_long: [LONG_STRING, 'java.lang.String', javaQuote(LONG_STRING)],
    int_zero: [0, 'java.lang.Integer', 'Integer(0)'],
    int_small: [47, 'java.lang.Integer', 'Integer(47)'],
    int_negative: [-300, 'java.lang.Integer', 'Integer(-300)'],
    int_max: [2147483647, 'java.lang.Integer', 'Integer(2147483647)'],
    int_min: [-2147483648, 'java.lang.Integer', 'Integer(-2147483648)'],
    int_typed: [javaInt(262143), 'java.lang.Integer', 'Integer(262143)'],
    // a bare integral number is an int; javaLong makes it a long
    long_small: [javaLong(7), 'java.lang.Long', 'Long(7)'],
    long_untyped_above_int: [3000000000, 'java.lang.Long', 'Long(3000000000)'],
    long_2p53_plus1: [TWO_53_PLUS_1, 'java.lang.Long', 'Long(9007199254740993)'],
    long_max: [javaLong(LONG_MAX), 'java.lang.Long', `Long(${LONG_MAX})`],
    long_min: [javaLong(LONG_MIN), 'java.lang.Long', `Long(${LONG_MIN})`],
    long_neg_unsafe: [-TWO_53_PLUS_1, 'java.lang.Long', 'Long(-9007199254740993)'],
    long_safe_bigint: [5n, 'java.lang.Long', 'Long(5)'],
    // a bare 1 is an int; javaDouble(1) is 1.0
    double_untyped_integral: [1, 'java.lang.Integer', 'Integer(1)'],
    double_one: [javaDouble(1), 'java.lang.Double', 'Double(1.0)'],
    double_zero: [javaDouble(0), 'java.lang.Double', 'Double(0.0)'],
    double_byte: [javaDouble(-100), 'java.lang.Double', 'Double(-100.0)'],
    double_short: [javaDouble(1000), 'java.lang.Double', 'Double(1000.0)'],
    double_int: [javaDouble(3000000000), 'java.lang.Double', 'Double(3.0E9)'],
    double_half: [0.5, 'java.lang.Double', 'Double(0.5)'],
    double_mill: [12.345, 'java.lang.Double', 'Double(12.345)'],
    double_tiny: [-1e300, 'java.lang.Double', 'Double(-1.0E300)'],
    double_pi: [Math.PI, 'java.lang.Double', 'Double(3.141592653589793)'],
    double_nan: [NaN, 'java.lang.Double', 'Double(NaN)'],
    double_inf: [Infinity, 'java.lang.Double', 'Double(Infinity)'],
    bool_true: [true, 'java.lang.Boolean', 'Boolean(true)'],
    bool_false: [false, 'java.lang.Boolean', 'Boolean(false)'],
    null: [null, 'null', 'null'],
    date: [new Date(1700000000123), 'java.util.Date', 'Date(1700000000123)'],
    date_minute: [javaDate(1700000040000), 'java.util.Date', 'Date(1700000040000)'],
    bigdecimal: [javaBigDecimal('12345.6789'), 'java.math.BigDecimal', 'BigDecimal(12345.6789)'],
    bigdecimal_big: [
      javaBigDecimal('-123456789012345678901234567890.000000001'),
      'java.math.BigDecimal',
      'BigDecimal(-123456789012345678901234567890.000000001)',
    ],
    bytes: [javaBytes(new Uint8Array([0, 1, 2, 0xfe, 0xff])), '[B', 'bytes(000102feff)'],
    bytes_big: [BIG_BYTES, '[B', `bytes(${BIG_BYTES.toString('hex')})`],
    int_array: [javaArray('int', [1, -2, 300000]), '[I', 'int[1, -2, 300000]'],
    long_array: [javaArray('long', [1, TWO_53_PLUS_1]), '[J', 'long[1, 9007199254740993]'],
    double_array: [javaArray('double', [1, 0.5]), '[D', 'double[1.0, 0.5]'],
    string_array: [javaArray('java.lang.String', ['a', 'b']), '[Ljava.lang.String;', 'String[]["a", "b"]'],
    list: [
      javaList(['a', 1, javaLong(2), TWO_53_PLUS_1]),
      'java.util.ArrayList',
      'ArrayList["a", Integer(1), Long(2), Long(9007199254740993)]',
    ],
    list_untyped: [['a', 1], 'java.util.ArrayList', 'ArrayList["a", Integer(1)]'],
    map: [
      javaMap({ name: 'x', count: 3, big: javaLong(LONG_MAX) }),
      'java.util.HashMap',
      `HashMap{"big"=Long(${LONG_MAX}), "count"=Integer(3), "name"="x"}`,
    ],
    map_untyped: [{ a: 1, b: 'c' }, 'java.util.HashMap', 'HashMap{"a"=Integer(1), "b"="c"}'],
    map_long_keys: [javaMap(new Map([[javaLong(1), 'one']])), 'java.util.HashMap', 'HashMap{Long(1)="one"}'],
    map_linked: [
      javaMap(new Map([['b', 1], ['a', 2]]), 'java.util.LinkedHashMap'),
      'java.util.LinkedHashMap',
      'LinkedHashMap{"a"=Integer(2), "b"=Integer(1)}',
    ],
    map_tree: [javaMap({ k: 'v' }, 'java.util.TreeMap'), 'java.util.TreeMap', 'TreeMap{"k"="v"}'],
    enum: [javaEnum(COLOR, 'GREEN'), COLOR, 'Color.GREEN'],
    enum_list: [javaList([javaEnum(COLOR, 'RED'), javaEnum(COLOR, 'BLUE')]), 'java.util.ArrayList', 'ArrayList[Color.RED, Color.BLUE]'],
    order: [
      javaObject('com.example.Order', {
        id: 'o-1',
        amount: javaLong(TWO_53_PLUS_1),
        items: javaList([item('apple', 3), item('pear', 1)]),
      }),
      'com.example.Order',
      'Order{id="o-1", amount=Long(9007199254740993), items=ArrayList[Item{name="apple", qty=Integer(3)}, Item{name="pear", qty=Integer(1)}]}',
    ],
    exception: [
      javaObject('java.lang.IllegalStateException', { detailMessage: 'boom' }),
      'java.lang.IllegalStateException',
      'IllegalStateException(boom)',
    ],
  };

  let dir: string;
  const javaRead = new Map<string, { className: string; canon: string }>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hessian-java-read-'));
    for (const [name, [value]] of Object.entries(cases)) {
      writeFileSync(join(dir, `${name}.hessian`), encodeValue(value));
    }
    const out = await runJava(MAIN, ['read', dir]);
    for (const line of out.split('\n').filter(Boolean)) {
      const [name, className, ...rest] = line.split('\t');
      javaRead.set(name, { className, canon: rest.join('\t') });
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('Java read every file we wrote', () => {
    expect([...javaRead.keys()].sort()).toEqual(Object.keys(cases).sort());
  });

  test.each(Object.keys(cases))('%s', (name) => {
    const [, className, canon] = cases[name];
    expect(javaRead.get(name)).toEqual({ className, canon });
  });
});

describeJava('the same bytes as Java', () => {
  // Where hessian2 has one obvious encoding, ours must match Caucho's byte for byte.
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hessian-java-bytes-'));
    await runJava(MAIN, ['write', dir]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const same: Record<string, unknown> = {
    string_unicode: UNICODE,
    string_long: LONG_STRING,
    int_min: -2147483648,
    int_mid: 262143,
    long_small: javaLong(7),
    long_2p53_plus1: TWO_53_PLUS_1,
    long_min: LONG_MIN,
    double_one: javaDouble(1),
    double_mill: 12.345,
    double_pi: Math.PI,
    double_nan: NaN,
    date: new Date(1700000000123),
    date_minute: new Date(1700000040000),
    bigdecimal: javaBigDecimal('12345.6789'),
    bytes: Buffer.from([0, 1, 2, 0xfe, 0xff]),
    int_array: javaArray('int', [1, -2, 300000]),
    enum: javaEnum(COLOR, 'GREEN'),
  };

  test.each(Object.keys(same))('%s', (name) => {
    expect(encodeValue(same[name]).toString('hex')).toBe(readFileSync(join(dir, `${name}.hessian`)).toString('hex'));
  });
});
