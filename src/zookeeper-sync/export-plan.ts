// What the writer should have in ZooKeeper for one catalog service: the znodes (path and data) that
// make the service's non-ZooKeeper instances visible to Dubbo consumers, and, while the service is
// being migrated, the override configurators that steer Dubbo consumers to the bridge. Pure:
// timestamps, the migration state and what was learned earlier come in.
import { Instance } from '../catalog';
import { dubboUrl, toZnodeName } from '../dubbo-codec/dubbo-url';
import { appInstanceJson, appInstanceNodeName } from './app-instance';
import { BRIDGE_TAG } from './bad-entry';
import { ProviderParams, formatProviderNodeName, splitMethods } from './provider-instance';
import { ZkLayout, appPath, categoryPath, isValidNodeName, joinPath } from './zk-paths';

export interface ExportOptions {
  /**
   * `instance`: each provider URL carries the mesh instance's own address. `bridge`: one URL per
   * (group, version) carries the bridge's Dubbo listener address, which forwards to the instances;
   * every running bridge writes its own (not only the elected writer), so consumers spread over all.
   */
  target: 'bridge' | 'instance';
  /** `host:port` of the bridge's Dubbo listener; required with target `bridge`. */
  bridgeAddress?: string;
  /** `application` written when an instance has no such label. Default `mesh-bridge`. */
  application?: string;
  /**
   * How the overrides written while a service is migrated keep consumers off its legacy providers
   * (target `bridge`). `disable` (default): `disabled=true`, exact with every load balancer, but when
   * every bridge is gone consumers have no provider until the bridges' sessions expire. `weight`:
   * `weight=0`, exact with Dubbo's random (default) and round-robin balancers, not with least-active,
   * shortest-response or consistent-hash; when the bridges' connections close, consumers pick the
   * legacy providers at once (a zero-weight invoker is still an invoker). `slots`: no override; the
   * legacy URLs stay and the bridges write as many URLs of their own (distinct endpoints, see
   * slot-plan.ts) as make a uniform picker's share of bridges reach the weight; the bridges scale the
   * weight they route by to match. For consumers that read no configurator.
   */
  steering?: 'disable' | 'weight' | 'slots';
}

export interface PlannedNode {
  path: string;
  /** Node data: null for Dubbo provider nodes (all is in the name), Curator JSON for app-level nodes. */
  data: Buffer | null;
  service: string;
  /**
   * Written by every bridge, not only the elected writer: a provider URL at this bridge's own
   * address (target `bridge`). Each bridge's differ (address and owner tag), so they never collide,
   * and consumers spread over all bridges; one bridge going away only removes its own.
   */
  perBridge?: boolean;
}

export interface ServicePlan {
  nodes: PlannedNode[];
  /** First-written times by node identity, to pass back next time (a URL keeps its timestamp). */
  stamps: Map<string, number>;
}

export interface PlanContext {
  owner: string;
  layout: ZkLayout;
  export: ExportOptions;
  now: number;
  /**
   * Whether the service is being migrated (a mesh weight above 0, for it or one of its methods).
   * Undefined: weights unknown (zookeeper-sync used alone), mesh instances are always written. Known:
   * a service that has legacy providers gets nothing written at weight 0 (its consumers keep calling
   * them directly, no extra hop); while migrating, the bridge's URL plus override configurators
   * disabling the legacy providers (target `bridge`). A service with no legacy provider is always written.
   */
  migrating?: boolean;
  /** Provider parameters learned earlier (see learnParams); default none. */
  learned?: LearnedParams;
  /**
   * Steering `slots`, a migrating service with legacy providers: the endpoints (`host:port`) this
   * bridge writes a URL at (its share of the B, see assignSlots); empty: it writes none.
   */
  slotEndpoints?: readonly string[];
}

/**
 * What the bridge's provider URL borrows from the service's other providers and keeps once learned,
 * so the URL stays complete (and the same) when those providers leave: the methods (consumers that
 * check them fail every call without), and the parameters consumers take from a provider URL.
 */
export interface LearnedParams {
  methods: readonly string[];
  params: ReadonlyMap<string, string>;
}

/** Provider URL parameters a Dubbo consumer merges into its own settings (a method's too: `<method>.timeout`). */
const CONSUMER_SETTINGS = ['timeout', 'retries', 'loadbalance', 'cluster', 'actives', 'connections'];

function isConsumerSetting(key: string): boolean {
  const dot = key.lastIndexOf('.');
  return CONSUMER_SETTINGS.includes(dot < 0 ? key : key.slice(dot + 1));
}

/**
 * Adds what the service's providers say now to what was learned before: methods are a union (a method
 * once offered stays listed); a setting takes the current legacy providers' value, else the earlier one.
 */
export function learnParams(previous: LearnedParams | undefined, instances: readonly Instance[]): LearnedParams {
  const methods = new Set(previous?.methods ?? []);
  for (const method of methodsOfService(instances)) methods.add(method);
  const current = new Map<string, string>();
  const legacy = instances.filter((i) => i.origin.source === 'zookeeper' && i.protocol === 'dubbo').sort(byOriginThenId);
  for (const instance of legacy) {
    for (const [key, value] of Object.entries(instance.labels)) if (isConsumerSetting(key) && !current.has(key)) current.set(key, value);
  }
  const params = new Map(previous?.params ?? []);
  for (const [key, value] of current) params.set(key, value);
  return { methods: [...methods].sort(), params: new Map([...params].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) };
}

/** True when two learned sets say the same (so nothing needs replanning). */
export function sameLearned(a: LearnedParams | undefined, b: LearnedParams): boolean {
  if (a === undefined) return b.methods.length === 0 && b.params.size === 0;
  if (a.methods.length !== b.methods.length || a.params.size !== b.params.size) return false;
  if (a.methods.some((m, i) => b.methods[i] !== m)) return false;
  for (const [key, value] of a.params) if (b.params.get(key) !== value) return false;
  return true;
}

/** The Dubbo protocol version advertised in written URLs (what Java 2.7 providers advertise). */
export const ADVERTISED_DUBBO_VERSION = '2.0.2';

/** Instances the writer exports: learned anywhere but ZooKeeper, and up. Stale ones stay exported. */
export function isExported(instance: Instance): boolean {
  return instance.origin.source !== 'zookeeper' && instance.health === 'up';
}

export function parseHostPort(address: string): { host: string; port: number } | null {
  const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(address);
  if (match === null) return null;
  const port = Number(match[2]);
  return port > 0 && port < 65536 ? { host: match[1], port } : null;
}

/** A legacy provider the bridge's URL stands in for while the service is migrated: read from ZooKeeper, Dubbo, up. */
export function isLegacyProvider(instance: Instance): boolean {
  return instance.origin.source === 'zookeeper' && instance.protocol === 'dubbo' && instance.health === 'up';
}

/** Version or group matching as the bridge routes: equal, either empty, or '*'. */
export function variantMatches(a: string, b: string): boolean {
  return a === b || a === '' || b === '' || a === '*' || b === '*';
}

/** Deterministic order, so the instance whose labels speak for a group is always the same one. */
function byOriginThenId(a: Instance, b: Instance): number {
  return a.origin.source < b.origin.source ? -1 : a.origin.source > b.origin.source ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Plans one service. Dubbo instances become provider URLs under `/dubbo/<iface>/providers`; HTTP
 * instances become Dubbo 3 application-level nodes `/services/<app>/<host:port>` (always at the
 * instance's own address: the bridge's Dubbo listener does not speak HTTP).
 */
export function planService(service: string, instances: readonly Instance[], ctx: PlanContext, previousStamps: ReadonlyMap<string, number>): ServicePlan {
  const stamps = new Map<string, number>();
  const stampOf = (identity: string): number => {
    const stamp = previousStamps.get(identity) ?? stamps.get(identity) ?? ctx.now;
    stamps.set(identity, stamp);
    return stamp;
  };
  const nodes: PlannedNode[] = [];
  if (!isValidNodeName(service)) return { nodes, stamps };
  const exported = instances.filter(isExported).sort(byOriginThenId);
  const dubbo = exported.filter((i) => i.protocol === 'dubbo');
  const http = exported.filter((i) => i.protocol === 'http');
  const legacy = ctx.migrating === undefined ? [] : instances.filter(isLegacyProvider).sort(byOriginThenId);
  // At weight 0 a service with legacy providers is left to them: consumers see exactly what they saw.
  const writeDubbo = dubbo.length > 0 && (legacy.length === 0 || ctx.migrating === true);

  if (writeDubbo) {
    const knownMethods = ctx.learned?.methods.length ? [...ctx.learned.methods] : methodsOfService(instances);
    const learnedParams = ctx.learned?.params ?? new Map<string, string>();
    const dir = categoryPath(ctx.layout, service, 'providers');
    if (ctx.export.target === 'instance') {
      const seen = new Set<string>();
      for (const instance of dubbo) {
        const identity = `dubbo|${instance.host}:${instance.port}|${instance.group}|${instance.version}`;
        if (seen.has(identity)) continue; // the same endpoint learned from two sources: written once
        seen.add(identity);
        const params = providerParams(service, instance, instance.weight, knownMethods, learnedParams, stampOf(identity), ctx);
        nodes.push({ path: joinPath(dir, formatProviderNodeName(instance.host, instance.port, service, params)), data: null, service });
      }
    } else {
      const address = parseHostPort(ctx.export.bridgeAddress ?? '');
      // Slots: a uniform picker weighs every URL alike, so each written endpoint counts as one legacy provider.
      const slots = ctx.export.steering === 'slots' && ctx.migrating === true && legacy.length > 0;
      const addresses = slots ? (ctx.slotEndpoints ?? []).map(parseHostPort).filter((a): a is { host: string; port: number } => a !== null) : address === null ? [] : [address];
      if (addresses.length > 0) {
        const groups = new Map<string, Instance[]>();
        for (const instance of dubbo) {
          const key = `${instance.group}|${instance.version}`;
          const members = groups.get(key);
          if (members === undefined) groups.set(key, [instance]);
          else members.push(instance);
        }
        for (const [key, members] of groups) {
          // One URL stands for all of a group's instances: its weight is theirs together, so legacy
          // consumers send the bridge the share those instances would get.
          // With slots, one legacy provider's weight: Java's weighted random then treats each endpoint as one provider.
          const weight = slots ? legacy[0].weight : members.reduce((sum, i) => sum + i.weight, 0);
          const identity = `bridge|${key}`;
          const params = providerParams(service, members[0], weight, knownMethods, learnedParams, stampOf(identity), ctx);
          for (const at of addresses) nodes.push({ path: joinPath(dir, formatProviderNodeName(at.host, at.port, service, params)), data: null, service, perBridge: true });
        }
        // Consumers that honour configurators then call only the bridges, which split by the weight.
        if (ctx.migrating === true && ctx.export.steering !== 'slots') nodes.push(...planOverrides(service, legacy, dubbo, ctx));
      }
    }
  }

  const seenHttp = new Set<string>();
  for (const instance of http) {
    const name = appInstanceNodeName(instance);
    if (seenHttp.has(name) || !isValidNodeName(name)) continue;
    seenHttp.add(name);
    const json = appInstanceJson(instance, ctx.owner, stampOf(`http|${name}`));
    nodes.push({ path: joinPath(appPath(ctx.layout, service), name), data: Buffer.from(json), service });
  }
  return { nodes, stamps };
}

/**
 * The methods every provider of an interface is known to offer. A Dubbo 2.6 consumer routes a call
 * only to providers listing its method when any provider lists methods, so a written URL without
 * `methods` would get no traffic beside legacy providers: borrow theirs when the instance has none.
 */
export function methodsOfService(instances: readonly Instance[]): string[] {
  const methods = new Set<string>();
  for (const instance of instances) for (const method of splitMethods(instance.labels.methods)) methods.add(method);
  return [...methods].sort();
}

/** Parameters this bridge sets itself; an instance label never overrides them. */
const RESERVED = new Set(['anyhost', 'application', 'dubbo', 'group', 'interface', 'methods', 'side', 'timestamp', 'version', 'weight', 'mesh-bridge', 'pid']);

/**
 * One override configurator per legacy provider endpoint and (group, version) that the mesh also
 * serves, disabling it for consumers as Dubbo's admin console writes it (or weighting it 0, see
 * ExportOptions.steering):
 * `override://<host>:<port>/<interface>?category=configurators&disabled=true&dynamic=false&enabled=true[&group=..][&version=..]`.
 * Why each part (Dubbo 2.6/2.7/3.x AbstractConfigurator and UrlUtils.isMatch):
 * - the port: without one, a 2.7+ consumer compares the host with its own address, not the provider's;
 * - group and version as the provider's: a consumer applies only overrides whose group and version
 *   match its reference (no version matches only a consumer without one);
 * - enabled=true: a consumer skips an override URL whose `enabled` is false;
 * - no `side` and no `application`: both are conditions on the consumer-merged URL (side=consumer,
 *   the consumer's application) and would make the override match nothing;
 * - `mesh-bridge=<owner>`: each bridge writes its own copy, so any live bridge keeps the legacy
 *   providers disabled; consumers merge it into the disabled URL as an unused parameter.
 * Dubbo ignores `dynamic=false` on an override it reads; written as an ephemeral node of the bridge's
 * session, the override vanishes with the last bridge and consumers call the legacy providers again.
 */
export function planOverrides(service: string, legacy: readonly Instance[], mesh: readonly Instance[], ctx: PlanContext): PlannedNode[] {
  const dir = categoryPath(ctx.layout, service, 'configurators');
  const seen = new Set<string>();
  const nodes: PlannedNode[] = [];
  for (const instance of legacy) {
    const identity = `${instance.host}:${instance.port}|${instance.group}|${instance.version}`;
    if (seen.has(identity)) continue;
    // A variant the mesh does not serve keeps its legacy providers: the bridge has nowhere else to send it.
    if (!mesh.some((m) => variantMatches(m.group, instance.group) && variantMatches(m.version, instance.version))) continue;
    seen.add(identity);
    nodes.push({ path: joinPath(dir, overrideNodeName(service, instance, ctx.owner, ctx.export.steering)), data: null, service, perBridge: true });
  }
  return nodes;
}

/** The znode name of the override that disables one legacy provider endpoint for consumers. */
export function overrideNodeName(service: string, instance: Pick<Instance, 'host' | 'port' | 'group' | 'version'>, owner: string, steering: ExportOptions['steering'] = 'disable'): string {
  const params = new Map<string, string>([['category', 'configurators']]);
  if (steering !== 'weight') params.set('disabled', 'true');
  params.set('dynamic', 'false');
  params.set('enabled', 'true');
  if (instance.group !== '') params.set('group', instance.group);
  if (instance.version !== '') params.set('version', instance.version);
  if (steering === 'weight') params.set('weight', '0');
  params.set(BRIDGE_TAG, owner);
  const host = instance.host.includes(':') && !instance.host.startsWith('[') ? `[${instance.host}]` : instance.host;
  return toZnodeName(dubboUrl('override', host, instance.port, service, params));
}

function providerParams(service: string, instance: Instance, weight: number, knownMethods: string[], learned: ReadonlyMap<string, string>, stamp: number, ctx: PlanContext): ProviderParams {
  const ownMethods = splitMethods(instance.labels.methods);
  const methods = ownMethods.length > 0 ? ownMethods : knownMethods;
  const labelTimestamp = Number(instance.labels.timestamp);
  const params: ProviderParams = [
    // apache-dubbo-js reads the query with the whole URL in front of the first key: put a key
    // first whose loss does not matter, as Java's sorted parameters happen to do.
    ['anyhost', 'true'],
    ['application', instance.labels.application ?? ctx.export.application ?? 'mesh-bridge'],
    ['dubbo', ADVERTISED_DUBBO_VERSION],
  ];
  if (instance.group !== '') params.push(['group', instance.group]);
  params.push(['interface', service]);
  if (methods.length > 0) params.push(['methods', methods.join(',')]);
  params.push(['side', 'provider']);
  // Java consumers warm a provider up from its timestamp: keep the instance's own start time when known.
  params.push(['timestamp', String(Number.isSafeInteger(labelTimestamp) && labelTimestamp > 0 ? labelTimestamp : stamp)]);
  if (instance.version !== '') params.push(['version', instance.version]);
  params.push(['weight', String(weight)]);
  // The instance's own labels win over what was learned from the legacy providers.
  const extra = new Map<string, string>();
  for (const [key, value] of learned) if (!RESERVED.has(key)) extra.set(key, value);
  for (const [key, value] of Object.entries(instance.labels)) if (!RESERVED.has(key) && key.length > 0) extra.set(key, value);
  for (const key of [...extra.keys()].sort()) params.push([key, extra.get(key) as string]);
  params.push(['mesh-bridge', ctx.owner]);
  return params;
}
