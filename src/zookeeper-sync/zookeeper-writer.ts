// The writing half of zookeeper-sync: follows the catalog and keeps ZooKeeper holding, as ephemeral
// znodes of our session, exactly what the export plan says: creates, rewrites and deletes, each
// recorded in the ownership ledger before it is made and released after it is undone.
import { Catalog, OwnershipLedger, Subscription } from '../catalog';
import type { Logger } from '../telemetry/logger';
import { LogOnce } from '../telemetry/logger';
import { BRIDGE_TAG } from './bad-entry';
import { ExportOptions, LearnedParams, PlannedNode, isExported, isLegacyProvider, learnParams, planService, sameLearned } from './export-plan';
import { LearnedParamsStore, mergeLearned } from './learned-params-store';
import { SlotMember, assignSlots, availableEndpoints, legacyEndpoints, slotCount, slotMemberPath } from './slot-plan';
import { zkCode, zookeeper } from './zk-client';
import { ZkLayout } from './zk-paths';
import { ConnectedInfo, ZkSession, isConnectionError } from './zk-session';

export type WriteOp = 'create' | 'update' | 'delete' | 'replace' | 'cleanup' | 'learned';

/**
 * Which services are being migrated (some of their calls go to the mesh), so the writer steers their
 * Dubbo consumers to the bridge; the bridge gives it from its weights.
 */
export interface MigrationState {
  isMigrating(service: string): boolean;
  /** The highest mesh weight of the service or any of its methods, percent (steering `slots` sizes B by it). */
  maxWeight?(service: string): number;
  /** Calls `listener` when a service's weights changed; returns an unsubscribe. */
  onChange(listener: (service: string) => void): () => void;
}

export interface WriterOptions {
  session: ZkSession;
  catalog: Catalog;
  ledger: OwnershipLedger;
  owner: string;
  layout: ZkLayout;
  export: ExportOptions;
  logger: Logger;
  /** Without it every mesh service is written whatever its weight, and no consumer is steered. */
  migration?: MigrationState;
  onWrite?: (op: WriteOp) => void;
  onWriteError?: (op: WriteOp) => void;
  /** The number of services whose consumers are steered changed. */
  onSteered?: (count: number) => void;
  /** A node someone else wrote sits where ours would go; it is left alone. */
  onConflict?: (path: string) => void;
  now?: () => number;
  /** Pause before retrying writes that failed for a reason other than the connection. Default 2 s. */
  retryDelayMs?: number;
  /**
   * Steering `slots`: this bridge's Dubbo endpoints (`host:port`, main listener first, then slot
   * ports). The writer announces them in an ephemeral member node every bridge reads.
   */
  slotEndpoints?: readonly string[];
}

/** Enough to list the entries of every owner (the ZooKeeper ledger has it; a memory ledger need not). */
interface ListableLedger extends OwnershipLedger {
  entries(registry: 'zookeeper'): Array<{ key: string; owner: string; writtenAt: number }>;
}

function isListable(ledger: OwnershipLedger): ledger is ListableLedger {
  return typeof (ledger as Partial<ListableLedger>).entries === 'function';
}

function sameData(a: Buffer | null, b: Buffer | null): boolean {
  if (a === null || b === null) return a === b;
  return a.equals(b);
}

/** An override configurator node (`/<root>/<iface>/configurators/<url>`). */
function isOverride(path: string): boolean {
  return path.slice(0, path.lastIndexOf('/')).endsWith('/configurators');
}

/** How many writes go out at once: ZooKeeper pipelines them, but a burst of 100,000 need not all be in memory. */
const BATCH = 256;

/** How old another bridge's ledger entry must be before its missing node lets the leader release it. */
const FRESH_ENTRY_MS = 60_000;

export class ZookeeperWriter {
  private readonly session: ZkSession;
  private readonly catalog: Catalog;
  private readonly ledger: OwnershipLedger;
  private readonly options: WriterOptions;
  private readonly logger: Logger;
  private readonly now: () => number;
  /** The plan, per service and as a whole. */
  private readonly planned = new Map<string, Map<string, PlannedNode>>();
  private readonly desired = new Map<string, PlannedNode>();
  /** The part of the plan every bridge writes, leading or not (see PlannedNode.perBridge). */
  private readonly desiredOwn = new Map<string, PlannedNode>();
  private readonly stamps = new Map<string, Map<string, number>>();
  /** Per service with mesh Dubbo instances: what its provider URL borrowed, kept when the lenders leave. */
  private readonly learned = new Map<string, LearnedParams>();
  private readonly learnedStore: LearnedParamsStore;
  /** Services whose migration state was last planned as on. */
  private readonly migrating = new Set<string>();
  /** Services whose plan holds override configurators (their consumers are steered to the bridges). */
  private readonly steered = new Set<string>();
  private unsubscribeMigration: (() => void) | null = null;
  /** Steering `slots`: the live bridges and their endpoints, as ZooKeeper lists them. */
  private slotMembers: readonly SlotMember[] = [];
  /** What this session holds: path -> data as written. */
  private readonly written = new Map<string, Buffer | null>();
  /** Paths where a node we did not write sits; retried only when the plan for them changes. */
  private readonly conflicts = new Set<string>();
  private readonly logOnce = new LogOnce();
  private subscription: Subscription | null = null;
  private active = false;
  /** Set by stop(): everything is withdrawn, per-bridge nodes included. */
  private withdrawing = false;
  private cleanupNeeded = true;
  private running: Promise<void> | null = null;
  private dirty = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly onConnected = (info: ConnectedInfo): void => {
    if (info.newSession) {
      // The old session's ephemerals went with it; what the ledger says we wrote is checked again.
      this.written.clear();
      this.cleanupNeeded = true;
    }
    this.schedule();
  };

  constructor(options: WriterOptions) {
    this.options = options;
    this.session = options.session;
    this.catalog = options.catalog;
    this.ledger = options.ledger;
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
    this.learnedStore = new LearnedParamsStore(options.session, options.layout, options.logger, () => options.onWriteError?.('learned'));
    if (options.export.steering === 'slots' && options.export.target === 'bridge') {
      // Announced by every bridge, leading or not, as its other per-bridge nodes are.
      const path = slotMemberPath(options.layout.bridgeRoot, { owner: options.owner, endpoints: this.ownEndpoints() });
      const node: PlannedNode = { path, data: null, service: '', perBridge: true };
      this.desired.set(path, node);
      this.desiredOwn.set(path, node);
    }
  }

  /** This bridge's endpoints: the exported address, then the slot ports. */
  private ownEndpoints(): string[] {
    const main = this.options.export.bridgeAddress;
    return [...new Set([...(main === undefined ? [] : [main]), ...(this.options.slotEndpoints ?? [])])];
  }

  /** Steering `slots`: the live bridges changed; services being migrated are split among them again. */
  setSlotMembers(members: readonly SlotMember[]): void {
    this.slotMembers = members;
    for (const service of [...this.migrating]) this.replan(service);
  }

  /**
   * Reads what the bridges learned earlier for the services this bridge writes Dubbo URLs for, so a
   * bridge started after their legacy providers left still writes complete URLs. Call before start().
   */
  async loadLearned(): Promise<void> {
    const services = this.catalog.serviceNames().filter((service) => this.catalog.instances(service).some((i) => i.protocol === 'dubbo' && isExported(i)));
    for (let i = 0; i < services.length; i += BATCH) {
      await Promise.all(
        services.slice(i, i + BATCH).map(async (service) => {
          const stored = await this.learnedStore.load(service);
          if (stored === undefined) return;
          const current = this.learned.get(service);
          this.learned.set(service, current === undefined ? stored : mergeLearned(stored, current));
        }),
      );
    }
  }

  /** Starts following the catalog. Only per-bridge nodes are written until setActive(true). */
  start(): void {
    if (this.subscription !== null) return;
    this.stopped = false;
    this.withdrawing = false;
    this.subscription = this.catalog.subscribeAll((delta) => this.replan(delta.service));
    this.unsubscribeMigration = this.options.migration?.onChange((service) => this.onMigrationChange(service)) ?? null;
    for (const service of this.catalog.serviceNames()) this.replan(service);
    this.session.on('connected', this.onConnected);
    // A first pass even with nothing to write: it removes what an earlier process of ours left.
    this.schedule();
  }

  /**
   * Whether this bridge writes the shared part of the plan (it leads the writer election). Inactive,
   * it removes what it wrote of that part; its per-bridge nodes stay.
   */
  setActive(active: boolean): void {
    if (this.active === active) return;
    this.active = active;
    this.cleanupNeeded = true;
    this.schedule();
  }

  get isActive(): boolean {
    return this.active;
  }

  /** Nodes this session holds. */
  get writtenCount(): number {
    return this.written.size;
  }

  /** Nodes this bridge should hold now: the whole plan when active, its per-bridge part otherwise. */
  get plannedCount(): number {
    return this.target().size;
  }

  writtenPaths(): string[] {
    return [...this.written.keys()];
  }

  /** Services whose Dubbo consumers this bridge steers to the bridges now (overrides planned). */
  steeredServices(): string[] {
    return [...this.steered].sort();
  }

  /** Resolves when the last scheduled pass is done. */
  async idle(): Promise<void> {
    while (this.running !== null) await this.running;
  }

  /** True when ZooKeeper holds exactly the plan (or only its per-bridge part, when inactive). */
  get inSync(): boolean {
    const target = this.target();
    if (target.size !== this.written.size + this.countConflicts(target)) return false;
    for (const [path, node] of target) {
      if (this.conflicts.has(path)) continue;
      const written = this.written.get(path);
      if (written === undefined || !sameData(written, node.data)) return false;
    }
    return true;
  }

  /** Removes everything written (deleting the nodes and releasing the ledger), then stops following the catalog. */
  async stop(): Promise<void> {
    this.subscription?.unsubscribe();
    this.subscription = null;
    this.unsubscribeMigration?.();
    this.unsubscribeMigration = null;
    this.session.off('connected', this.onConnected);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.active = false;
    this.withdrawing = true;
    this.schedule();
    await this.idle();
    this.stopped = true;
  }

  /** What this session should hold now. */
  private target(): Map<string, PlannedNode> {
    if (this.withdrawing) return new Map();
    return this.active ? this.desired : this.desiredOwn;
  }

  private countConflicts(target: Map<string, PlannedNode>): number {
    let count = 0;
    for (const path of this.conflicts) if (target.has(path)) count++;
    return count;
  }

  /** A weight moved: only a change of the service's migration state changes what is written. */
  private onMigrationChange(service: string): void {
    const migrating = this.options.migration?.isMigrating(service) ?? false;
    // With slots the number of URLs follows the weight itself, not only whether it is above 0.
    if (migrating !== this.migrating.has(service) || (migrating && this.options.export.steering === 'slots')) this.replan(service);
  }

  private replan(service: string): void {
    const instances = this.catalog.instances(service);
    // The weights and what was learned matter only to services the bridge writes a Dubbo URL for:
    // legacy-only interfaces (nearly all of an estate) cost nothing more.
    const exportsDubbo = instances.some((i) => i.protocol === 'dubbo' && isExported(i));
    const migrating = exportsDubbo ? this.options.migration?.isMigrating(service) : undefined;
    if (migrating === true) this.migrating.add(service);
    else this.migrating.delete(service);
    let learned = this.learned.get(service);
    if (exportsDubbo) {
      const next = learnParams(learned, instances);
      if (!sameLearned(learned, next)) {
        this.learned.set(service, (learned = next));
        this.learnedStore.save(service, next);
      }
    }
    let slotEndpoints: string[] | undefined;
    if (migrating === true && this.options.export.steering === 'slots') {
      // Every bridge computes the same B and the same split from the same view of ZooKeeper.
      const weight = this.options.migration?.maxWeight?.(service) ?? 0;
      const count = slotCount(weight, legacyEndpoints(instances), availableEndpoints(this.slotMembers));
      slotEndpoints = assignSlots(count, this.slotMembers).get(this.options.owner) ?? [];
    }
    const plan = planService(
      service,
      instances,
      { owner: this.options.owner, layout: this.options.layout, export: this.options.export, now: this.now(), migrating, learned, slotEndpoints },
      this.stamps.get(service) ?? new Map(),
    );
    if (plan.stamps.size > 0) this.stamps.set(service, plan.stamps);
    else this.stamps.delete(service);
    const before = this.planned.get(service);
    const after = new Map(plan.nodes.map((node) => [node.path, node]));
    const same = (a: PlannedNode, b: PlannedNode): boolean => sameData(a.data, b.data) && (a.perBridge === true) === (b.perBridge === true);
    if (before !== undefined && before.size === after.size && [...after].every(([path, node]) => before.has(path) && same(before.get(path) as PlannedNode, node))) return;
    for (const path of before?.keys() ?? []) {
      this.desired.delete(path);
      this.desiredOwn.delete(path);
      this.conflicts.delete(path);
    }
    for (const [path, node] of after) {
      this.desired.set(path, node);
      if (node.perBridge === true) this.desiredOwn.set(path, node);
    }
    if (after.size > 0) this.planned.set(service, after);
    else this.planned.delete(service);
    let steers = false;
    for (const path of after.keys()) if (isOverride(path)) steers = true;
    // Slots steer without overrides: by the bridges' URLs beside the legacy ones (this bridge's share may be none).
    if (slotEndpoints !== undefined && exportsDubbo && instances.some(isLegacyProvider)) steers = true;
    if (steers !== this.steered.has(service)) {
      if (steers) this.steered.add(service);
      else this.steered.delete(service);
      this.options.onSteered?.(this.steered.size);
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.running !== null) {
      this.dirty = true;
      return;
    }
    this.running = this.runPasses().finally(() => {
      this.running = null;
    });
  }

  private async runPasses(): Promise<void> {
    do {
      this.dirty = false;
      try {
        await this.pass();
      } catch (err) {
        this.logger.error({ err }, 'zookeeper writer pass failed');
      }
    } while (this.dirty && this.session.connected);
  }

  /** One reconciliation: make-before-break (creates, then rewrites, then deletes). */
  private async pass(): Promise<void> {
    if (!this.session.connected) return; // redone on the next `connected`
    // The plan as it stands now: one changed while this pass runs is the next pass's, so a node it
    // replaces is never deleted here before its replacement is created.
    const target = new Map(this.target());
    const creates: PlannedNode[] = [];
    const updates: PlannedNode[] = [];
    for (const [path, node] of target) {
      const written = this.written.get(path);
      if (written === undefined) {
        if (!this.conflicts.has(path)) creates.push(node);
      } else if (!sameData(written, node.data)) updates.push(node);
    }
    let failures = 0;
    // Providers before the overrides that send their consumers to them; overrides removed before
    // the providers: a consumer that honours them is never left with every provider disabled.
    failures += await this.inBatches(creates.filter((node) => !isOverride(node.path)), (node) => this.create(node));
    failures += await this.inBatches(creates.filter((node) => isOverride(node.path)), (node) => this.create(node));
    failures += await this.inBatches(updates, (node) => this.update(node));
    if (this.cleanupNeeded && this.session.connected) {
      this.cleanupNeeded = false;
      failures += await this.cleanup(target);
    }
    const deletes = [...this.written.keys()].filter((path) => !target.has(path));
    failures += await this.inBatches(deletes.filter(isOverride), (path) => this.remove(path, 'delete'));
    failures += await this.inBatches(deletes.filter((path) => !isOverride(path)), (path) => this.remove(path, 'delete'));
    if (failures > 0) this.retryLater();
  }

  private async inBatches<T>(items: T[], run: (item: T) => Promise<boolean>): Promise<number> {
    let failures = 0;
    for (let i = 0; i < items.length && this.session.connected; i += BATCH) {
      const results = await Promise.all(items.slice(i, i + BATCH).map(run));
      failures += results.filter((ok) => !ok).length;
    }
    return failures;
  }

  private retryLater(): void {
    if (this.retryTimer !== null || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.schedule();
    }, this.options.retryDelayMs ?? 2000);
    this.retryTimer.unref();
  }

  private failed(op: WriteOp, path: string, err: unknown): boolean {
    // Not a failure of ours: the next connection redoes the pass. Still retried (without counting
    // an error), since a request sent on a socket that just died can fail after the session is
    // connected again, and then no connection event comes to redo it.
    if (isConnectionError(err)) return false;
    this.options.onWriteError?.(op);
    if (this.logOnce.first(`${op}|${path}`)) this.logger.error({ err, path, op }, 'zookeeper write failed; retrying');
    return false;
  }

  private async create(node: PlannedNode): Promise<boolean> {
    const { path, data } = node;
    const wasOwned = this.ledger.isOwned('zookeeper', path);
    try {
      await this.ledger.record('zookeeper', path);
      try {
        await this.session.createWithParents(path, data, 'ephemeral');
      } catch (err) {
        if (zkCode(err) !== zookeeper.Exception.NODE_EXISTS) throw err;
        const existing = await this.session.getData(path);
        if (existing !== null && this.session.ownsEphemeral(existing.stat)) {
          if (!sameData(existing.data, data) && data !== null) await this.session.setData(path, data);
        } else if (existing === null || wasOwned || this.carriesOurTag(path, existing.data)) {
          // Left by an earlier process or session of a bridge: it would vanish with that session,
          // so it is replaced by one of ours.
          if (existing !== null) await this.session.remove(path, existing.stat.version);
          await this.session.createWithParents(path, data, 'ephemeral');
          this.options.onWrite?.('replace');
        } else {
          if (!wasOwned) await this.ledger.release('zookeeper', path);
          this.conflicts.add(path);
          this.options.onConflict?.(path);
          if (this.logOnce.first(`conflict|${path}`)) this.logger.warn({ path }, 'a node the bridges did not write is where ours would go; left alone');
          return true;
        }
      }
      this.written.set(path, data);
      this.options.onWrite?.('create');
      return true;
    } catch (err) {
      return this.failed('create', path, err);
    }
  }

  private async update(node: PlannedNode): Promise<boolean> {
    try {
      if (node.data !== null) await this.session.setData(node.path, node.data);
      this.written.set(node.path, node.data);
      this.options.onWrite?.('update');
      return true;
    } catch (err) {
      if (zkCode(err) === zookeeper.Exception.NO_NODE) {
        this.written.delete(node.path); // gone under us: created again on the next pass
        this.dirty = true;
        return true;
      }
      return this.failed('update', node.path, err);
    }
  }

  private async remove(path: string, op: WriteOp): Promise<boolean> {
    try {
      await this.session.remove(path);
      await this.ledger.release('zookeeper', path);
      this.written.delete(path);
      this.options.onWrite?.(op);
      return true;
    } catch (err) {
      return this.failed(op, path, err);
    }
  }

  /**
   * Removes what the ledger says this owner wrote that the plan no longer holds: nodes of an
   * earlier process (they would live until its session timed out) or of an expired session. The
   * writing bridge also forgets ledger entries of bridges that went away whose nodes are gone.
   */
  private async cleanup(target: Map<string, PlannedNode>): Promise<number> {
    const leftovers = this.ledger
      .ownedBy(this.options.owner, 'zookeeper')
      .map((entry) => entry.key)
      .filter((path) => path.startsWith('/') && !target.has(path) && !this.written.has(path));
    let failures = await this.inBatches(leftovers, (path) => this.remove(path, 'cleanup'));
    if (this.active && isListable(this.ledger)) {
      // Other bridges write their per-bridge nodes while we lead: an entry they recorded a moment
      // ago may not have its node yet, so recent entries are left for a later clean-up.
      const now = this.now();
      const others = this.ledger.entries('zookeeper').filter((entry) => entry.owner !== this.options.owner && entry.key.startsWith('/') && !(entry.writtenAt > now - FRESH_ENTRY_MS));
      failures += await this.inBatches(others, async (entry) => {
        try {
          if ((await this.session.exists(entry.key)) === null) await this.ledger.release('zookeeper', entry.key);
          return true;
        } catch (err) {
          return this.failed('cleanup', entry.key, err);
        }
      });
    }
    return failures;
  }

  /** Whether an existing node is one a bridge wrote: provider paths carry the tag in their name, app nodes in their JSON. */
  private carriesOurTag(path: string, data: Buffer): boolean {
    if (path.includes(encodeURIComponent(`${BRIDGE_TAG}=`))) return true;
    try {
      const json = JSON.parse(data.toString('utf8')) as { payload?: { metadata?: Record<string, unknown> } };
      return typeof json.payload?.metadata?.[BRIDGE_TAG] === 'string';
    } catch {
      return false;
    }
  }
}
