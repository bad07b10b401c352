// zookeeper-sync: Dubbo's ZooKeeper registry both ways. Reads providers (and consumers, configurators,
// routers, Dubbo 3 app instances) into the catalog; writes the mesh side's services back as ephemeral
// znodes; survives connection loss, session expiry and restarts without losing or echoing anything.
import { EventEmitter } from 'node:events';
import { Catalog, OwnershipLedger } from '../catalog';
import { MeshBridgeError } from '../errors';
import type { Logger } from '../telemetry/logger';
import { LogOnce } from '../telemetry/logger';
import { Registry, counter, gauge } from '../telemetry/metrics';
import { BadEntry } from './bad-entry';
import { ExportOptions, parseHostPort } from './export-plan';
import { SlotMember, SlotView, parseSlotMember, slotMembersDir } from './slot-plan';
import { SlotShares } from './slot-shares';
import { WriterElection } from './writer-election';
import { DEFAULT_LAYOUT, DubboCategory, ZkLayout } from './zk-paths';
import { ConnectedInfo, Watch, ZkSession } from './zk-session';
import { ZookeeperOwnershipLedger } from './zookeeper-ledger';
import { InterfaceView, ZOOKEEPER_SOURCE, ZookeeperReader } from './zookeeper-reader';
import { MigrationState, WriteOp, ZookeeperWriter } from './zookeeper-writer';

export interface ZookeeperSyncOptions {
  /** `host:port[,host:port...]`, as Dubbo's `zookeeper://` registry address without the scheme. */
  connectString: string;
  catalog: Catalog;
  /** This bridge's id: stable across restarts, unique among running bridges. */
  owner: string;
  metrics: Registry;
  logger: Logger;
  /** Default 30 s, as Dubbo's. */
  sessionTimeoutMs?: number;
  /**
   * The ownership ledger. Default: one kept in ZooKeeper on this sync's session (see `ledger`),
   * which is what several bridges need; pass it on to eureka-sync.
   */
  ledger?: OwnershipLedger;
  /** Write the mesh side's services into ZooKeeper. Omit (or false) to only read. */
  export?: ExportOptions | false;
  /**
   * Elect one writer among the bridges on this ZooKeeper (default true), so replicas with the same
   * catalog never write the same instance twice. False: this bridge always writes. With export
   * target `bridge`, the provider URLs at this bridge's own address are written by every bridge
   * regardless (each its own); only the nodes alike for all bridges wait for the election.
   */
  election?: boolean;
  /**
   * The services being migrated (from the bridge's weights). With it, a service with legacy providers
   * gets nothing written at weight 0, and, while migrating (export target `bridge`), the bridge's URL
   * plus override configurators that disable its legacy providers for consumers. Without it, mesh
   * services are always written and nothing is steered.
   */
  migration?: MigrationState;
  /** Read Dubbo 3 application-level instances under `/services` (default true). */
  applicationLevel?: boolean;
  /**
   * Steering `slots`: this bridge's extra Dubbo endpoints (`host:port`, its slot ports), written at
   * besides its main address (export.bridgeAddress) when the split asks for more endpoints than bridges.
   */
  slotEndpoints?: readonly string[];
  layout?: Partial<ZkLayout>;
  /** How long start() waits for the first complete sync before rejecting. Default 2 x sessionTimeoutMs. */
  startTimeoutMs?: number;
}

export interface ZookeeperSyncStatus {
  connectString: string;
  owner: string;
  state: string;
  sessionId: string | null;
  stale: boolean;
  /** Whether this bridge writes the shared nodes (leads the writer election), and who does. `planned`: nodes this bridge should hold now. */
  /** `steered`: services whose Dubbo consumers are sent to the bridges (override configurators planned). */
  writer: { enabled: boolean; leader: boolean; leaderOwner: string | null; planned: number; written: number; inSync: boolean; steered: string[] };
  reader: { interfaces: number; applications: number; instances: number; badEntries: number };
  reconnects: number;
  sessionExpiries: number;
  lastSyncedAt: number | null;
  /** Steering `slots`: per service being migrated, the endpoint counts and the factor on its weights. */
  slots?: { members: SlotMember[]; services: SlotView[] };
}

interface SyncEvents {
  /** An interface's consumers, configurators or routers changed. */
  category: [iface: string, category: Exclude<DubboCategory, 'providers'>];
  /** The mirror is complete and fresh again (after start, a reconnect or a new session). */
  synced: [];
}

const REGISTRY = 'zookeeper';

export class ZookeeperSync extends EventEmitter<SyncEvents> {
  readonly session: ZkSession;
  /** The ledger in use: pass it to eureka-sync so both registries share one. */
  readonly ledger: OwnershipLedger;
  private readonly options: ZookeeperSyncOptions;
  private readonly logger: Logger;
  private readonly layout: ZkLayout;
  private readonly ownLedger: ZookeeperOwnershipLedger | null;
  private readonly reader: ZookeeperReader;
  private readonly writer: ZookeeperWriter | null;
  private readonly election: WriterElection | null;
  private readonly logOnce = new LogOnce();
  private readonly metrics: {
    badEntries: ReturnType<typeof counter<'registry' | 'reason'>>;
    stale: ReturnType<typeof gauge<'registry'>>;
    reconnects: ReturnType<typeof counter<'registry'>>;
    expiries: ReturnType<typeof counter<'registry'>>;
    writes: ReturnType<typeof counter<'registry' | 'op'>>;
    writeErrors: ReturnType<typeof counter<'registry' | 'op'>>;
    conflicts: ReturnType<typeof counter<'registry'>>;
    leader: ReturnType<typeof gauge<'registry'>>;
    steered: ReturnType<typeof gauge<'registry'>>;
    capped: ReturnType<typeof gauge<'registry'>>;
  };
  /** Steering `slots` only. */
  private readonly slots: SlotShares | null = null;
  private slotMembers: SlotMember[] = [];
  private slotWatch: Watch | null = null;
  private unsubscribeSlots: (() => void) | null = null;
  private stale = false;
  private badEntryCount = 0;
  private lastSyncedAt: number | null = null;
  private started = false;

  constructor(options: ZookeeperSyncOptions) {
    super();
    this.options = options;
    this.logger = options.logger;
    this.layout = { ...DEFAULT_LAYOUT, ...options.layout };
    const exportOptions = options.export === false ? undefined : options.export;
    if (exportOptions?.target === 'bridge' && parseHostPort(exportOptions.bridgeAddress ?? '') === null) {
      throw new MeshBridgeError('CONFIG_INVALID', 'zookeeper export target "bridge" needs bridgeAddress as host:port', { value: exportOptions.bridgeAddress, where: 'zookeeper.export.bridgeAddress' });
    }
    const registry = options.metrics;
    this.metrics = {
      badEntries: counter(registry, 'mesh_bridge_registry_bad_entries_total', 'Registry entries skipped because they could not be read', ['registry', 'reason']),
      stale: gauge(registry, 'mesh_bridge_registry_stale', '1 while a registry is unreachable and its last known state is kept', ['registry']),
      reconnects: counter(registry, 'mesh_bridge_registry_reconnects_total', 'Connections re-established to a registry within the same session', ['registry']),
      expiries: counter(registry, 'mesh_bridge_registry_session_expiries_total', 'Registry sessions that expired and were replaced', ['registry']),
      writes: counter(registry, 'mesh_bridge_registry_writes_total', 'Writes made to a registry', ['registry', 'op']),
      writeErrors: counter(registry, 'mesh_bridge_registry_write_errors_total', 'Registry writes that failed (retried)', ['registry', 'op']),
      conflicts: counter(registry, 'mesh_bridge_registry_write_conflicts_total', 'Writes skipped because an entry not written by a bridge was in the way', ['registry']),
      leader: gauge(registry, 'mesh_bridge_registry_writer_leader', '1 while this bridge is the one writing into a registry', ['registry']),
      steered: gauge(registry, 'mesh_bridge_registry_steered_services', 'Services whose registry consumers this bridge sends to the bridges (being migrated)', ['registry']),
      capped: gauge(registry, 'mesh_bridge_registry_slots_capped_services', 'Services (steering slots) whose weight needs more bridge endpoints than the live bridges offer: uniform pickers get less than the weight', ['registry']),
    };
    this.metrics.capped.set({ registry: REGISTRY }, 0);
    this.metrics.stale.set({ registry: REGISTRY }, 0);
    this.metrics.steered.set({ registry: REGISTRY }, 0);

    this.session = new ZkSession({ connectString: options.connectString, sessionTimeoutMs: options.sessionTimeoutMs ?? 30_000, logger: this.logger });
    this.ownLedger = options.ledger === undefined ? new ZookeeperOwnershipLedger({ session: this.session, owner: options.owner, logger: this.logger, layout: this.layout }) : null;
    this.ledger = options.ledger ?? (this.ownLedger as ZookeeperOwnershipLedger);
    this.reader = new ZookeeperReader({
      session: this.session,
      catalog: options.catalog,
      ledger: this.ledger,
      layout: this.layout,
      logger: this.logger,
      applicationLevel: options.applicationLevel,
      onBadEntry: (bad, path) => this.onBadEntry(bad, path),
      onCategoryChange: (iface, category) => this.emit('category', iface, category),
      onBridgeEndpoints: (iface) => this.slots?.update(iface),
    });
    if (exportOptions?.target === 'bridge' && exportOptions.steering === 'slots') {
      const migration = options.migration;
      this.slots = new SlotShares({
        catalog: options.catalog,
        bridgeEndpoints: (service) => this.reader.bridgeEndpoints(service),
        maxWeight: (service) => (migration?.isMigrating(service) === true ? (migration.maxWeight?.(service) ?? 0) : 0),
        logger: this.logger,
        onCapped: (count) => this.metrics.capped.set({ registry: REGISTRY }, count),
      });
    }
    this.writer =
      exportOptions === undefined
        ? null
        : new ZookeeperWriter({
            session: this.session,
            catalog: options.catalog,
            ledger: this.ledger,
            owner: options.owner,
            layout: this.layout,
            export: exportOptions,
            logger: this.logger,
            migration: options.migration,
            slotEndpoints: options.slotEndpoints,
            onWrite: (op: WriteOp) => this.metrics.writes.inc({ registry: REGISTRY, op }),
            onWriteError: (op: WriteOp) => this.metrics.writeErrors.inc({ registry: REGISTRY, op }),
            onConflict: () => this.metrics.conflicts.inc({ registry: REGISTRY }),
            onSteered: (count: number) => this.metrics.steered.set({ registry: REGISTRY }, count),
          });
    this.election = this.writer !== null && options.election !== false ? new WriterElection({ session: this.session, owner: options.owner, logger: this.logger, layout: this.layout }) : null;
  }

  /**
   * Connects, reads everything, writes the plan (when leading) and resolves: the first complete
   * sync. Rejects with ZK_UNAVAILABLE after startTimeoutMs; the sync keeps trying in the background
   * until stop(), so a bridge may carry on without ZooKeeper.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.session.on('connected', this.onConnected);
    this.session.on('disconnected', this.onDisconnected);
    this.session.on('expired', this.onExpired);
    this.election?.on('change', this.onLeaderChange);
    this.session.start();
    const timeoutMs = this.options.startTimeoutMs ?? 2 * (this.options.sessionTimeoutMs ?? 30_000);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new MeshBridgeError('ZK_UNAVAILABLE', `no complete sync with ZooKeeper ${this.options.connectString} within ${timeoutMs} ms; still trying`, { where: this.options.connectString })), timeoutMs);
    });
    try {
      await Promise.race([this.firstSync(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Withdraws what this bridge wrote, stops watching and closes the session. Read instances stay in the catalog, marked stale. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.election?.off('change', this.onLeaderChange);
    await this.writer?.stop();
    await this.election?.stop();
    this.slotWatch?.close();
    this.slotWatch = null;
    this.slots?.stop();
    this.unsubscribeSlots?.();
    this.unsubscribeSlots = null;
    this.reader.stop();
    this.ownLedger?.stop();
    this.session.off('connected', this.onConnected);
    this.session.off('disconnected', this.onDisconnected);
    this.session.off('expired', this.onExpired);
    await this.session.close();
    this.setStale(true);
    this.metrics.leader.set({ registry: REGISTRY }, 0);
  }

  /** Resolves when the mirror is complete and the writer has caught up with the plan. */
  async whenSynced(): Promise<void> {
    for (;;) {
      if (!this.started) throw new MeshBridgeError('ZK_UNAVAILABLE', 'zookeeper sync is stopped', { where: this.options.connectString });
      await this.session.settled();
      // Leader or not is known again only once this session has joined the election.
      await this.election?.whenDecided();
      await this.writer?.idle();
      if (this.session.connected && !this.stale && (this.writer?.inSync ?? true)) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  status(): ZookeeperSyncStatus {
    return {
      connectString: this.options.connectString,
      owner: this.options.owner,
      state: this.session.state,
      sessionId: this.session.sessionId,
      stale: this.stale,
      writer: {
        enabled: this.writer !== null,
        leader: this.writer?.isActive ?? false,
        leaderOwner: this.election?.leaderOwner ?? (this.writer !== null ? this.options.owner : null),
        planned: this.writer?.plannedCount ?? 0,
        written: this.writer?.writtenCount ?? 0,
        inSync: this.writer?.inSync ?? true,
        steered: this.writer?.steeredServices() ?? [],
      },
      reader: {
        interfaces: this.reader.interfaceNames().length,
        applications: this.reader.applicationNames().length,
        instances: this.reader.instanceCount,
        badEntries: this.badEntryCount,
      },
      reconnects: this.session.reconnects,
      sessionExpiries: this.session.expiries,
      lastSyncedAt: this.lastSyncedAt,
      ...(this.slots === null ? {} : { slots: { members: this.slotMembers, services: this.slots.list() } }),
    };
  }

  /** Steering `slots`: the factor the bridges apply to a service's weights, (B + L) / B; 1 otherwise. */
  slotScale(service: string): number {
    return this.slots?.scaleOf(service) ?? 1;
  }

  /** Steering `slots`: the figures of one service being migrated, or null. */
  slotView(service: string): SlotView | null {
    return this.slots?.list().find((view) => view.service === service) ?? null;
  }

  private onSlotMembers(names: string[]): void {
    const members = new Map<string, SlotMember>();
    for (const name of [...names].sort()) {
      const member = parseSlotMember(name);
      // Two nodes of one bridge (a restart before the old session expired): every bridge keeps the same one.
      if (member !== null && !members.has(member.owner)) members.set(member.owner, member);
    }
    this.slotMembers = [...members.values()].sort((a, b) => (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0));
    this.writer?.setSlotMembers(this.slotMembers);
    this.slots?.setMembers(this.slotMembers);
  }

  /** Interfaces under the Dubbo root. */
  interfaces(): string[] {
    return this.reader.interfaceNames();
  }

  /** One interface's providers, consumers, configurators and routers, as read. */
  view(iface: string): InterfaceView | null {
    return this.reader.view(iface);
  }

  /** Which application consumes which interface, from the consumers' registrations. */
  dependencies(): Array<{ application: string; interface: string }> {
    return this.reader.dependencies();
  }

  /** Paths this bridge's session holds. */
  writtenPaths(): string[] {
    return this.writer?.writtenPaths() ?? [];
  }

  private async firstSync(): Promise<void> {
    await this.session.whenConnected(Number.MAX_SAFE_INTEGER);
    // The ledger first: the reader must know what bridges wrote before it reads anything.
    await this.ownLedger?.start();
    this.reader.start();
    if (this.slots !== null) {
      const slots = this.slots;
      slots.start();
      this.unsubscribeSlots = this.options.migration?.onChange((service) => slots.update(service)) ?? null;
      this.slotWatch = this.session.watchChildren(slotMembersDir(this.layout.bridgeRoot), (names) => this.onSlotMembers(names ?? []));
    }
    // The writer plans from what ZooKeeper holds: started before the first complete read, it would
    // write URLs without the methods it borrows from legacy providers, then replace them.
    await this.session.settled();
    await this.writer?.loadLearned();
    this.writer?.start();
    if (this.writer !== null) {
      if (this.election === null) {
        this.writer.setActive(true);
        this.metrics.leader.set({ registry: REGISTRY }, 1);
      } else {
        this.election.start();
        await this.election.whenDecided();
      }
    }
    await this.whenSynced();
  }

  private readonly onConnected = (info: ConnectedInfo): void => {
    if (!info.newSession) this.metrics.reconnects.inc({ registry: REGISTRY });
    void this.session.settled().then(() => {
      if (!this.started || !this.session.connected) return;
      this.setStale(false);
      this.lastSyncedAt = Date.now();
      this.emit('synced');
    });
  };

  private readonly onDisconnected = (): void => {
    // Keep everything, marked stale: a registry going away is not every service going away.
    this.setStale(true);
  };

  private readonly onExpired = (): void => {
    this.metrics.expiries.inc({ registry: REGISTRY });
  };

  private readonly onLeaderChange = (leader: boolean): void => {
    this.metrics.leader.set({ registry: REGISTRY }, leader ? 1 : 0);
    this.writer?.setActive(leader);
  };

  private setStale(stale: boolean): void {
    if (this.stale === stale) return;
    this.stale = stale;
    this.metrics.stale.set({ registry: REGISTRY }, stale ? 1 : 0);
    this.options.catalog.setSourceStale(ZOOKEEPER_SOURCE, stale);
  }

  private onBadEntry(bad: BadEntry, path: string): void {
    this.badEntryCount++;
    this.metrics.badEntries.inc({ registry: REGISTRY, reason: bad.reason });
    if (this.logOnce.first(`${bad.reason}|${path}`)) {
      this.logger.warn({ registry: REGISTRY, reason: bad.reason, value: bad.value, path }, `skipped a bad zookeeper entry: ${bad.message}`);
    }
  }
}
