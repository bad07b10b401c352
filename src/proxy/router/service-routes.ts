// Resolves a request to an instance: the service's instances from the catalog, filtered by version
// and group, split into the legacy and mesh sets; the stack chosen by weight (and sticky key), then
// the instance within the set. Route sets are cached per service/version/group and dropped when the
// catalog changes that service, so a request costs a map lookup, not a catalog scan. Versions and
// groups come from requests, so the caches are bounded (least recently used go first).
import type { Catalog, Instance, Stack, Subscription } from '../../catalog';
import { BoundedCache } from './bounded-cache';
import { Candidate, pickInstance } from './instance-picker';
import { OutlierDetector } from './outlier-detector';
import { NOBODY, SelfCheck } from './self-addresses';
import { StackWeights } from './stack-weights';

/**
 * Bounds of the caches: version/group pairs held per service, and services whose group flag is
 * held. (Route sets are kept only for services with instances, so the registries bound how many
 * services have them.)
 */
export interface RouteCacheLimits {
  services: number;
  keysPerService: number;
}

export const DEFAULT_ROUTE_CACHE_LIMITS: RouteCacheLimits = { services: 10_000, keysPerService: 64 };

/** Requests in flight per instance address, kept by the upstream pools. */
export type PendingCounter = (address: string) => number;

export class RouteCandidate implements Candidate {
  readonly address: string;
  constructor(
    readonly instance: Instance,
    private readonly pendingOf: PendingCounter,
  ) {
    this.address = `${instance.host}:${instance.port}`;
  }
  get weight(): number {
    return this.instance.weight;
  }
  get pending(): number {
    return this.pendingOf(this.address);
  }
}

export interface RouteSet {
  legacy: RouteCandidate[];
  mesh: RouteCandidate[];
}

export interface RouteChoice {
  /** The stack the weight chose; `routedStack` differs when that set was empty and we fell back. */
  stack: Stack;
  routedStack: Stack;
  candidate: RouteCandidate;
}

/** A provider's version or group matches a request's when equal, when either is empty, or '*'. */
function matches(wanted: string, offered: string): boolean {
  return wanted === offered || wanted === '' || offered === '' || wanted === '*' || offered === '*';
}

export class ServiceRoutes {
  private readonly cache = new Map<string, BoundedCache<string, RouteSet>>();
  private readonly grouped: BoundedCache<string, boolean>;
  private readonly subscription: Subscription;

  constructor(
    private readonly catalog: Catalog,
    readonly weights: StackWeights,
    private readonly pendingOf: PendingCounter,
    private readonly protocol: 'dubbo' | 'http',
    /** Addresses never routed to: the bridge's own listeners, so it cannot call itself. */
    private readonly selfAddresses: SelfCheck = NOBODY,
    /** Instances whose connections keep failing, left out for a while. */
    readonly outliers: OutlierDetector = new OutlierDetector(),
    private readonly limits: RouteCacheLimits = DEFAULT_ROUTE_CACHE_LIMITS,
  ) {
    this.grouped = new BoundedCache(limits.services);
    this.subscription = catalog.subscribeAll((delta) => {
      this.cache.delete(delta.service);
      this.grouped.delete(delta.service);
    });
  }

  close(): void {
    this.subscription.unsubscribe();
  }

  /** Forgets every cached route set (e.g. once the bridge knows the addresses it listens at). */
  clearCache(): void {
    this.cache.clear();
    this.grouped.clear();
  }

  /** Route sets held, over every service: bounded by the limits. */
  get cachedRouteSets(): number {
    let total = 0;
    for (const byKey of this.cache.values()) total += byKey.size;
    return total;
  }

  /**
   * True when some instance of the service belongs to a group. Only then does a request's group
   * change where it may go, so only then must the proxy read it: finding the group attachment means
   * skipping every argument, the costliest part of a routing view.
   */
  needsGroup(service: string): boolean {
    let grouped = this.grouped.get(service);
    if (grouped === undefined) {
      grouped = this.catalog.instances(service).some((i) => i.group !== '' && i.protocol === this.protocol);
      this.grouped.set(service, grouped);
    }
    return grouped;
  }

  /** The legacy and mesh sets for a service at a version and group. */
  routeSet(service: string, version: string, group: string): RouteSet {
    let byKey = this.cache.get(service);
    const key = `${version}|${group}`;
    let set = byKey?.get(key);
    if (set === undefined) {
      set = { legacy: [], mesh: [] };
      for (const instance of this.catalog.instances(service)) {
        if (instance.protocol !== this.protocol || instance.health !== 'up') continue;
        if (!matches(version, instance.version) || !matches(group, instance.group)) continue;
        if (this.selfAddresses.has(instance.host, instance.port)) continue;
        set[instance.stack].push(new RouteCandidate(instance, this.pendingOf));
      }
      // An empty set is not kept: a name no instance has (any Host header a caller sends) must not
      // grow the cache. A service that gains instances gets a delta, which drops its entry anyway.
      if (set.legacy.length + set.mesh.length > 0) {
        if (byKey === undefined) this.cache.set(service, (byKey = new BoundedCache(this.limits.keysPerService)));
        byKey.set(key, set);
      }
    }
    return set;
  }

  /**
   * Chooses a stack and an instance. When the chosen stack has no instance the other serves (a
   * migration must not fail calls because one side is empty). `exclude` skips addresses already
   * tried. Null when neither set has an instance.
   */
  choose(
    service: string,
    version: string,
    group: string,
    method: string | undefined,
    stickyKey: string | undefined,
    random: () => number,
    exclude?: ReadonlySet<string>,
  ): RouteChoice | null {
    const set = this.routeSet(service, version, group);
    const stack = this.weights.choose(service, method, stickyKey, random());
    return this.pickIn(set, stack, stack, random, exclude) ?? this.pickIn(set, stack, stack === 'mesh' ? 'legacy' : 'mesh', random, exclude);
  }

  private pickIn(set: RouteSet, stack: Stack, routedStack: Stack, random: () => number, exclude: ReadonlySet<string> | undefined): RouteChoice | null {
    let candidates = this.outliers.filter(set[routedStack]);
    if (exclude && exclude.size > 0) candidates = candidates.filter((c) => !exclude.has(c.address));
    const index = pickInstance(candidates, random());
    return index >= 0 ? { stack, routedStack, candidate: candidates[index] } : null;
  }
}
