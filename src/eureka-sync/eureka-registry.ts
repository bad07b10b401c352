// The embedded Eureka server's state: leases of registered instances, status overrides, instances
// served on behalf of other catalog sources, the recently-changed queue behind delta fetches, and
// self-preservation. Pure: no timers, no clock; every call that depends on time takes `now` (ms).
import { EurekaActionType, EurekaInstance, EurekaLeaseTimes, EurekaStatus } from './eureka-instance';

export interface EurekaRegistryOptions {
  /** Self-preservation: stop evicting when renewals fall below this share of the expected. Eureka: 0.85. */
  renewalPercentThreshold?: number;
  /** Turn self-preservation off (Spring's `eureka.server.enable-self-preservation=false`). */
  selfPreservation?: boolean;
  /** The window renewals are counted over. Eureka: one minute. */
  renewalWindowMs?: number;
  /** How long a change stays in the delta. Eureka: three minutes. */
  deltaRetentionMs?: number;
}

export interface InstanceView {
  instance: EurekaInstance;
  lease: EurekaLeaseTimes;
  actionType: EurekaActionType;
  /** The catalog source an instance is served for; undefined for instances that registered here. */
  external?: string;
}

export interface ApplicationView {
  name: string;
  instances: InstanceView[];
}

export interface ApplicationsView {
  versionsDelta: number;
  appsHashcode: string;
  applications: ApplicationView[];
}

export type RenewResult = 'renewed' | 'unknown' | 'dirty';

/** What an operator sees of self-preservation. */
export interface SelfPreservationStatus {
  enabled: boolean;
  /** True when the last eviction run kept expired leases because too few renewals arrived. */
  active: boolean;
  renewalsInWindow: number;
  expectedRenewalsInWindow: number;
  renewalPercentThreshold: number;
  /** Leases past their expiry that self-preservation keeps (served although never renewed). */
  expiredLeasesKept: number;
  /** Until when an operator ended it (0: not ended). */
  endedUntil: number;
}

/**
 * What clients of an app are shown. `all`: every instance (apps not being migrated). `legacy`:
 * the mesh side's HTTP instances are hidden (weight 0: legacy clients call legacy instances
 * directly, no extra hop). `bridge`: every HTTP instance is hidden and the bridge's own entry
 * (source HANDOUT_SOURCE) is served instead, so every call crosses the weight.
 */
export type AppVisibility = 'all' | 'legacy' | 'bridge';

/** The external source of the bridge's own entry in an app handed out at the bridge. */
export const HANDOUT_SOURCE = 'mesh-bridge-handout';

interface Lease {
  instance: EurekaInstance;
  times: EurekaLeaseTimes;
  actionType: EurekaActionType;
}

interface ExternalEntry {
  source: string;
  instance: EurekaInstance;
  times: EurekaLeaseTimes;
  actionType: EurekaActionType;
}

interface RecentChange {
  at: number;
  key: string;
  view: InstanceView;
}

function keyOf(app: string, id: string): string {
  return `${app}\u0000${id}`;
}

/**
 * Eureka's reconcile hash code: the count of instances per status, sorted by status name, as
 * `DOWN_1_UP_3_`. Clients compare it with their own after applying a delta and fetch everything
 * again on a mismatch.
 */
export function appsHashcode(statuses: Iterable<EurekaStatus>): string {
  const counts = new Map<string, number>();
  for (const status of statuses) counts.set(status, (counts.get(status) ?? 0) + 1);
  let hash = '';
  for (const status of [...counts.keys()].sort()) hash += `${status}_${counts.get(status)}_`;
  return hash;
}

/**
 * The status an instance is served with, by Eureka's rules in order: a client saying DOWN or
 * STARTING is believed; else an operator's override wins; else what the client said.
 */
function effectiveStatus(clientStatus: EurekaStatus, override: EurekaStatus | undefined): EurekaStatus {
  if (clientStatus !== 'UP' && clientStatus !== 'OUT_OF_SERVICE') return clientStatus;
  return override ?? clientStatus;
}

function sameServedInstance(a: EurekaInstance, b: EurekaInstance): boolean {
  const strip = (i: EurekaInstance): string => JSON.stringify({ ...i, lastDirtyTimestamp: 0, lastUpdatedTimestamp: 0 });
  return strip(a) === strip(b);
}

export class EurekaRegistry {
  private readonly leases = new Map<string, Map<string, Lease>>();
  /** Operator overrides by instance id, as Eureka keeps them (they outlive a re-registration). */
  private readonly overrides = new Map<string, EurekaStatus>();
  /** Instances of other catalog sources, by app: app -> source\0id -> entry. */
  private readonly externals = new Map<string, Map<string, ExternalEntry>>();
  /** Apps whose visibility is not `all`. */
  private readonly visibility = new Map<string, AppVisibility>();
  /**
   * The latest change per instance within the retention window, oldest first (a change moves its
   * instance to the end): one entry per instance however often it re-registers, so memory is
   * bounded by the registry's size, not by its churn.
   */
  private readonly recent = new Map<string, RecentChange>();
  /** Renewals per second over the renewal window: second -> count. */
  private readonly renewalBuckets = new Map<number, number>();
  private changeVersion = 0;
  private preserving = false;
  private expiredKept = 0;
  /** An operator ended self-preservation until then (one renewal window). */
  private endedUntil = 0;
  private leaseTotal = 0;

  private readonly renewalPercentThreshold: number;
  private readonly selfPreservationEnabled: boolean;
  private readonly renewalWindowMs: number;
  private readonly deltaRetentionMs: number;

  constructor(options: EurekaRegistryOptions = {}) {
    this.renewalPercentThreshold = options.renewalPercentThreshold ?? 0.85;
    this.selfPreservationEnabled = options.selfPreservation ?? true;
    this.renewalWindowMs = options.renewalWindowMs ?? 60_000;
    this.deltaRetentionMs = options.deltaRetentionMs ?? 180_000;
  }

  /** Increases with every change a client could see (registrations, status, removals, external changes). */
  get version(): number {
    return this.changeVersion;
  }

  /** Instances that registered here and hold a lease. */
  get leaseCount(): number {
    return this.leaseTotal;
  }

  /** True when the last eviction run found too few renewals and evicted nothing. */
  get selfPreservationActive(): boolean {
    return this.preserving;
  }

  /**
   * Registers (or re-registers) an instance and starts its lease. Returns ADDED for a new
   * instance, MODIFIED when it replaced a lease. A re-registration older than what is held
   * (by lastDirtyTimestamp) keeps the held data, as Eureka does, but still renews the lease.
   */
  register(instance: EurekaInstance, now: number): EurekaActionType {
    let app = this.leases.get(instance.app);
    if (app === undefined) this.leases.set(instance.app, (app = new Map()));
    const existing = app.get(instance.instanceId);
    let data = instance;
    if (existing !== undefined && existing.instance.lastDirtyTimestamp > instance.lastDirtyTimestamp) data = existing.instance;
    // A client that re-registers (after a 404 or a server restart) brings its override along.
    if (data.overriddenStatus !== 'UNKNOWN' && !this.overrides.has(data.instanceId)) this.overrides.set(data.instanceId, data.overriddenStatus);
    const override = this.overrides.get(data.instanceId);
    const status = effectiveStatus(data.status, override);
    const registered: EurekaInstance = { ...data, status, overriddenStatus: override ?? 'UNKNOWN', lastUpdatedTimestamp: now };
    const actionType: EurekaActionType = existing === undefined ? 'ADDED' : 'MODIFIED';
    const times: EurekaLeaseTimes = {
      registrationTimestamp: existing?.times.registrationTimestamp ?? now,
      lastRenewalTimestamp: now,
      evictionTimestamp: 0,
      serviceUpTimestamp: existing?.times.serviceUpTimestamp || (status === 'UP' ? now : 0),
    };
    app.set(instance.instanceId, { instance: registered, times, actionType });
    if (existing === undefined) this.leaseTotal++;
    this.changed(now, instance.app, instance.instanceId, { instance: registered, lease: times, actionType });
    return actionType;
  }

  /**
   * A heartbeat. `unknown` (no lease) and `dirty` (the client holds newer data than the server,
   * by lastDirtyTimestamp) both answer 404 so the client registers again.
   */
  renew(app: string, id: string, now: number, lastDirtyTimestamp?: number): RenewResult {
    const lease = this.leases.get(app.toUpperCase())?.get(id);
    if (lease === undefined) return 'unknown';
    lease.times = { ...lease.times, lastRenewalTimestamp: now };
    this.countRenewal(now);
    if (lastDirtyTimestamp !== undefined && lastDirtyTimestamp > lease.instance.lastDirtyTimestamp) return 'dirty';
    return 'renewed';
  }

  /** Deregisters an instance. False when it held no lease. */
  cancel(app: string, id: string, now: number): boolean {
    const name = app.toUpperCase();
    const lease = this.leases.get(name)?.get(id);
    if (lease === undefined) return false;
    this.dropLease(name, id, lease, now, now);
    return true;
  }

  /** An operator's status override (`PUT .../status?value=OUT_OF_SERVICE`). False when unknown. */
  setStatusOverride(app: string, id: string, status: EurekaStatus, now: number, lastDirtyTimestamp?: number): boolean {
    const name = app.toUpperCase();
    const lease = this.leases.get(name)?.get(id);
    if (lease === undefined) return false;
    this.overrides.set(id, status);
    this.updateLeaseStatus(name, id, lease, status, status, now, lastDirtyTimestamp);
    return true;
  }

  /**
   * Removes an override (`DELETE .../status?value=UP`); the instance takes `status` (Eureka:
   * UNKNOWN when none is given) until the client says otherwise. False when unknown.
   */
  removeStatusOverride(app: string, id: string, status: EurekaStatus | undefined, now: number, lastDirtyTimestamp?: number): boolean {
    const name = app.toUpperCase();
    const lease = this.leases.get(name)?.get(id);
    if (lease === undefined) return false;
    this.overrides.delete(id);
    this.updateLeaseStatus(name, id, lease, status ?? 'UNKNOWN', 'UNKNOWN', now, lastDirtyTimestamp);
    return true;
  }

  /**
   * Evicts expired leases, unless self-preservation holds (renewals in the last window below
   * the threshold share of those expected). Like Eureka, evicts at most the share of the
   * registry that the threshold allows per run (oldest first), so a mass expiry is spread out.
   * Returns the evicted instances.
   */
  evict(now: number): EurekaInstance[] {
    this.pruneRecent(now);
    const expired: { app: string; id: string; lease: Lease }[] = [];
    for (const [app, instances] of this.leases) {
      for (const [id, lease] of instances) {
        if (now > lease.times.lastRenewalTimestamp + lease.instance.durationInSecs * 1000) expired.push({ app, id, lease });
      }
    }
    this.preserving = this.selfPreservationEnabled && now >= this.endedUntil && this.belowRenewalThreshold(now);
    this.expiredKept = this.preserving ? expired.length : 0;
    if (this.preserving || expired.length === 0) return [];
    const limit = this.leaseTotal - Math.floor(this.leaseTotal * this.renewalPercentThreshold);
    expired.sort((a, b) => a.lease.times.lastRenewalTimestamp - b.lease.times.lastRenewalTimestamp);
    const evicted = expired.slice(0, Math.max(1, limit));
    for (const { app, id, lease } of evicted) this.dropLease(app, id, lease, now, now);
    return evicted.map((e) => e.lease.instance);
  }

  /**
   * Ends self-preservation for one renewal window (an operator's decision: the missing renewals
   * are instances that are gone, not a network partition) and evicts every expired lease now.
   */
  endSelfPreservation(now: number): EurekaInstance[] {
    this.endedUntil = now + this.renewalWindowMs;
    const evicted: EurekaInstance[] = [];
    // Eviction runs evict a share of the registry at a time; an operator asked for all of it.
    for (let batch = this.evict(now); batch.length > 0; batch = this.evict(now)) evicted.push(...batch);
    return evicted;
  }

  selfPreservationStatus(now: number): SelfPreservationStatus {
    return {
      enabled: this.selfPreservationEnabled,
      active: this.preserving,
      renewalsInWindow: this.renewalsInWindow(now),
      expectedRenewalsInWindow: this.expectedRenewalsInWindow(now),
      renewalPercentThreshold: this.renewalPercentThreshold,
      expiredLeasesKept: this.expiredKept,
      endedUntil: this.endedUntil > now ? this.endedUntil : 0,
    };
  }

  /** Renewals counted in the window ending at `now`. */
  renewalsInWindow(now: number): number {
    const oldest = Math.floor((now - this.renewalWindowMs) / 1000);
    let count = 0;
    for (const [second, n] of this.renewalBuckets) if (second > oldest) count += n;
    return count;
  }

  /**
   * Renewals the leases should have sent in the window ending at `now`: each lease one per
   * renewal interval over the part of the window it has existed. (Eureka counts every lease for
   * the whole minute, which puts a freshly started registry in self-preservation at once.)
   */
  expectedRenewalsInWindow(now: number): number {
    let expected = 0;
    for (const instances of this.leases.values()) {
      for (const lease of instances.values()) {
        const age = Math.min(this.renewalWindowMs, now - lease.times.registrationTimestamp);
        if (age > 0) expected += Math.floor(age / (lease.instance.renewalIntervalInSecs * 1000));
      }
    }
    return expected;
  }

  /**
   * Makes `instances` the complete set served for a catalog source: adds, modifies, removes.
   * Returns how many instances changed.
   */
  replaceExternal(source: string, instances: readonly EurekaInstance[], now: number): number {
    const seen = new Set<string>();
    let changes = 0;
    for (const instance of instances) {
      seen.add(keyOf(instance.app, instance.instanceId));
      if (this.upsertExternal(source, instance, now)) changes++;
    }
    const gone: EurekaInstance[] = [];
    for (const entries of this.externals.values()) {
      for (const entry of entries.values()) {
        if (entry.source === source && !seen.has(keyOf(entry.instance.app, entry.instance.instanceId))) gone.push(entry.instance);
      }
    }
    for (const instance of gone) if (this.removeExternal(source, instance.app, instance.instanceId, now)) changes++;
    return changes;
  }

  /** Serves one instance of another catalog source. False when it was already served unchanged. */
  upsertExternal(source: string, instance: EurekaInstance, now: number): boolean {
    let entries = this.externals.get(instance.app);
    if (entries === undefined) this.externals.set(instance.app, (entries = new Map()));
    const key = keyOf(source, instance.instanceId);
    const existing = entries.get(key);
    if (existing !== undefined && sameServedInstance(existing.instance, instance)) return false;
    const times: EurekaLeaseTimes = {
      registrationTimestamp: existing?.times.registrationTimestamp ?? now,
      lastRenewalTimestamp: now,
      evictionTimestamp: 0,
      serviceUpTimestamp: existing?.times.serviceUpTimestamp ?? now,
    };
    const actionType: EurekaActionType = existing === undefined ? 'ADDED' : 'MODIFIED';
    entries.set(key, { source, instance, times, actionType });
    this.changed(now, instance.app, instance.instanceId, { instance, lease: times, actionType, external: source });
    return true;
  }

  /** Stops serving one instance of another catalog source. */
  removeExternal(source: string, app: string, id: string, now: number): boolean {
    const name = app.toUpperCase();
    const entries = this.externals.get(name);
    const key = keyOf(source, id);
    const existing = entries?.get(key);
    if (entries === undefined || existing === undefined) return false;
    entries.delete(key);
    if (entries.size === 0) this.externals.delete(name);
    const times = { ...existing.times, evictionTimestamp: now };
    this.changed(now, name, id, { instance: existing.instance, lease: times, actionType: 'DELETED', external: source });
    return true;
  }

  /** Changes held for delta fetches (at most one per instance). */
  get recentChangeCount(): number {
    return this.recent.size;
  }

  /** Instances holding a lease in one app. */
  appLeaseCount(app: string): number {
    return this.leases.get(app.toUpperCase())?.size ?? 0;
  }

  /** Apps with at least one lease. */
  get appCount(): number {
    return this.leases.size;
  }

  /** The instance a lease holds, as served (status with its override), or undefined. */
  registeredInstance(app: string, id: string): EurekaInstance | undefined {
    return this.leases.get(app.toUpperCase())?.get(id)?.instance;
  }

  /** The instances that registered here (not the external ones), for publishing to the catalog. */
  registeredInstances(app: string): EurekaInstance[] {
    return [...(this.leases.get(app.toUpperCase())?.values() ?? [])].map((l) => l.instance);
  }

  /** One application, registered and external instances together, or undefined when it has none. */
  application(app: string): ApplicationView | undefined {
    const name = app.toUpperCase();
    const instances = this.collect(name);
    return instances.length === 0 ? undefined : { name, instances };
  }

  /** One instance, also when it is hidden from fetches (a client may read its own record). */
  instance(app: string, id: string): InstanceView | undefined {
    return this.collect(app.toUpperCase(), true).find((v) => v.instance.instanceId === id);
  }

  visibilityOf(app: string): AppVisibility {
    return this.visibility.get(app.toUpperCase()) ?? 'all';
  }

  /**
   * Changes what an app's clients are shown; the instances that appear or disappear go into the
   * delta (ADDED, DELETED) and the hash code follows, so full and delta fetches agree.
   */
  setVisibility(app: string, visibility: AppVisibility, now: number): boolean {
    const name = app.toUpperCase();
    if (this.visibilityOf(name) === visibility) return false;
    const before = new Map(this.collect(name).map((v) => [v.instance.instanceId, v]));
    if (visibility === 'all') this.visibility.delete(name);
    else this.visibility.set(name, visibility);
    const after = new Map(this.collect(name).map((v) => [v.instance.instanceId, v]));
    for (const [id, view] of before) {
      if (!after.has(id)) this.record(now, name, id, { ...view, lease: { ...view.lease, evictionTimestamp: now }, actionType: 'DELETED' });
    }
    for (const [id, view] of after) if (!before.has(id)) this.record(now, name, id, { ...view, actionType: 'ADDED' });
    return true;
  }

  /** Whether clients of the instance's app are shown it, by the app's visibility. */
  private served(view: InstanceView): boolean {
    const visibility = this.visibility.get(view.instance.app);
    if (visibility === undefined) return true;
    // Registered leases are legacy HTTP instances, whatever their metadata claims; the stack and
    // protocol of external ones are the catalog's (catalogToEureka writes them).
    const external = view.external !== undefined;
    const http = !external || view.instance.metadata['mesh-bridge.protocol'] !== 'dubbo';
    if (!http) return true;
    if (visibility === 'bridge') return view.external === HANDOUT_SOURCE;
    return view.external !== HANDOUT_SOURCE && !(external && view.instance.metadata['mesh-bridge.stack'] === 'mesh');
  }

  /** Everything, as a full fetch returns it. */
  fullView(): ApplicationsView {
    const names = new Set([...this.leases.keys(), ...this.externals.keys()]);
    const applications: ApplicationView[] = [];
    for (const name of [...names].sort()) {
      const instances = this.collect(name);
      if (instances.length > 0) applications.push({ name, instances });
    }
    return { versionsDelta: this.changeVersion, appsHashcode: this.currentHashcode(), applications };
  }

  /** The full registry's hash code, counted without building its view. */
  currentHashcode(): string {
    return appsHashcode(this.servedStatuses());
  }

  /**
   * What changed within the retention window, the latest change per instance, grouped by app.
   * Its hash code is the full registry's, which a client compares after applying the delta.
   */
  deltaView(now: number): ApplicationsView {
    this.pruneRecent(now);
    const byApp = new Map<string, InstanceView[]>();
    for (const change of this.recent.values()) {
      const app = change.view.instance.app;
      let list = byApp.get(app);
      if (list === undefined) byApp.set(app, (list = []));
      list.push(change.view);
    }
    const applications = [...byApp.keys()].sort().map((name) => ({ name, instances: byApp.get(name) as InstanceView[] }));
    return { versionsDelta: this.changeVersion, appsHashcode: this.currentHashcode(), applications };
  }

  private *servedStatuses(): Generator<EurekaStatus> {
    for (const [app, instances] of this.leases) {
      const all = !this.visibility.has(app);
      for (const lease of instances.values()) {
        if (all || this.served({ instance: lease.instance, lease: lease.times, actionType: lease.actionType })) yield lease.instance.status;
      }
    }
    for (const [app, entries] of this.externals) {
      const leased = this.leases.get(app);
      const all = !this.visibility.has(app);
      for (const entry of entries.values()) {
        if (leased?.has(entry.instance.instanceId) === true) continue;
        if (all || this.served({ instance: entry.instance, lease: entry.times, actionType: entry.actionType, external: entry.source })) yield entry.instance.status;
      }
    }
  }

  private collect(name: string, includeHidden = false): InstanceView[] {
    const views: InstanceView[] = [];
    const ids = new Set<string>();
    const filter = !includeHidden && this.visibility.has(name);
    for (const lease of this.leases.get(name)?.values() ?? []) {
      ids.add(lease.instance.instanceId);
      const view: InstanceView = { instance: lease.instance, lease: lease.times, actionType: lease.actionType };
      if (!filter || this.served(view)) views.push(view);
    }
    for (const entry of this.externals.get(name)?.values() ?? []) {
      // A client's own registration wins over a catalog instance with the same id.
      if (ids.has(entry.instance.instanceId)) continue;
      const view: InstanceView = { instance: entry.instance, lease: entry.times, actionType: entry.actionType, external: entry.source };
      if (!filter || this.served(view)) views.push(view);
    }
    return views;
  }

  private updateLeaseStatus(
    app: string,
    id: string,
    lease: Lease,
    status: EurekaStatus,
    overriddenStatus: EurekaStatus,
    now: number,
    lastDirtyTimestamp: number | undefined,
  ): void {
    const instance: EurekaInstance = {
      ...lease.instance,
      status,
      overriddenStatus,
      lastUpdatedTimestamp: now,
      lastDirtyTimestamp: lastDirtyTimestamp ?? lease.instance.lastDirtyTimestamp,
    };
    const times = { ...lease.times, serviceUpTimestamp: lease.times.serviceUpTimestamp || (status === 'UP' ? now : 0) };
    const updated: Lease = { instance, times, actionType: 'MODIFIED' };
    (this.leases.get(app) as Map<string, Lease>).set(id, updated);
    this.changed(now, app, id, { instance, lease: times, actionType: 'MODIFIED' });
  }

  private dropLease(app: string, id: string, lease: Lease, now: number, evictedAt: number): void {
    const instances = this.leases.get(app) as Map<string, Lease>;
    instances.delete(id);
    if (instances.size === 0) this.leases.delete(app);
    this.leaseTotal--;
    this.overrides.delete(id);
    const times = { ...lease.times, evictionTimestamp: evictedAt };
    this.changed(now, app, id, { instance: lease.instance, lease: times, actionType: 'DELETED' });
  }

  /** A change to an instance: in the delta only when its app's clients are shown it. */
  private changed(now: number, app: string, id: string, view: InstanceView): void {
    if (this.visibility.has(app) && !this.served(view)) {
      this.changeVersion++;
      return;
    }
    this.record(now, app, id, view);
  }

  private record(now: number, app: string, id: string, view: InstanceView): void {
    this.changeVersion++;
    const key = keyOf(app, id);
    this.recent.delete(key);
    this.recent.set(key, { at: now, key, view });
    this.pruneRecent(now);
  }

  private pruneRecent(now: number): void {
    const oldest = now - this.deltaRetentionMs;
    for (const [key, change] of this.recent) {
      if (change.at >= oldest) return;
      this.recent.delete(key);
    }
  }

  private countRenewal(now: number): void {
    const second = Math.floor(now / 1000);
    this.renewalBuckets.set(second, (this.renewalBuckets.get(second) ?? 0) + 1);
    if (this.renewalBuckets.size > Math.ceil(this.renewalWindowMs / 1000) + 2) {
      const oldest = Math.floor((now - this.renewalWindowMs) / 1000);
      for (const key of this.renewalBuckets.keys()) if (key <= oldest) this.renewalBuckets.delete(key);
    }
  }

  private belowRenewalThreshold(now: number): boolean {
    const expected = this.expectedRenewalsInWindow(now);
    if (expected === 0) return false;
    return this.renewalsInWindow(now) < expected * this.renewalPercentThreshold;
  }
}
