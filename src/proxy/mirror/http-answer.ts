// An HTTP answer as the side-by-side run compares it: the status, the headers that are not
// volatile (date, framing, cookies and the names the ignore rules add), and the body: parsed JSON
// (ignore paths apply) when both sides' bodies are JSON, else the bytes.
import type { JsonPath } from './json-path';
import { Difference, firstDifference } from './value-diff';

export interface HttpAnswer {
  status: number;
  /** Lower-case names; repeated fields joined with ", ". */
  headers: Map<string, string>;
  body: Buffer;
}

/** Headers that differ between any two servers, or per response: never compared. */
export const VOLATILE_HEADERS: ReadonlySet<string> = new Set([
  'date',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'trailer',
  'te',
  'upgrade',
  'proxy-connection',
  'server',
  'age',
  'expires',
  'last-modified',
  'etag',
  'set-cookie',
  'via',
  'x-request-id',
  'x-mesh-bridge-hops',
]);

/** Headers whose values are secrets: a difference names them, never shows their values. */
export const SECRET_HEADERS: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'www-authenticate', 'proxy-authenticate', 'x-api-key', 'x-auth-token']);

/** `[name, value, ...]` as the data path reads a head, into the compared header map. */
export function headerMap(fields: readonly string[], ignoreHeaders: ReadonlySet<string>): Map<string, string> {
  const headers = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i].toLowerCase();
    if (VOLATILE_HEADERS.has(name) || ignoreHeaders.has(name)) continue;
    const before = headers.get(name);
    headers.set(name, before === undefined ? fields[i + 1] : `${before}, ${fields[i + 1]}`);
  }
  return headers;
}

function isJson(headers: Map<string, string>, body: Buffer): boolean {
  const type = headers.get('content-type');
  if (type !== undefined) return /[/+]json\b/i.test(type);
  const first = body.find((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09);
  return first === 0x7b || first === 0x5b; // { or [
}

function parseJson(body: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) };
  } catch {
    return { ok: false };
  }
}

/**
 * The first difference between two HTTP answers. Paths: `(status)`, `(header)` then the name, or the
 * body's JSON path from `$` (`(body)` for bodies compared as bytes).
 */
export function httpAnswerDifference(primary: HttpAnswer, shadow: HttpAnswer, ignore: readonly JsonPath[]): Difference | null {
  if (primary.status !== shadow.status) return { path: ['(status)'], primary: primary.status, shadow: shadow.status };
  const names = new Set([...primary.headers.keys(), ...shadow.headers.keys()]);
  for (const name of [...names].sort()) {
    const a = primary.headers.get(name);
    const b = shadow.headers.get(name);
    if (a === b) continue;
    const secret = SECRET_HEADERS.has(name);
    const shown = (v: string | undefined): unknown => (v === undefined ? undefined : secret ? '(secret)' : v);
    return { path: ['(header)', name], primary: shown(a), shadow: shown(b) };
  }
  if (isJson(primary.headers, primary.body) && isJson(shadow.headers, shadow.body)) {
    const a = parseJson(primary.body);
    const b = parseJson(shadow.body);
    if (a.ok && b.ok) return firstDifference(a.value, b.value, ignore);
  }
  return primary.body.equals(shadow.body) ? null : { path: ['(body)'], primary: primary.body.toString('utf8'), shadow: shadow.body.toString('utf8') };
}
