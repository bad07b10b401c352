// The embedded Eureka server's glue between its registry and the rest of mesh-bridge: what
// clients register is published to the catalog (as source `eureka`, minus what the bridges
// registered themselves), and what other catalog sources know is served to Eureka clients.
// The HTTP routes live in eureka-server.ts; this class owns the clock, the timer and the metrics.
import { Catalog, Instance, OwnershipLedger, ServiceDelta, Subscription } from '../catalog';
import { MeshBridgeError } from '../errors';
import { Logger, LogOnce, silentLogger } from '../telemetry/logger';
import { counter, gauge, Registry } from '../telemetry/metrics';
import { catalogToEureka, eurekaToCatalog, EurekaActionType, EurekaInstance, EurekaStatus } from './eureka-instance';
import { ApplicationsView, ApplicationView, EurekaRegistry, EurekaRegistryOptions, InstanceView, RenewResult, SelfPreservationStatus } from './eureka-registry';
import { EvictionTimer } from './eviction-timer';
import { RegistrationPolicy, refusalField } from './registration-policy';
import { appVisibility, BridgeHandout, HANDOUT_TAG, handoutInstance, handoutInstanceId } from './bridge-handout';
import { EUREKA_OWNER_TAG } from './eureka-remote-writer';
import { HANDOUT_SOURCE } from './eureka-registry';
import type { EurekaLeaseStore, StoredRegistration } from './eureka-lease-store';

export interface EmbeddedEurekaOptions extends EurekaRegistryOptions {
  catalog: Catalog;
  metrics: Registry;
  logger?: Logger;
  /** Registrations recorded here (key `APP/instanceId`) are the bridges' own: served, never published. */
  ledger?: OwnershipLedger;
  /** The catalog source registrations are published as; default `eureka-embedded`. */
  source?: string;
  /** Names this server in the published instances' origin. */
  registryName?: string;
  /** Which instances of other catalog sources to serve; default: all. */
  serveFromCatalog?: (instance: Instance) => boolean;
  /** The mesh share of a service (any spelling of the app's name), for handing it out at the bridge. */
  meshWeightOf?: (app: string) => number;
  /** What registrants may send and change (limits, redaction, owners, credentials). */
  policy?: RegistrationPolicy;
  /** How often expired leases are evicted. Eureka: 60 s. */
  evictionIntervalMs?: number;
  now?: () => number;
}

export class EmbeddedEureka {
  readonly registry: EurekaRegistry;
  private readonly catalog: Catalog;
  private readonly logger: Logger;
  private readonly ledger: OwnershipLedger | undefined;
  private readonly source: string;
  private readonly registryName: string;
  private readonly serveFromCatalog: (instance: Instance) => boolean;
  /** The clock every lease time is read from (injectable for tests). */
  readonly now: () => number;
  private readonly timer: EvictionTimer;
  private readonly logOnce = new LogOnce();
  private subscription: Subscription | undefined;
  private handout: BridgeHandout | null = null;
  private store: EurekaLeaseStore | null = null;
  /** Set while the stored registrations are being read (see whenLoaded). */
  private storeLoading: Promise<void> | null = null;
  readonly policy: RegistrationPolicy;
  /** The address each lease was registered from (`APP\0id`): only it (or an operator) may change the lease. */
  private readonly owners = new Map<string, string>();
  /** HTTP instances per stack of each app (upper case), kept from catalog deltas. */
  private readonly httpStacks = new Map<string, AppHttpStacks>();
  /** Apps (upper case: Eureka names apps case-insensitively) whose handout is decided here. */
  private readonly apps = new Set<string>();

  private readonly registeredGauge;
  private readonly selfPreservationGauge;
  private readonly badPayloads;
  private readonly evictions;
  private readonly renewals;
  private readonly expiredKeptGauge;

  constructor(private readonly options: EmbeddedEurekaOptions) {
    this.registry = new EurekaRegistry(options);
    this.policy = options.policy ?? new RegistrationPolicy();
    this.catalog = options.catalog;
    this.logger = options.logger ?? silentLogger();
    this.ledger = options.ledger;
    // Not 'eureka': that is the source of registries read from external Eureka servers.
    this.source = options.source ?? 'eureka-embedded';
    this.registryName = options.registryName ?? 'embedded';
    this.serveFromCatalog = options.serveFromCatalog ?? (() => true);
    this.now = options.now ?? Date.now;
    this.timer = new EvictionTimer(() => this.evict(), options.evictionIntervalMs ?? 60_000);
    const metrics = options.metrics;
    this.registeredGauge = gauge(metrics, 'mesh_bridge_eureka_registered_instances', 'Instances holding a lease in the embedded Eureka server');
    this.selfPreservationGauge = gauge(metrics, 'mesh_bridge_eureka_self_preservation', '1 while the embedded Eureka server is in self-preservation (not evicting)');
    this.badPayloads = counter(metrics, 'mesh_bridge_eureka_bad_payload_total', 'Requests to the embedded Eureka server refused as malformed', ['field']);
    this.evictions = counter(metrics, 'mesh_bridge_eureka_evictions_total', 'Leases the embedded Eureka server evicted after they expired');
    this.expiredKeptGauge = gauge(metrics, 'mesh_bridge_eureka_expired_leases_kept', 'Leases past their expiry that self-preservation keeps serving');
    this.renewals = counter(metrics, 'mesh_bridge_eureka_renewals_total', 'Heartbeats the embedded Eureka server received', ['result']);
    this.registeredGauge.set(0);
    this.selfPreservationGauge.set(0);
  }

  /** Starts serving the catalog's other sources and evicting expired leases. */
  start(): void {
    if (this.subscription !== undefined) return;
    this.subscription = this.catalog.subscribeAll((delta) => this.onCatalogDelta(delta));
    const now = this.now();
    for (const service of this.catalog.serviceNames()) {
      this.apps.add(service.toUpperCase());
      for (const instance of this.catalog.instances(service)) {
        this.countStack(instance, false);
        this.serveExternal(instance, now);
      }
    }
    this.refreshAllVisibility();
    this.timer.start();
  }

  /**
   * Hands apps being migrated (and mesh-only apps) out at the bridge's HTTP listener from now on;
   * null stops it (every app is then served as registered).
   */
  setHandout(handout: BridgeHandout | null): void {
    const now = this.now();
    if (this.handout !== null) for (const app of this.apps) this.registry.removeExternal(HANDOUT_SOURCE, app, handoutInstanceId(this.handout.bridgeId), now);
    this.handout = handout;
    this.refreshAllVisibility();
  }

  /** Re-decides how an app is handed out (the weight of one of its spellings changed). */
  weightChanged(service: string): void {
    const app = service.toUpperCase();
    this.apps.add(app);
    this.refreshVisibility(app);
  }

  private refreshAllVisibility(): void {
    for (const app of this.apps) this.refreshVisibility(app);
  }

  private refreshVisibility(app: string): void {
    const now = this.now();
    const stacks = this.httpStacks.get(app)?.counts ?? { legacy: 0, mesh: 0 };
    const weight = this.options.meshWeightOf?.(app) ?? 0;
    const visibility = appVisibility(stacks, weight, this.handout !== null);
    if (visibility === 'bridge' && this.handout !== null) this.registry.upsertExternal(HANDOUT_SOURCE, handoutInstance(app, this.handout, now), now);
    this.registry.setVisibility(app, visibility, now);
    if (visibility !== 'bridge' && this.handout !== null) this.registry.removeExternal(HANDOUT_SOURCE, app, handoutInstanceId(this.handout.bridgeId), now);
  }

  /** Resolves when the registrations written to the store so far are stored. */
  async storeFlushed(): Promise<void> {
    await this.store?.flushed();
  }

  /** Stops the timer, the catalog subscription and the store's watches; leases and published instances stay. */
  stop(): void {
    this.store?.stop();
    this.timer.stop();
    this.subscription?.unsubscribe();
    this.subscription = undefined;
  }

  /**
   * Keeps registrations in `store` (ZooKeeper) from now on and serves what it holds: what this
   * bridge was told before a restart, and what its replicas are told. Resolves once loaded.
   */
  async useStore(store: EurekaLeaseStore): Promise<void> {
    this.store = store;
    const loading = store.start({ replicate: (stored) => this.replicate(stored), replicatedRemoval: (app, id) => this.replicatedRemoval(app, id) });
    this.storeLoading = loading.finally(() => (this.storeLoading = null));
    await loading;
  }

  /**
   * Resolves once the stored registrations are loaded, or after `maxMs`: a client's heartbeat that
   * reaches a bridge restarting is answered from what it was told before, not with a 404 that
   * makes every client register again. Bounded, so an unreachable ZooKeeper never holds clients.
   */
  whenLoaded(maxMs: number): Promise<void> | null {
    const loading = this.storeLoading;
    // Without ZooKeeper there is nothing to wait for: the store reads in the background once it is back.
    if (loading === null || this.store?.connected !== true) return null;
    return Promise.race([loading.then(noop, noop), new Promise<void>((resolve) => setTimeout(resolve, maxMs).unref())]);
  }

  /**
   * Registers an instance sent from address `from` (none: an internal call). Refused when its
   * metadata is too large, its app or the registry is full, or the instance is held for another
   * address; secret-looking metadata is redacted before it is held anywhere.
   */
  register(received: EurekaInstance, from?: string): EurekaActionType {
    const now = this.now();
    const instance = this.policy.admit(received);
    const app = instance.app;
    const id = instance.instanceId;
    this.checkOwner(app, id, from);
    if (this.registry.registeredInstance(app, id) === undefined) {
      const inApp = this.registry.appLeaseCount(app);
      if (inApp >= this.policy.maxInstancesPerApp || (inApp === 0 && this.registry.appCount >= this.policy.maxApps)) {
        throw new MeshBridgeError('EUREKA_REGISTRY_FULL', `the embedded Eureka holds as many ${inApp === 0 ? 'apps' : `instances of ${app}`} as it accepts`, { value: app, where: 'limits' });
      }
    }
    const action = this.registry.register(instance, now);
    if (from !== undefined) this.owners.set(leaseKey(app, id), from);
    this.publishOne(app, id);
    this.saveLease(app, id, now);
    return action;
  }

  renew(app: string, id: string, lastDirtyTimestamp?: number, from?: string): RenewResult {
    const now = this.now();
    this.checkOwner(app, id, from);
    const result = this.registry.renew(app, id, now, lastDirtyTimestamp);
    this.renewals.inc({ result });
    if (result === 'renewed' && this.store !== null) {
      const held = this.registry.registeredInstance(app, id);
      if (held !== undefined) this.store.renewed(held, now, this.owners.get(leaseKey(held.app, id)));
    }
    return result;
  }

  cancel(app: string, id: string, from?: string): boolean {
    this.checkOwner(app, id, from);
    const done = this.registry.cancel(app, id, this.now());
    if (done) {
      this.forget(app, id);
      this.store?.removed(app.toUpperCase(), id);
    }
    return done;
  }

  setStatusOverride(app: string, id: string, status: EurekaStatus, lastDirtyTimestamp?: number, from?: string): boolean {
    const now = this.now();
    this.checkOwner(app, id, from);
    const done = this.registry.setStatusOverride(app, id, status, now, lastDirtyTimestamp);
    if (done) {
      this.publishOne(app, id);
      this.saveLease(app, id, now);
    }
    return done;
  }

  removeStatusOverride(app: string, id: string, status: EurekaStatus | undefined, lastDirtyTimestamp?: number, from?: string): boolean {
    const now = this.now();
    this.checkOwner(app, id, from);
    const done = this.registry.removeStatusOverride(app, id, status, now, lastDirtyTimestamp);
    if (done) {
      this.publishOne(app, id);
      this.saveLease(app, id, now);
    }
    return done;
  }

  /** Refuses (EUREKA_NOT_OWNER) a change to an instance held for another address, unless `from` is an operator's. */
  private checkOwner(app: string, id: string, from: string | undefined): void {
    const owner = this.owners.get(leaseKey(app.toUpperCase(), id));
    if (this.policy.mayChange(from, owner)) return;
    throw new MeshBridgeError('EUREKA_NOT_OWNER', `instance ${id} of ${app.toUpperCase()} was registered from another address`, { value: id, where: 'owner' });
  }

  private saveLease(app: string, id: string, now: number): void {
    if (this.store === null) return;
    const held = this.registry.registeredInstance(app, id);
    if (held !== undefined) this.store.save(held, now, this.owners.get(leaseKey(held.app, id)));
  }

  /** A registration stored by a replica (or by this bridge before a restart): held here as if registered here. */
  private replicate(stored: StoredRegistration): void {
    const { instance } = stored;
    const held = this.registry.registeredInstance(instance.app, instance.instanceId);
    const now = this.now();
    if (stored.registeredFrom !== undefined) this.owners.set(leaseKey(instance.app, instance.instanceId), stored.registeredFrom);
    if (held === undefined || instance.lastDirtyTimestamp > held.lastDirtyTimestamp || instance.status !== held.status || instance.overriddenStatus !== held.overriddenStatus) {
      this.registry.register(instance, now);
      this.publishOne(instance.app, instance.instanceId);
    } else {
      // Renewed at a replica: the lease is alive there.
      this.registry.renew(instance.app, instance.instanceId, now);
    }
  }

  private replicatedRemoval(app: string, id: string): void {
    if (this.registry.cancel(app, id, this.now())) this.forget(app, id);
  }

  /** One eviction run (the timer calls this); returns the evicted instances. */
  evict(): EurekaInstance[] {
    return this.evicted(this.registry.evict(this.now()));
  }

  /** What self-preservation is doing: for operators (GET /eureka/self-preservation). */
  selfPreservation(): SelfPreservationStatus {
    return this.registry.selfPreservationStatus(this.now());
  }

  /** An operator ends self-preservation (from `from`, an operator address): every expired lease is evicted now. */
  endSelfPreservation(from?: string): EurekaInstance[] {
    if (!this.policy.isOperator(from)) {
      throw new MeshBridgeError('EUREKA_NOT_OWNER', 'only an operator address may end self-preservation', { value: from, where: 'owner' });
    }
    const evicted = this.evicted(this.registry.endSelfPreservation(this.now()));
    this.logger.warn({ evicted: evicted.length, from }, 'self-preservation ended by an operator');
    return evicted;
  }

  private evicted(evicted: EurekaInstance[]): EurekaInstance[] {
    const status = this.registry.selfPreservationStatus(this.now());
    this.selfPreservationGauge.set(status.active ? 1 : 0);
    this.expiredKeptGauge.set(status.expiredLeasesKept);
    if (evicted.length > 0) {
      for (const instance of evicted) this.store?.removed(instance.app, instance.instanceId);
      this.evictions.inc(evicted.length);
      this.logger.info({ evicted: evicted.map((i) => `${i.app}/${i.instanceId}`) }, 'evicted expired Eureka leases');
      for (const instance of evicted) this.forget(instance.app, instance.instanceId);
    }
    return evicted;
  }

  /** Serves a fixed set of instances for a source not in the catalog (or to replace what the catalog says). */
  setExternalApps(source: string, instances: readonly Instance[]): void {
    const now = this.now();
    this.registry.replaceExternal(
      source,
      instances.filter((i) => this.serveFromCatalog(i)).map((i) => catalogToEureka(i, now)),
      now,
    );
  }

  fullView(): ApplicationsView {
    return this.registry.fullView();
  }

  deltaView(): ApplicationsView {
    return this.registry.deltaView(this.now());
  }

  application(app: string): ApplicationView | undefined {
    return this.registry.application(app);
  }

  instance(app: string, id: string): InstanceView | undefined {
    return this.registry.instance(app, id);
  }

  /** Counts and logs (once per field and app) a refused request. */
  refused(err: MeshBridgeError, app: string): void {
    const field = refusalField(err.where);
    this.badPayloads.inc({ field });
    if (this.logOnce.first(`${err.code}|${field}`)) {
      this.logger.warn({ code: err.code, app, field, value: err.value }, err.message);
    }
  }

  /**
   * Makes the catalog's instance of one registration what the client registered (the bridges' own
   * registrations are never published): one instance's work, whatever the app's size.
   */
  private publishOne(app: string, id: string): void {
    const name = app.toUpperCase();
    const held = this.registry.registeredInstance(name, id);
    // Another bridge's registration (its entry for an app it hands out, a mesh instance it
    // registered) is served but is no instance for this bridge to route to.
    const bridges = held === undefined || this.ledger?.isOwned('eureka', `${name}/${id}`) === true || held.metadata[HANDOUT_TAG] !== undefined || held.metadata[EUREKA_OWNER_TAG] !== undefined;
    if (bridges) this.catalog.remove(this.source, name, id);
    else this.catalog.upsert(eurekaToCatalog(held as EurekaInstance, { source: this.source, registry: this.registryName }));
    this.registeredGauge.set(this.registry.leaseCount);
  }

  /** A lease that ended: out of the catalog, its owner forgotten. */
  private forget(app: string, id: string): void {
    this.owners.delete(leaseKey(app.toUpperCase(), id));
    this.publishOne(app, id);
  }

  /** Keeps the per-app count of HTTP instances per stack (how an app is handed out depends on it). */
  private countStack(instance: Instance, removed: boolean): void {
    const app = instance.service.toUpperCase();
    const key = `${instance.origin.source}|${instance.service}|${instance.id}`;
    let entry = this.httpStacks.get(app);
    const before = entry?.byKey.get(key);
    if (entry !== undefined && before !== undefined) {
      entry.byKey.delete(key);
      entry.counts[before]--;
    }
    if (removed || instance.protocol !== 'http') {
      if (entry?.byKey.size === 0) this.httpStacks.delete(app);
      return;
    }
    if (entry === undefined) this.httpStacks.set(app, (entry = { byKey: new Map(), counts: { legacy: 0, mesh: 0 } }));
    entry.byKey.set(key, instance.stack);
    entry.counts[instance.stack]++;
  }

  private onCatalogDelta(delta: ServiceDelta): void {
    const now = this.now();
    this.apps.add(delta.service.toUpperCase());
    for (const instance of delta.removed) this.countStack(instance, true);
    for (const instance of delta.added) this.countStack(instance, false);
    for (const instance of delta.updated) this.countStack(instance, false);
    for (const instance of delta.removed) {
      if (instance.origin.source !== this.source) this.registry.removeExternal(instance.origin.source, instance.service.toUpperCase(), instance.id, now);
    }
    for (const instance of [...delta.added, ...delta.updated]) this.serveExternal(instance, now);
    this.refreshVisibility(delta.service.toUpperCase());
  }

  private serveExternal(instance: Instance, now: number): void {
    if (instance.origin.source === this.source) return;
    if (this.serveFromCatalog(instance)) this.registry.upsertExternal(instance.origin.source, catalogToEureka(instance, now), now);
    else this.registry.removeExternal(instance.origin.source, instance.service.toUpperCase(), instance.id, now);
  }
}

function leaseKey(app: string, id: string): string {
  return `${app}\u0000${id}`;
}

/** An app's HTTP instances (`source|service|id` -> stack) and their count per stack. */
interface AppHttpStacks {
  byKey: Map<string, 'legacy' | 'mesh'>;
  counts: { legacy: number; mesh: number };
}

function noop(): void {}
