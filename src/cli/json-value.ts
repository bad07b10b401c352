// Decoded hessian2 values as JSON: bigint, Buffer, Date, Map and typed Java objects have no JSON
// form of their own, so they get a stable, lossless one here.

/**
 * Converts a decoded value into one JSON.stringify keeps exactly: bigint -> decimal string,
 * Buffer -> `{"$binary": base64}`, Date -> ISO string, Map -> object, NaN/Infinity -> string.
 */
export function toJsonValue(value: unknown, depth = 0): unknown {
  if (depth > 256) return '[too deep]';
  switch (typeof value) {
    case 'bigint':
      return value.toString();
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'string':
    case 'boolean':
      return value;
    case 'undefined':
      return null;
    case 'object':
      break;
    default:
      return String(value);
  }
  if (value === null) return null;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return { $binary: Buffer.from(value).toString('base64') };
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  if (Array.isArray(value)) return value.map((v) => toJsonValue(v, depth + 1));
  if (value instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of value) out[String(toJsonValue(k, depth + 1))] = toJsonValue(v, depth + 1);
    return out;
  }
  if (value instanceof Error) return { name: value.name, message: value.message };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = toJsonValue(v, depth + 1);
  return out;
}
