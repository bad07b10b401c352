// Java-typed values for the hessian2 encoder. JavaScript has one number type, so a bare `1`
// goes out as a Java int, `1.5` as a double and 2^31 as a long; these helpers say which Java type
// a value must arrive as. Each returns the `{$class, $}` form hessian.js's encoder understands
// (see hessian2.ts for the fixes it needs, e.g. bigint longs).
import { CodecError, preview } from '../errors';

/** A value tagged with the Java class it must be written as. */
export interface JavaTyped<T = unknown> {
  readonly $class: string;
  readonly $: T;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function invalid(what: string, value: unknown): never {
  throw new CodecError('HESSIAN_ENCODE', `${what}, got ${preview(value)}`, { value });
}

/** A java.lang.Long. Numbers must be safe integers; use a bigint above 2^53. */
export function javaLong(value: bigint | number): JavaTyped<bigint | number> {
  if (typeof value === 'bigint') {
    if (value < INT64_MIN || value > INT64_MAX) invalid('a Java long must fit in 64 bits', value);
  } else if (!Number.isSafeInteger(value)) {
    invalid('a Java long from a number must be a safe integer (pass a bigint beyond 2^53)', value);
  }
  return { $class: 'long', $: value };
}

/** A java.lang.Integer (32-bit). */
export function javaInt(value: number): JavaTyped<number> {
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) {
    invalid('a Java int must be a 32-bit integer', value);
  }
  return { $class: 'int', $: value };
}

/** A java.lang.Double, even when the number is integral (`javaDouble(1)` is 1.0, not int 1). */
export function javaDouble(value: number): JavaTyped<number> {
  if (typeof value !== 'number') invalid('a Java double must be a number', value);
  return { $class: 'double', $: value };
}

/** A java.util.Date, from a Date or milliseconds since the epoch. */
export function javaDate(value: Date | number): JavaTyped<Date> {
  const date = typeof value === 'number' ? new Date(value) : value;
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) invalid('a Java date must be a valid Date', value);
  return { $class: 'java.util.Date', $: date };
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * A java.math.BigDecimal in Dubbo's form: an object with one field `value` holding its decimal
 * string (hessian-lite's BigDecimal serializer; stock Caucho's {scale, intVal} is not used by Dubbo).
 * This is also the form HessianReader returns for a BigDecimal, so a decoded value re-encodes as is.
 */
export function javaBigDecimal(value: string): JavaTyped<{ value: string }> {
  if (typeof value !== 'string' || !DECIMAL.test(value)) invalid('a Java BigDecimal must be a decimal string', value);
  return { $class: 'java.math.BigDecimal', $: { value } };
}

/** A Java enum constant: Hessian writes an enum as an object of its class with one field `name`. */
export function javaEnum(className: string, name: string): JavaTyped<{ name: string }> {
  return { $class: className, $: { name } };
}

/**
 * An instance of a Java class. Field order matters to Hessian: the first instance of a class
 * written in a message fixes the field list for all later ones.
 */
export function javaObject<T extends Record<string, unknown>>(className: string, fields: T): JavaTyped<T> {
  return { $class: className, $: fields };
}

/** A java.util.List (ArrayList unless another class is named); Java reads it back as that class. */
export function javaList(items: readonly unknown[], className = 'java.util.ArrayList'): JavaTyped<unknown[]> {
  return { $class: className, $: [...items] };
}

const PRIMITIVE_ELEMENT: Record<string, ((v: never) => JavaTyped) | undefined> = {
  int: javaInt,
  long: javaLong,
  double: javaDouble,
};

/**
 * A Java array, e.g. javaArray('int', [1, 2]) for int[] or javaArray('com.example.Item', [...]).
 * Elements of int[], long[] and double[] are typed for you so the wire types match.
 */
export function javaArray(componentType: string, items: readonly unknown[]): JavaTyped<unknown[]> {
  const wrap = PRIMITIVE_ELEMENT[componentType];
  const $ = wrap ? items.map((v) => (isTyped(v) ? v : wrap(v as never))) : [...items];
  // Caucho's names for array types: [int, [string, [object, or [ + the component class name.
  const name = componentType === 'java.lang.String' ? 'string' : componentType === 'java.lang.Object' ? 'object' : componentType;
  return { $class: `[${name}`, $ };
}

/**
 * A java.util.Map (HashMap unless another class is named). Entries keep their order (useful for
 * LinkedHashMap); keys of a Map may be any value, e.g. javaLong keys.
 */
export function javaMap(
  entries: ReadonlyMap<unknown, unknown> | Record<string, unknown>,
  className = 'java.util.HashMap',
): JavaTyped<Map<unknown, unknown>> {
  const map = entries instanceof Map ? new Map(entries) : new Map(Object.entries(entries));
  return { $class: className, $: map };
}

/** A byte[]. */
export function javaBytes(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function isTyped(v: unknown): v is JavaTyped {
  return typeof v === 'object' && v !== null && typeof (v as JavaTyped).$class === 'string' && '$' in v;
}
