// Dubbo registry URLs (`dubbo://10.0.0.1:20880/com.example.Greeter?version=1.0.0&methods=a,b`) and
// the znode names that carry them (the whole URL percent-encoded). Java Dubbo encodes a URL once;
// some JavaScript providers encode parameter values first and the URL again, so values arrive
// encoded once or twice: both read the same here.
import { CodecError, preview } from '../errors';

export interface DubboUrl {
  /** `dubbo`, `consumer`, `override`, `route`, `empty`, ... */
  protocol: string;
  username: string;
  password: string;
  host: string;
  /** 0 when the URL names no port (consumer URLs). */
  port: number;
  /** The path without its leading slash: usually the interface name. */
  path: string;
  /** Decoded parameters, in the order they came. */
  params: Map<string, string>;
}

const URL_SHAPE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?(\[[^\]]*\]|[^/:?]*)(?::(\d*))?(?:\/([^?]*))?(?:\?(.*))?$/s;
const ESCAPE = /%[0-9A-Fa-f]{2}/;

function badUrl(text: string, why: string): CodecError {
  return new CodecError('DUBBO_BAD_URL', `${why}: ${preview(text)}`, { value: text });
}

/** decodeURIComponent that reports a malformed escape as a typed error. */
function decodeComponent(text: string, whole: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw badUrl(whole, `malformed percent-escape in '${text.slice(0, 60)}'`);
  }
}

/**
 * A parameter value, decoded once more when it still holds percent-escapes and decodes cleanly:
 * the twice-encoded form some providers write. A value that does not decode is kept as it is.
 */
function decodeParamValue(value: string): string {
  if (!ESCAPE.test(value)) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Parses a decoded URL string (`dubbo://host:port/path?k=v&...`). */
export function parseDubboUrl(text: string): DubboUrl {
  const match = URL_SHAPE.exec(text.trim());
  if (!match) throw badUrl(text, 'not a URL of the form protocol://host[:port]/path[?params]');
  const [, protocol, username = '', password = '', host, portText = '', path = '', query = ''] = match;
  let port = 0;
  if (portText !== '') {
    port = Number(portText);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw badUrl(text, `port ${portText} out of range`);
  }
  const params = new Map<string, string>();
  if (query !== '') {
    for (const pair of query.split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      const raw = eq < 0 ? '' : pair.slice(eq + 1);
      if (key === '') throw badUrl(text, `parameter without a name ('${pair.slice(0, 60)}')`);
      // Keys are plain identifiers; values were percent-encoded at most once more inside the URL.
      params.set(decodeParamValue(key.replace(/\+/g, ' ')), decodeParamValue(raw));
    }
  }
  return { protocol, username, password, host, port, path: path.replace(/^\/+/, ''), params };
}

/** Formats a URL with its parameter values encoded where they must be (`&`, `=`, `%`, spaces). */
export function formatDubboUrl(url: DubboUrl): string {
  let out = `${url.protocol}://`;
  if (url.username !== '' || url.password !== '') out += url.password !== '' ? `${url.username}:${url.password}@` : `${url.username}@`;
  out += url.host;
  if (url.port > 0) out += `:${url.port}`;
  out += `/${url.path}`;
  let sep = '?';
  for (const [key, value] of url.params) {
    out += `${sep}${encodeUrlPart(key)}=${encodeUrlPart(value)}`;
    sep = '&';
  }
  return out;
}

/** Escapes only what would change how the URL splits; commas and slashes stay readable, as Java writes them. */
function encodeUrlPart(text: string): string {
  return text.replace(/[%&=?#\s+]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0'));
}

/** A znode name under `/dubbo/<interface>/<category>` to a URL, tolerant of double encoding. */
export function parseZnodeName(name: string): DubboUrl {
  let text = decodeComponent(name, name);
  // A name encoded twice still starts with an escaped scheme after one decode.
  if (/^[A-Za-z][A-Za-z0-9+.-]*%3A%2F%2F/i.test(text)) text = decodeComponent(text, name);
  if (!text.includes('://')) throw badUrl(name, 'znode name is not an encoded URL');
  return parseDubboUrl(text);
}

/** The znode name Java Dubbo writes for a URL: the whole URL percent-encoded once. */
export function toZnodeName(url: DubboUrl): string {
  return encodeURIComponent(formatDubboUrl(url));
}

/** Builds a URL from parts, parameters given as an object or a map. */
export function dubboUrl(
  protocol: string,
  host: string,
  port: number,
  path: string,
  params: Record<string, string | number | boolean> | Map<string, string> = {},
): DubboUrl {
  const map = params instanceof Map ? new Map(params) : new Map(Object.entries(params).map(([k, v]) => [k, String(v)]));
  return { protocol, username: '', password: '', host, port, path, params: map };
}

// Accessors for the parameters every part of the bridge reads.

/** The interface a URL is for: the `interface` parameter, else the path. */
export function urlInterface(url: DubboUrl): string {
  return url.params.get('interface') || url.path;
}

export function urlVersion(url: DubboUrl): string {
  return url.params.get('version') ?? url.params.get('default.version') ?? '';
}

export function urlGroup(url: DubboUrl): string {
  return url.params.get('group') ?? url.params.get('default.group') ?? '';
}

/** The `methods` list; empty when absent. */
export function urlMethods(url: DubboUrl): string[] {
  const methods = url.params.get('methods');
  return methods ? methods.split(',').filter((m) => m !== '') : [];
}

/** The `weight` parameter, Dubbo's default 100 when absent or not a non-negative integer. */
export function urlWeight(url: DubboUrl): number {
  const weight = Number(url.params.get('weight') ?? url.params.get('default.weight'));
  return Number.isInteger(weight) && weight >= 0 ? weight : 100;
}

/** `host:port` of the URL. */
export function urlAddress(url: DubboUrl): string {
  return url.port > 0 ? `${url.host}:${url.port}` : url.host;
}
