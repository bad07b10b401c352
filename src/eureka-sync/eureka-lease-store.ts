// The embedded Eureka server's registrations kept in ZooKeeper, as a Eureka cluster replicates
// them between peers: one persistent znode per instance under
// /mesh-bridge/eureka/registrations/<encoded APP/id>, holding the instance and when (and where) its
// lease was last renewed. A bridge that restarts serves them again at once; every replica on the
// same ZooKeeper serves what any of them was told. A renewal is written at most once a third of
// the lease duration, so a replica whose clients heartbeat elsewhere still sees the lease alive.
import { MeshBridgeError } from '../errors';
import type { Logger } from '../telemetry/logger';
import { LogOnce } from '../telemetry/logger';
import { counter, Registry } from '../telemetry/metrics';
import type { Watch, ZkSession } from '../zookeeper-sync/zk-session';
import { EurekaInstance, parseEurekaInstance } from './eureka-instance';

export const REGISTRATIONS_ROOT = '/mesh-bridge/eureka/registrations';

/** One stored registration. */
export interface StoredRegistration {
  instance: EurekaInstance;
  renewedAt: number;
  /** The bridge that wrote it. */
  renewedBy: string;
  /** The address the instance registered from (only it may change the registration). */
  registeredFrom?: string;
}

/** Where replicated registrations are applied (the embedded server). */
export interface ReplicationTarget {
  replicate(stored: StoredRegistration): void;
  replicatedRemoval(app: string, id: string): void;
}

export interface EurekaLeaseStoreOptions {
  session: ZkSession;
  bridgeId: string;
  metrics: Registry;
  logger: Logger;
  root?: string;
  /** How long start() waits for the stored registrations to be read. */
  loadTimeoutMs?: number;
}

function nodeName(app: string, id: string): string {
  return encodeURIComponent(`${app}/${id}`);
}

/** Parses a stored registration; null when it is not one (skipped and counted). */
export function parseStoredRegistration(data: Buffer, now: number): StoredRegistration | null {
  try {
    const raw = JSON.parse(data.toString('utf8')) as { instance?: unknown; renewedAt?: unknown; renewedBy?: unknown; registeredFrom?: unknown };
    const instance = parseEurekaInstance({ instance: raw.instance }, now);
    const renewedAt = typeof raw.renewedAt === 'number' && Number.isFinite(raw.renewedAt) ? raw.renewedAt : now;
    const stored: StoredRegistration = { instance, renewedAt, renewedBy: typeof raw.renewedBy === 'string' ? raw.renewedBy : '' };
    if (typeof raw.registeredFrom === 'string') stored.registeredFrom = raw.registeredFrom;
    return stored;
  } catch {
    return null;
  }
}

function storedJson(instance: EurekaInstance, renewedAt: number, renewedBy: string, registeredFrom: string | undefined): Buffer {
  const { port, securePort, dataCenterInfo, ...rest } = instance;
  // In the registration form parseEurekaInstance reads back.
  const body = {
    ...rest,
    port: { $: port.port, '@enabled': String(port.enabled) },
    securePort: { $: securePort.port, '@enabled': String(securePort.enabled) },
    dataCenterInfo: { '@class': dataCenterInfo.className, name: dataCenterInfo.name, ...(dataCenterInfo.metadata ? { metadata: dataCenterInfo.metadata } : {}) },
    leaseInfo: { renewalIntervalInSecs: instance.renewalIntervalInSecs, durationInSecs: instance.durationInSecs },
  };
  return Buffer.from(JSON.stringify({ instance: body, renewedAt, renewedBy, registeredFrom }));
}

export class EurekaLeaseStore {
  private readonly root: string;
  private rootWatch: Watch | null = null;
  private readonly watches = new Map<string, Watch>();
  /** Names whose first data has not arrived yet (start() waits for them). */
  private readonly loading = new Set<string>();
  private listed = false;
  /** When this bridge last wrote each registration's renewal. */
  private readonly lastWritten = new Map<string, number>();
  /** Writes per registration, in order. */
  private readonly chains = new Map<string, Promise<void>>();
  private target: ReplicationTarget | null = null;
  private readonly logOnce = new LogOnce();
  private readonly writeErrors;
  private readonly badEntries;

  constructor(private readonly options: EurekaLeaseStoreOptions) {
    this.root = options.root ?? REGISTRATIONS_ROOT;
    this.writeErrors = counter(options.metrics, 'mesh_bridge_eureka_store_write_errors_total', 'Writes of embedded Eureka registrations to ZooKeeper that failed');
    this.badEntries = counter(options.metrics, 'mesh_bridge_eureka_store_bad_entries_total', 'Stored embedded Eureka registrations skipped as malformed');
  }

  /** Follows the stored registrations into `target`; resolves once the stored ones were applied (or the deadline passed). */
  /** Whether the store's ZooKeeper session is connected now. */
  get connected(): boolean {
    return this.options.session.connected;
  }

  async start(target: ReplicationTarget): Promise<void> {
    this.target = target;
    this.rootWatch ??= this.options.session.watchChildren(this.root, (children) => this.onChildren(children ?? []));
    const deadline = Date.now() + (this.options.loadTimeoutMs ?? 10_000);
    while (!this.listed || this.loading.size > 0) {
      if (Date.now() > deadline) {
        this.options.logger.warn({ pending: this.loading.size }, 'stored Eureka registrations not all read in time; serving what was read');
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  stop(): void {
    this.rootWatch?.close();
    this.rootWatch = null;
    for (const watch of this.watches.values()) watch.close();
    this.watches.clear();
    this.loading.clear();
  }

  /** Keeps a registration (new, changed data or status). */
  save(instance: EurekaInstance, now: number, registeredFrom?: string): void {
    const key = nodeName(instance.app, instance.instanceId);
    this.lastWritten.set(key, now);
    const data = storedJson(instance, now, this.options.bridgeId, registeredFrom);
    this.enqueue(key, async () => {
      const path = `${this.root}/${key}`;
      try {
        await this.options.session.setData(path, data);
      } catch {
        await this.options.session.createWithParents(path, data, 'persistent').catch(async () => this.options.session.setData(path, data));
      }
    });
  }

  /** A renewal: written when a third of the lease has passed since this bridge last wrote it. */
  renewed(instance: EurekaInstance, now: number, registeredFrom?: string): void {
    const key = nodeName(instance.app, instance.instanceId);
    const last = this.lastWritten.get(key) ?? 0;
    if (now - last < (instance.durationInSecs * 1000) / 3) return;
    this.save(instance, now, registeredFrom);
  }

  /** Forgets a registration (cancelled or evicted). */
  removed(app: string, id: string): void {
    const key = nodeName(app, id);
    this.lastWritten.delete(key);
    this.enqueue(key, async () => {
      await this.options.session.remove(`${this.root}/${key}`);
    });
  }

  /** Resolves when every write queued so far is done. */
  async flushed(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  private enqueue(key: string, write: () => Promise<void>): void {
    const previous = this.chains.get(key) ?? Promise.resolve();
    const next = previous
      .then(write)
      .catch((err: unknown) => {
        this.writeErrors.inc();
        if (this.logOnce.first(`write|${(err as Error).message}`)) this.options.logger.warn({ err: (err as Error).message, key }, 'could not keep an Eureka registration in ZooKeeper');
      })
      .finally(() => {
        if (this.chains.get(key) === next) this.chains.delete(key);
      });
    this.chains.set(key, next);
  }

  private onChildren(children: string[]): void {
    this.listed = true;
    for (const name of children) {
      if (this.watches.has(name)) continue;
      this.loading.add(name);
      this.watches.set(
        name,
        this.options.session.watchData(`${this.root}/${name}`, (data) => {
          this.loading.delete(name);
          this.onData(name, data);
        }),
      );
    }
    const present = new Set(children);
    for (const [name, watch] of this.watches) {
      if (present.has(name)) continue;
      watch.close();
      this.watches.delete(name);
      this.loading.delete(name);
    }
  }

  private onData(name: string, data: Buffer | null): void {
    const target = this.target;
    if (target === null) return;
    if (data === null) {
      const decoded = decodeURIComponent(name);
      const slash = decoded.indexOf('/');
      this.lastWritten.delete(name);
      if (slash > 0) target.replicatedRemoval(decoded.slice(0, slash), decoded.slice(slash + 1));
      return;
    }
    const stored = parseStoredRegistration(data, Date.now());
    if (stored === null) {
      this.badEntries.inc();
      if (this.logOnce.first(`bad|${name}`)) {
        const err = new MeshBridgeError('EUREKA_BAD_PAYLOAD', 'skipping a malformed stored Eureka registration', { value: data.toString('utf8').slice(0, 200), where: `${this.root}/${name}` });
        this.options.logger.warn({ code: err.code, where: err.where }, err.message);
      }
      return;
    }
    // The echo of this process's own write.
    if (stored.renewedBy === this.options.bridgeId && this.lastWritten.get(name) === stored.renewedAt) return;
    target.replicate(stored);
  }
}
