// Fallback values as a config file writes them (YAML or JSON), turned once, when the config is
// validated, into what the Dubbo encoder writes (Java-typed through java-value.ts, so a Java or
// JavaScript consumer decodes the type it expects) and what an HTTP caller gets (JSON).
import { z } from 'zod';
import { javaBigDecimal, javaDate, javaDouble, javaEnum, javaInt, javaList, javaLong, javaMap, javaObject } from '../../dubbo-codec';

/** A value in both forms: `java` for the hessian2 encoder, `plain` for JSON. */
export interface FallbackValue {
  java: unknown;
  plain: unknown;
}

type Path = Array<string | number>;

class SpecError extends Error {
  constructor(
    message: string,
    readonly path: Path,
  ) {
    super(message);
  }
}

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const MAX_DEPTH = 32;
const TYPED_KEYS = ['$long', '$int', '$double', '$date', '$bigDecimal', '$enum', '$class', '$map'];
const JAVA_CLASS = /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)+$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A number as Java would type it: int when it fits 32 bits, long when a larger safe integer, double otherwise. */
function numberValue(n: number, path: Path): FallbackValue {
  if (!Number.isFinite(n)) throw new SpecError('a number must be finite', path);
  if (Number.isInteger(n)) {
    if (n >= INT32_MIN && n <= INT32_MAX) return { java: n, plain: n };
    if (Number.isSafeInteger(n)) return { java: javaLong(n), plain: n };
  }
  return { java: javaDouble(n), plain: n };
}

function className(value: unknown, path: Path): string {
  if (typeof value !== 'string' || !JAVA_CLASS.test(value)) throw new SpecError('expected a Java class name such as com.example.Price', path);
  return value;
}

/** Runs a java-value.ts helper, turning its CodecError into a config error at `path`. */
function typed<T>(make: () => T, path: Path): T {
  try {
    return make();
  } catch (err) {
    throw new SpecError((err as Error).message, path);
  }
}

function fields(spec: unknown, path: Path, depth: number): { java: Record<string, unknown>; plain: Record<string, unknown> } {
  if (!isRecord(spec)) throw new SpecError('expected a map of field names to values', path);
  const java: Record<string, unknown> = {};
  const plain: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(spec)) {
    const converted = convert(value, [...path, key], depth + 1);
    java[key] = converted.java;
    plain[key] = converted.plain;
  }
  return { java, plain };
}

function typedValue(spec: Record<string, unknown>, path: Path, depth: number): FallbackValue {
  const key = Object.keys(spec).find((k) => TYPED_KEYS.includes(k)) as string;
  const v = spec[key];
  const extra = Object.keys(spec).filter((k) => k !== key && !(key === '$enum' && k === 'name') && !(key === '$class' && k === 'fields') && !(key === '$map' && k === 'class'));
  if (extra.length > 0) throw new SpecError(`unexpected key ${JSON.stringify(extra[0])} beside ${key}`, path);
  const at = [...path, key];
  switch (key) {
    case '$long': {
      if (typeof v === 'string' && /^-?\d{1,19}$/.test(v)) {
        const big = BigInt(v);
        return { java: typed(() => javaLong(big), at), plain: Number.isSafeInteger(Number(big)) ? Number(big) : v };
      }
      if (typeof v !== 'number') throw new SpecError('expected an integer or a string of digits', at);
      return { java: typed(() => javaLong(v), at), plain: v };
    }
    case '$int':
      return { java: typed(() => javaInt(v as number), at), plain: v };
    case '$double':
      if (typeof v !== 'number') throw new SpecError('expected a number', at);
      return { java: javaDouble(v), plain: v };
    case '$date': {
      if (typeof v !== 'string' && typeof v !== 'number') throw new SpecError('expected an ISO date string or milliseconds since the epoch', at);
      const date = typed(() => javaDate(typeof v === 'number' ? v : new Date(v)), at);
      return { java: date, plain: date.$.toISOString() };
    }
    case '$bigDecimal':
      return { java: typed(() => javaBigDecimal(v as string), at), plain: v };
    case '$enum': {
      if (typeof spec.name !== 'string' || spec.name === '') throw new SpecError('an enum needs `name`: the constant', [...path, 'name']);
      return { java: javaEnum(className(v, at), spec.name), plain: spec.name };
    }
    case '$class': {
      const f = fields(spec.fields ?? {}, [...path, 'fields'], depth);
      return { java: javaObject(className(v, at), f.java), plain: f.plain };
    }
    default: {
      const f = fields(v, at, depth);
      const mapClass = spec.class === undefined ? 'java.util.HashMap' : className(spec.class, [...path, 'class']);
      return { java: javaMap(f.java, mapClass), plain: f.plain };
    }
  }
}

function convert(spec: unknown, path: Path, depth: number): FallbackValue {
  if (depth > MAX_DEPTH) throw new SpecError(`nested deeper than ${MAX_DEPTH}`, path);
  if (spec === null || typeof spec === 'string' || typeof spec === 'boolean') return { java: spec, plain: spec };
  if (typeof spec === 'number') return numberValue(spec, path);
  if (Array.isArray(spec)) {
    const items = spec.map((item, i) => convert(item, [...path, i], depth + 1));
    return { java: javaList(items.map((i) => i.java)), plain: items.map((i) => i.plain) };
  }
  if (isRecord(spec)) {
    if (Object.keys(spec).some((k) => TYPED_KEYS.includes(k))) return typedValue(spec, path, depth);
    const f = fields(spec, path, depth);
    return { java: javaMap(f.java), plain: f.plain };
  }
  throw new SpecError(`cannot send ${typeof spec} as a Java value`, path);
}

/**
 * A fallback value as config writes it:
 * - a string, boolean or null as itself; a number as int (32-bit integers), long (larger safe
 *   integers) or double; a list as java.util.ArrayList; a map as java.util.HashMap;
 * - `{$long: 123}` (or a string of digits beyond 2^53), `{$int: 1}`, `{$double: 1}`,
 *   `{$date: "2026-01-01T00:00:00Z"}` (or ms), `{$bigDecimal: "12.50"}`,
 *   `{$enum: com.example.Color, name: RED}`, `{$class: com.example.Price, fields: {...}}` (a DTO),
 *   `{$map: {...}, class: java.util.LinkedHashMap}`.
 */
export const fallbackValueSchema = z.unknown().transform((spec, ctx): FallbackValue => {
  try {
    return convert(spec, [], 0);
  } catch (err) {
    if (!(err instanceof SpecError)) throw err;
    ctx.addIssue({ code: 'custom', message: err.message, path: err.path });
    return z.NEVER;
  }
});
