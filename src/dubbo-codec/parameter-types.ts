// Dubbo's parameter descriptors (`Ljava/lang/String;[IJ`, JVM field-descriptor syntax) and the
// Java type names they stand for (`java.lang.String`, `int[]`, `long`).
import { CodecError, preview } from '../errors';

const PRIMITIVES: Record<string, string> = {
  Z: 'boolean',
  B: 'byte',
  C: 'char',
  D: 'double',
  F: 'float',
  I: 'int',
  J: 'long',
  S: 'short',
  V: 'void',
};
const PRIMITIVE_CODES: Record<string, string> = Object.fromEntries(Object.entries(PRIMITIVES).map(([code, name]) => [name, code]));

function badDescriptor(descriptor: string, at: number, why: string): CodecError {
  return new CodecError('DUBBO_BAD_DESCRIPTOR', `${why} in parameter descriptor ${preview(descriptor)} at ${at}`, {
    value: descriptor,
    where: at,
  });
}

/** End index (exclusive) of the one type that starts at `start`. */
function typeEnd(descriptor: string, start: number): number {
  let i = start;
  while (descriptor.charCodeAt(i) === 0x5b /* [ */) i++;
  if (i >= descriptor.length) throw badDescriptor(descriptor, i, 'array without an element type');
  const c = descriptor[i];
  if (c === 'L') {
    const end = descriptor.indexOf(';', i);
    if (end < 0) throw badDescriptor(descriptor, i, 'unterminated class name');
    if (end === i + 1) throw badDescriptor(descriptor, i, 'empty class name');
    return end + 1;
  }
  if (PRIMITIVES[c] === undefined) throw badDescriptor(descriptor, i, `unknown type code '${c}'`);
  return i + 1;
}

/** How many parameters a descriptor lists; allocation-free, for the per-request path. */
export function countParameters(descriptor: string): number {
  let count = 0;
  for (let i = 0; i < descriptor.length; i = typeEnd(descriptor, i)) count++;
  return count;
}

/** `Ljava/lang/String;[IJ` -> `['java.lang.String', 'int[]', 'long']`. */
export function parseParameterDescriptor(descriptor: string): string[] {
  const types: string[] = [];
  for (let i = 0; i < descriptor.length; ) {
    const end = typeEnd(descriptor, i);
    let dims = 0;
    while (descriptor.charCodeAt(i + dims) === 0x5b) dims++;
    const element = descriptor[i + dims] === 'L' ? descriptor.slice(i + dims + 1, end - 1).replace(/\//g, '.') : PRIMITIVES[descriptor[i + dims]];
    types.push(element + '[]'.repeat(dims));
    i = end;
  }
  return types;
}

/**
 * `['java.lang.String', 'int[]']` -> `Ljava/lang/String;[I`. Also takes JVM array names as
 * `Class.getName()` prints them (`[Ljava.lang.String;`, `[I`).
 */
export function formatParameterDescriptor(types: readonly string[]): string {
  let out = '';
  for (const type of types) {
    if (type.startsWith('[')) {
      out += type.replace(/\./g, '/');
      continue;
    }
    let name = type.trim();
    let dims = '';
    while (name.endsWith('[]')) {
      dims += '[';
      name = name.slice(0, -2);
    }
    if (!/^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/.test(name)) {
      throw new CodecError('DUBBO_BAD_DESCRIPTOR', `not a Java type name: ${preview(type)}`, { value: type });
    }
    out += dims + (PRIMITIVE_CODES[name] ?? `L${name.replace(/\./g, '/')};`);
  }
  return out;
}
