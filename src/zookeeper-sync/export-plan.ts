// What the writer should have in ZooKeeper for one catalog service: the znodes (path and data) that
// make the service's non-ZooKeeper instances visible to Dubbo consumers. Pure: timestamps come in.
import { Instance } from '../catalog';
import { appInstanceJson, appInstanceNodeName } from './app-instance';
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

  if (dubbo.length > 0) {
    const knownMethods = methodsOfService(instances);
    const dir = categoryPath(ctx.layout, service, 'providers');
    if (ctx.export.target === 'instance') {
      const seen = new Set<string>();
      for (const instance of dubbo) {
        const identity = `dubbo|${instance.host}:${instance.port}|${instance.group}|${instance.version}`;
        if (seen.has(identity)) continue; // the same endpoint learned from two sources: written once
        seen.add(identity);
        const params = providerParams(service, instance, instance.weight, knownMethods, stampOf(identity), ctx);
        nodes.push({ path: joinPath(dir, formatProviderNodeName(instance.host, instance.port, service, params)), data: null, service });
      }
    } else {
      const address = parseHostPort(ctx.export.bridgeAddress ?? '');
      if (address !== null) {
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
          const weight = members.reduce((sum, i) => sum + i.weight, 0);
          const identity = `bridge|${key}`;
          const params = providerParams(service, members[0], weight, knownMethods, stampOf(identity), ctx);
          nodes.push({ path: joinPath(dir, formatProviderNodeName(address.host, address.port, service, params)), data: null, service, perBridge: true });
        }
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

function providerParams(service: string, instance: Instance, weight: number, knownMethods: string[], stamp: number, ctx: PlanContext): ProviderParams {
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
  const extra = Object.keys(instance.labels)
    .filter((key) => !RESERVED.has(key) && key.length > 0)
    .sort();
  for (const key of extra) params.push([key, instance.labels[key]]);
  params.push(['mesh-bridge', ctx.owner]);
  return params;
}
