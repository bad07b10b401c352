// Resolves a request to an instance: the service's instances from the catalog, filtered by version
// and group, split into the legacy and mesh sets; the stack chosen by weight (and sticky key), then
// the instance within the set. Route sets are cached per service/version/group and dropped when the
// catalog changes that service, so a request costs a map lookup, not a catalog scan. Versions and
// groups come from requests, so the caches are bounded (least recently used go first).
import type { Catalog, Instance, Stack, Subscription } from '../../catalog';
import type { ProxyRequest } from '../filters/filter';
import { BoundedCache } from './bounded-cache';
import { Candidate, pickInstance } from './instance-picker';
import { ANY, LabelPlan, LabelRouteMetrics, LabelSelector, ServiceLabelRoutes, TAG_LABEL } from './label-routes';
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

/** One service's cached route sets; each cache holds up to `keysPerService`. */
interface ServiceRouteSets {
  byVersion: BoundedCache<string, RouteSet>;
  byKey: BoundedCache<string, RouteSet>;
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
  /** The matching route rule's timeout (label routing), over the service's and method's. */
  timeoutMs?: number;
}

/** A provider's version or group matches a request's when equal, when either is empty, or '*'. */
function matches(wanted: string, offered: string): boolean {
  return wanted === offered || wanted === '' || offered === '' || wanted === '*' || offered === '*';
}

export class ServiceRoutes {
  /** Per service: route sets of requests with no group and no labels by version alone, the rest by a key of all three. */
  private readonly cache = new Map<string, ServiceRouteSets>();
  private readonly grouped: BoundedCache<string, boolean>;
  private readonly tagged: BoundedCache<string, boolean>;
  private readonly subscription: Subscription;
  /** Label routing per service (route rules, Dubbo tags); empty unless set (the sidecar's outbound stacks). */
  private labelRoutes: ReadonlyMap<string, ServiceLabelRoutes> = new Map();
  private labelMetrics: LabelRouteMetrics | null = null;

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
    this.tagged = new BoundedCache(limits.services);
    this.subscription = catalog.subscribeAll((delta) => {
      this.cache.delete(delta.service);
      this.grouped.delete(delta.service);
      this.tagged.delete(delta.service);
    });
  }

  close(): void {
    this.subscription.unsubscribe();
  }

  /** Forgets every cached route set (e.g. once the bridge knows the addresses it listens at). */
  clearCache(): void {
    this.cache.clear();
    this.grouped.clear();
    this.tagged.clear();
  }

  /** Sets the label routing of every service (replacing the last); the route sets are built afresh. */
  setLabelRoutes(routes: ReadonlyMap<string, ServiceLabelRoutes>, metrics: LabelRouteMetrics): void {
    this.labelRoutes = routes;
    this.labelMetrics = metrics;
    this.clearCache();
  }

  /** True when the service has label routing: a listener then hands `choose` the request's view. */
  hasLabelRoutes(service: string): boolean {
    return this.labelRoutes.size > 0 && this.labelRoutes.has(service);
  }

  /** True when some instance of the service carries a Dubbo tag: then tag routing applies to its every request. */
  hasTaggedInstances(service: string): boolean {
    let tagged = this.tagged.get(service);
    if (tagged === undefined) {
      tagged = this.catalog.instances(service).some((i) => (i.labels[TAG_LABEL] ?? '') !== '' && i.protocol === this.protocol);
      this.tagged.set(service, tagged);
    }
    return tagged;
  }

  private labelPlan(service: string, request: ProxyRequest | undefined): LabelPlan | null {
    if (request === undefined || this.labelRoutes.size === 0) return null;
    const labels = this.labelRoutes.get(service);
    return labels === undefined ? null : labels.plan(request, this.hasTaggedInstances(service));
  }

  /** Why a request found no instance, as far as labels go: '' when they played no part. */
  missDetail(service: string, request: ProxyRequest): string {
    const plan = this.labelPlan(service, request);
    if (plan === null) return '';
    return ` with labels ${plan.steps.map((s) => s.text).join(' or ')} (rule ${plan.rule}${plan.noFallback === undefined ? '' : `; ${plan.noFallback}`})`;
  }

  /** Route sets held, over every service: bounded by the limits. */
  get cachedRouteSets(): number {
    let total = 0;
    for (const sets of this.cache.values()) total += sets.byVersion.size + sets.byKey.size;
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

  /** The legacy and mesh sets for a service at a version and group, of the instances a label selector takes. */
  routeSet(service: string, version: string, group: string, labels: LabelSelector = ANY): RouteSet {
    let sets = this.cache.get(service);
    // Most requests name no group and no labels: their sets are found by the version string the
    // request already holds (its hash computed once), without building a key string per request.
    const plain = group === '' && labels === ANY;
    const key = plain ? version : labels === ANY ? `${version}|${group}` : `${version}|${group}|${labels.key}`;
    let set = sets === undefined ? undefined : plain ? sets.byVersion.get(key) : sets.byKey.get(key);
    if (set === undefined) {
      set = { legacy: [], mesh: [] };
      for (const instance of this.catalog.instances(service)) {
        if (instance.protocol !== this.protocol || instance.health !== 'up') continue;
        if (!matches(version, instance.version) || !matches(group, instance.group)) continue;
        if (this.selfAddresses.has(instance.host, instance.port)) continue;
        if (labels !== ANY && !labels.test(instance.labels)) continue;
        set[instance.stack].push(new RouteCandidate(instance, this.pendingOf));
      }
      // An empty set is not kept: a name no instance has (any Host header a caller sends) must not
      // grow the cache. A service that gains instances gets a delta, which drops its entry anyway.
      if (set.legacy.length + set.mesh.length > 0) {
        if (sets === undefined) {
          const bound = this.limits.keysPerService;
          this.cache.set(service, (sets = { byVersion: new BoundedCache(bound), byKey: new BoundedCache(bound) }));
        }
        (plain ? sets.byVersion : sets.byKey).set(key, set);
      }
    }
    return set;
  }

  /**
   * Chooses a stack and an instance. When the chosen stack has no instance the other serves (a
   * migration must not fail calls because one side is empty). `exclude` skips addresses already
   * tried. `request`, when given, is read for label routing (route rules, Dubbo tags) if the service
   * has any; then the subsets are tried in the plan's order. Null when neither set has an instance.
   */
  choose(
    service: string,
    version: string,
    group: string,
    method: string | undefined,
    stickyKey: string | undefined,
    random: () => number,
    exclude?: ReadonlySet<string>,
    request?: ProxyRequest,
  ): RouteChoice | null {
    const stack = this.weights.choose(service, method, stickyKey, random());
    const plan = this.labelPlan(service, request);
    if (plan === null) return this.pickEither(this.routeSet(service, version, group), stack, random, exclude);
    for (let i = 0; i < plan.steps.length; i++) {
      const choice = this.pickEither(this.routeSet(service, version, group, plan.steps[i]), stack, random, exclude);
      if (choice === null) continue;
      this.labelMetrics?.routed.inc({ rule: plan.rule });
      if (i > 0) this.labelMetrics?.fallbacks.inc({ rule: plan.rule });
      if (plan.timeoutMs !== undefined) choice.timeoutMs = plan.timeoutMs;
      return choice;
    }
    return null;
  }

  private pickEither(set: RouteSet, stack: Stack, random: () => number, exclude: ReadonlySet<string> | undefined): RouteChoice | null {
    return this.pickIn(set, stack, stack, random, exclude) ?? this.pickIn(set, stack, stack === 'mesh' ? 'legacy' : 'mesh', random, exclude);
  }

  private pickIn(set: RouteSet, stack: Stack, routedStack: Stack, random: () => number, exclude: ReadonlySet<string> | undefined): RouteChoice | null {
    let candidates = this.outliers.filter(set[routedStack]);
    if (exclude && exclude.size > 0) candidates = candidates.filter((c) => !exclude.has(c.address));
    const index = pickInstance(candidates, random());
    return index >= 0 ? { stack, routedStack, candidate: candidates[index] } : null;
  }
}
