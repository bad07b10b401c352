// Dubbo interface-level registry entries (`/dubbo/<iface>/{providers,consumers,configurators,routers}/
// <encoded URL>`) to what the bridge keeps of them, and provider URLs back to znode names. Pure.
// URL parsing is dubbo-codec's (once- and twice-encoded names read the same); this file only
// decides what an entry means.
import { Instance, Protocol, instanceDefaults } from '../catalog';
import { DubboUrl, dubboUrl, formatDubboUrl, parseZnodeName, toZnodeName, urlGroup, urlInterface, urlVersion, urlWeight } from '../dubbo-codec/dubbo-url';
import { isMeshBridgeError } from '../errors';
import { BRIDGE_TAG, Parsed, bad, good } from './bad-entry';

/** Provider URL parameters in the order they are written. */
export type ProviderParams = Array<[string, string]>;

export interface ProviderRead {
  instance: Instance;
  /** The decoded URL, as a string (for views and the admin API). */
  url: string;
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
  const labels: Record<string, string> = {};
  for (const [key, value] of url.params) labels[key] = value;
  const tag = url.params.get(BRIDGE_TAG);
  const host = plainHost(url.host);
  const enabled = url.params.get('enabled');
  const timestamp = Number(url.params.get('timestamp'));
  const instance: Instance = {
    ...instanceDefaults(),
    id: `${host}:${url.port}`,
    service: iface,
    protocol,
    host,
    port: url.port,
    stack: 'legacy',
    weight: urlWeight(url),
    version: urlVersion(url),
    group: urlGroup(url),
    health: enabled === 'false' ? 'out_of_service' : 'up',
    labels,
    origin: { source: 'zookeeper' },
  };
  const read: ProviderRead = { instance, url: formatDubboUrl(url), timestamp: Number.isSafeInteger(timestamp) && timestamp > 0 ? timestamp : 0 };
  if (tag !== undefined) read.bridgeTag = tag;
  return good(read);
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
  return a.url <= b.url ? a : b;
}

/**
 * One catalog instance per provider endpoint and (group, version). The id is `host:port`, as for
 * every Dubbo instance; when one endpoint serves the interface in several groups or versions, each
 * gets `host:port?group=<g>&version=<v>` so none hides another.
 */
export function providerInstances(reads: readonly ProviderRead[]): Instance[] {
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
  return instances.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
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
