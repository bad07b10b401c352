// Dubbo interface-level registry entries (`/dubbo/<iface>/{providers,consumers,configurators,routers}/
// <encoded URL>`) to what the bridge keeps of them, and provider URLs back to znode names. Pure.
// URL parsing is dubbo-codec's (once- and twice-encoded names read the same); this file only
// decides what an entry means.
import { Instance, Protocol } from '../catalog';
import { DubboUrl, dubboUrl, formatDubboUrl, parseZnodeName, toZnodeName, urlGroup, urlInterface, urlVersion, urlWeight } from '../dubbo-codec/dubbo-url';
import { isMeshBridgeError } from '../errors';
import { BRIDGE_TAG, Parsed, bad, good } from './bad-entry';

/** Provider URL parameters in the order they are written. */
export type ProviderParams = Array<[string, string]>;

export interface ProviderRead {
  instance: Instance;
  /**
   * The URL's protocol as written (`dubbo`, `rest`, `http`). The URL itself is not kept: providerUrl()
   * rebuilds it on demand (for views and the admin API) from this, the instance and its labels.
   */
  scheme: string;
  /** The decoded URL, kept only when the instance cannot give it back exactly (rare: see readProvider). */
  url?: DubboUrl;
  /** The owner id when a bridge stamped this URL (`mesh-bridge=<owner>`). */
  bridgeTag?: string;
  /** The URL's `timestamp` parameter (0 when absent): the newer registration wins a tie. */
  timestamp: number;
}

export interface ConsumerRead {
  interface: string;
  application: string;
  host: string;
  version: string;
  group: string;
  url: string;
}

/** An override (configurator) or route (router) URL, kept as read for later use. */
export interface RuleRead {
  protocol: string;
  host: string;
  interface: string;
  params: Record<string, string>;
  url: string;
}

/** URL protocols of providers the catalog takes, and the catalog protocol they become. */
const PROVIDER_PROTOCOLS: ReadonlyMap<string, Protocol> = new Map([
  ['dubbo', 'dubbo'],
  ['rest', 'http'],
  ['http', 'http'],
]);

/** `methods` as a list, whatever the separators' spacing; empty when absent. */
export function splitMethods(methods: string | undefined): string[] {
  if (methods === undefined) return [];
  return methods
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m.length > 0);
}

/** The host as the catalog keeps it: IPv6 without brackets. */
function plainHost(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function parseName(name: string): Parsed<DubboUrl> {
  try {
    return good(parseZnodeName(name));
  } catch (err) {
    const message = isMeshBridgeError(err) || err instanceof Error ? err.message : String(err);
    // A name that is not an encoded URL at all, or one whose URL does not parse.
    const reason = /not an encoded URL|percent-escape/.test(message) ? 'unparsable_znode_name' : 'malformed_url';
    return bad(reason, name, message);
  }
}

/**
 * Strings shorter than this that V8 cuts out of another string are fresh copies; longer ones are
 * slices that keep the whole decoded URL alive.
 */
const SLICE_MIN = 13;

/** A flat copy of a string that may be a slice of (or a rope over) a bigger one. */
export function ownString(text: string): string {
  if (text.length < SLICE_MIN) return text;
  if (/^[1-9][0-9]{0,14}$/.test(text)) return String(Number(text));
  return JSON.parse(JSON.stringify(text)) as string;
}

/** Values many providers share (application, methods, version, side...), one copy each. Bounded. */
const INTERN_LIMIT = 50_000;
const INTERN_MAX_LENGTH = 512;
let interned = new Map<string, string>();

function intern(text: string): string {
  if (text.length < 2) return text;
  const known = interned.get(text);
  if (known !== undefined) return known;
  if (text.length > INTERN_MAX_LENGTH) return ownString(text);
  if (interned.size >= INTERN_LIMIT) interned = new Map();
  const own = ownString(text);
  interned.set(own, own);
  return own;
}

/** Parameters unique to one registration: copied, never interned (they would only churn the table). */
const PER_INSTANCE_PARAMS: ReadonlySet<string> = new Set(['timestamp', 'pid', 'id']);

/** Every provider read shares one origin object (instances are never mutated in place). */
const ZOOKEEPER_ORIGIN: Instance['origin'] = Object.freeze({ source: 'zookeeper' });

/** Reads one provider znode name of interface `iface` into a catalog instance (source `zookeeper`). */
export function readProvider(iface: string, name: string): Parsed<ProviderRead> {
  const parsed = parseName(name);
  if (!parsed.ok) return parsed;
  const url = parsed.value;
  const protocol = PROVIDER_PROTOCOLS.get(url.protocol);
  if (protocol === undefined) return bad('unsupported_protocol', name, `provider of ${iface} uses protocol '${url.protocol}', which the bridge does not carry`);
  if (url.host === '' || url.port <= 0) return bad('malformed_url', name, `provider of ${iface} has no host:port`);
  const declared = urlInterface(url);
  if (declared !== iface) return bad('interface_mismatch', name, `provider listed under ${iface} is for ${declared}`);
  // Labels hold copies (shared where providers agree), never slices of the decoded URL.
  const labels: Record<string, string> = {};
  for (const [key, value] of url.params) {
    labels[key] = value === iface ? iface : PER_INSTANCE_PARAMS.has(key) ? ownString(value) : intern(value);
  }
  const tag = url.params.get(BRIDGE_TAG);
  const host = ownString(plainHost(url.host));
  const enabled = url.params.get('enabled');
  const instance: Instance = {
    id: ownString(`${host}:${url.port}`),
    service: iface,
    protocol,
    host,
    port: url.port,
    stack: 'legacy',
    weight: urlWeight(url),
    version: intern(urlVersion(url)),
    group: intern(urlGroup(url)),
    health: enabled === 'false' ? 'out_of_service' : 'up',
    labels,
    origin: ZOOKEEPER_ORIGIN,
  };
  const read: ProviderRead = { instance, scheme: intern(url.protocol), timestamp: timestampOf(url.params.get('timestamp')) };
  if (tag !== undefined) read.bridgeTag = ownString(tag);
  if (!rebuildable(url, iface, host)) read.url = url;
  return good(read);
}

/** The host as written in a URL: IPv6 in brackets. */
function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * True when providerUrl() can rebuild exactly this URL from the instance: no user info, the path is
 * the interface, the host reads back the same, and the labels keep the parameters' order (an object
 * puts integer-like keys first, and `__proto__` is no own property).
 */
function rebuildable(url: DubboUrl, iface: string, host: string): boolean {
  if (url.username !== '' || url.password !== '' || url.path !== iface || url.host !== urlHost(host)) return false;
  for (const key of url.params.keys()) {
    const first = key.charCodeAt(0);
    if ((first >= 48 && first <= 57) || key === '__proto__') return false;
  }
  return true;
}

/** The decoded URL of a provider read, formatted on demand (as views and the admin API show it). */
export function providerUrl(read: ProviderRead): string {
  if (read.url !== undefined) return formatDubboUrl(read.url);
  const { instance } = read;
  return formatDubboUrl({
    protocol: read.scheme,
    username: '',
    password: '',
    host: urlHost(instance.host),
    port: instance.port,
    path: instance.service,
    params: new Map(Object.entries(instance.labels)),
  });
}

/**
 * A 53-bit hash of a znode name, for caches that need to know a name again without keeping it
 * (two independent 32-bit string hashes; a collision among one interface's providers is ~1e-15).
 */
export function nameKey(name: string): number {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  b = Math.imul(b ^ (b >>> 13), 0xc2b2ae35);
  return (a >>> 0) * 0x200000 + ((b ^ (b >>> 16)) >>> 11);
}

/**
 * What a reader keeps of a provider read: the instance alone when the rest of the read follows from
 * it (a plain `dubbo://` provider, not a bridge's), else the read. providerRead() gives the read back.
 */
export type KeptProvider = Instance | ProviderRead;

export function keepProvider(read: ProviderRead): KeptProvider {
  return read.scheme === 'dubbo' && read.url === undefined && read.bridgeTag === undefined ? read.instance : read;
}

export function providerRead(kept: KeptProvider): ProviderRead {
  if ('instance' in kept) return kept;
  // As readProvider: every URL parameter is a label, the timestamp included.
  return { instance: kept, scheme: 'dubbo', timestamp: timestampOf(kept.labels.timestamp) };
}

/** The `timestamp` parameter as a number, 0 when absent or not a positive integer. */
function timestampOf(text: string | undefined): number {
  const timestamp = Number(text);
  return Number.isSafeInteger(timestamp) && timestamp > 0 ? timestamp : 0;
}

/**
 * Of two provider URLs for the same endpoint and variant (the same provider registered twice, e.g. by a
 * restart whose old session has not expired yet): the enabled one, then the newer, then the smaller
 * URL, so the choice never depends on listing order.
 */
export function choosePreferred(a: ProviderRead, b: ProviderRead): ProviderRead {
  const upA = a.instance.health === 'up';
  const upB = b.instance.health === 'up';
  if (upA !== upB) return upA ? a : b;
  if (a.timestamp !== b.timestamp) return a.timestamp > b.timestamp ? a : b;
  return providerUrl(a) <= providerUrl(b) ? a : b;
}

/**
 * One catalog instance per provider endpoint and (group, version). The id is `host:port`, as for
 * every Dubbo instance; when one endpoint serves the interface in several groups or versions, each
 * gets `host:port?group=<g>&version=<v>` so none hides another.
 */
export function providerInstances(reads: readonly ProviderRead[]): Instance[] {
  // The usual case, one URL per endpoint: nothing to choose between, nothing to rename.
  const ids = new Set<string>();
  for (const read of reads) {
    if (ids.has(read.instance.id)) return chooseInstances(reads);
    ids.add(read.instance.id);
  }
  return reads.map((read) => read.instance).sort(byId);
}

function byId(x: Instance, y: Instance): number {
  return x.id < y.id ? -1 : x.id > y.id ? 1 : 0;
}

function chooseInstances(reads: readonly ProviderRead[]): Instance[] {
  const byVariant = new Map<string, ProviderRead>();
  const variantsByAddress = new Map<string, Set<string>>();
  for (const read of reads) {
    const { id, group, version } = read.instance;
    const key = `${id}|${group}|${version}`;
    const current = byVariant.get(key);
    byVariant.set(key, current === undefined ? read : choosePreferred(current, read));
    let variants = variantsByAddress.get(id);
    if (variants === undefined) variantsByAddress.set(id, (variants = new Set()));
    variants.add(`${group}|${version}`);
  }
  const instances: Instance[] = [];
  for (const read of byVariant.values()) {
    const { instance } = read;
    if ((variantsByAddress.get(instance.id)?.size ?? 0) > 1) {
      instances.push({ ...instance, id: `${instance.id}?group=${instance.group}&version=${instance.version}` });
    } else instances.push(instance);
  }
  return instances.sort(byId);
}

/** Reads one consumer registration (`consumer://host/iface?application=...`). */
export function readConsumer(iface: string, name: string): Parsed<ConsumerRead> {
  const parsed = parseName(name);
  if (!parsed.ok) return parsed;
  const url = parsed.value;
  if (url.protocol !== 'consumer') return bad('unsupported_protocol', name, `consumer entry of ${iface} uses protocol '${url.protocol}', not consumer`);
  const declared = urlInterface(url);
  if (declared !== iface) return bad('interface_mismatch', name, `consumer listed under ${iface} is for ${declared}`);
  return good({
    interface: iface,
    application: url.params.get('application') ?? '',
    host: plainHost(url.host),
    version: urlVersion(url),
    group: urlGroup(url),
    url: formatDubboUrl(url),
  });
}

/** Reads one configurator (`override://`) or router (`route://`, `condition://`...) entry, as it is. */
export function readRule(name: string): Parsed<RuleRead> {
  const parsed = parseName(name);
  if (!parsed.ok) return parsed;
  const url = parsed.value;
  const params: Record<string, string> = {};
  for (const [key, value] of url.params) params[key] = value;
  return good({ protocol: url.protocol, host: plainHost(url.host), interface: urlInterface(url), params, url: formatDubboUrl(url) });
}

/** The znode name of a provider URL `dubbo://host:port/<service>?<params>`, encoded once as Java Dubbo does. */
export function formatProviderNodeName(host: string, port: number, service: string, params: ProviderParams): string {
  const urlHost = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return toZnodeName(dubboUrl('dubbo', urlHost, port, service, new Map(params)));
}
