// Deep comparison of two decoded answers (hessian values from Dubbo, JSON from HTTP): the first
// difference found, with its path, or null when they are equal once the ignore rules' paths are
// left out. Object keys compare in any order; an exception compares by class (its name) and message.
import { JsonPath, PathSegment } from './json-path';

export interface Difference {
  path: readonly PathSegment[];
  primary: unknown;
  shadow: unknown;
}

/** Past this depth values are not compared further (a cyclic or absurdly deep value is not a crash). */
const MAX_DEPTH = 64;

function ignored(path: readonly PathSegment[], ignore: readonly JsonPath[]): boolean {
  for (const rule of ignore) if (rule.matches(path)) return true;
  return false;
}

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

/** Numbers and bigints that denote the same integer are equal (a Java long may decode as either). */
function sameScalar(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return Number.isNaN(a) && Number.isNaN(b);
  if (typeof a === 'bigint' && typeof b === 'number') return Number.isInteger(b) && a === BigInt(b);
  if (typeof a === 'number' && typeof b === 'bigint') return Number.isInteger(a) && BigInt(a) === b;
  return false;
}

/** The first difference between `primary` and `shadow`, or null. */
export function firstDifference(primary: unknown, shadow: unknown, ignore: readonly JsonPath[] = [], path: PathSegment[] = []): Difference | null {
  if (ignore.length > 0 && ignored(path, ignore)) return null;
  const differ = (): Difference => ({ path: [...path], primary, shadow });
  if (primary === null || shadow === null || typeof primary !== 'object' || typeof shadow !== 'object') return sameScalar(primary, shadow) ? null : differ();
  if (path.length >= MAX_DEPTH) return null;
  if (primary instanceof Date || shadow instanceof Date) {
    return primary instanceof Date && shadow instanceof Date && primary.getTime() === shadow.getTime() ? null : differ();
  }
  if (isBytes(primary) || isBytes(shadow)) return isBytes(primary) && isBytes(shadow) && Buffer.from(primary.buffer, primary.byteOffset, primary.byteLength).equals(shadow) ? null : differ();
  if (primary instanceof Error || shadow instanceof Error) return exceptionDifference(primary, shadow, ignore, path);
  if (Array.isArray(primary) || Array.isArray(shadow)) {
    if (!Array.isArray(primary) || !Array.isArray(shadow)) return differ();
    const common = Math.min(primary.length, shadow.length);
    for (let i = 0; i < common; i++) {
      path.push(i);
      const found = firstDifference(primary[i], shadow[i], ignore, path);
      path.pop();
      if (found !== null) return found;
    }
    if (primary.length === shadow.length) return null;
    // The first element only one side has (unless the rules ignore it).
    path.push(common);
    const extra = ignored(path, ignore) ? null : { path: [...path], primary: primary[common], shadow: shadow[common] };
    path.pop();
    return extra;
  }
  if (primary instanceof Map || shadow instanceof Map) {
    if (!(primary instanceof Map) || !(shadow instanceof Map)) return differ();
    return membersDifference(Object.fromEntries(primary), Object.fromEntries(shadow), ignore, path);
  }
  return membersDifference(primary as Record<string, unknown>, shadow as Record<string, unknown>, ignore, path);
}

function membersDifference(primary: Record<string, unknown>, shadow: Record<string, unknown>, ignore: readonly JsonPath[], path: PathSegment[]): Difference | null {
  const keys = new Set(Object.keys(primary));
  for (const key of Object.keys(shadow)) keys.add(key);
  for (const key of [...keys].sort()) {
    path.push(key);
    const found = firstDifference(primary[key], shadow[key], ignore, path);
    path.pop();
    if (found !== null) return found;
  }
  return null;
}

/** Exceptions: the same class (hessian.js puts it in `name`) and the same message. */
function exceptionDifference(primary: object, shadow: object, ignore: readonly JsonPath[], path: PathSegment[]): Difference | null {
  const shape = (e: object): { class: unknown; message: unknown } => (e instanceof Error ? { class: e.name, message: e.message } : { class: typeof e, message: e });
  return membersDifference(shape(primary), shape(shadow), ignore, path);
}
