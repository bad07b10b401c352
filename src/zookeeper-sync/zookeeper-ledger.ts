// The ownership ledger kept in ZooKeeper, so every bridge on an estate sees what any bridge wrote:
// one persistent znode per written entry, `<bridgeRoot>/ledger/<registry>/<encoded key>`, holding
// {owner, writtenAt}. Mirrored in memory through watches, so isOwned() is synchronous.
import { LedgerEntry, LedgerRegistry, OwnershipLedger } from '../catalog';
import type { Logger } from '../telemetry/logger';
import { zkCode, zookeeper } from './zk-client';
import { DEFAULT_LAYOUT, ZkLayout, joinPath, ledgerDir, ledgerKeyOf, ledgerNodeName } from './zk-paths';
import { Watch, ZkSession } from './zk-session';

export interface ZookeeperLedgerOptions {
  /** Share the sync's session: the ledger's watch then fires, in order, before the registry watch it guards. */
  session: ZkSession;
  /** This bridge's id, stable across restarts. */
  owner: string;
  logger: Logger;
  layout?: ZkLayout;
  registries?: readonly LedgerRegistry[];
  now?: () => number;
}

interface StoredEntry {
  owner: string;
  writtenAt: number;
}

function parseStored(data: Buffer): StoredEntry {
  try {
    const json: unknown = JSON.parse(data.toString('utf8'));
    if (typeof json === 'object' && json !== null) {
      const { owner, writtenAt } = json as { owner?: unknown; writtenAt?: unknown };
      return { owner: typeof owner === 'string' ? owner : '', writtenAt: typeof writtenAt === 'number' ? writtenAt : 0 };
    }
  } catch {
    // An unreadable entry still marks its key as owned; only its owner is unknown.
  }
  return { owner: '', writtenAt: 0 };
}

export class ZookeeperOwnershipLedger implements OwnershipLedger {
  readonly owner: string;
  private readonly session: ZkSession;
  private readonly layout: ZkLayout;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly registries: readonly LedgerRegistry[];
  /** What ZooKeeper holds, per registry: key -> entry (owner '' until its data is read). */
  private readonly stored = new Map<LedgerRegistry, Map<string, StoredEntry>>();
  /** What this process recorded and has not released: owned even before ZooKeeper's answer comes back. */
  private readonly mine = new Map<string, LedgerEntry>();
  private readonly loads = new Set<Promise<void>>();
  private readonly loading = new Set<string>();
  private watches: Watch[] = [];

  constructor(options: ZookeeperLedgerOptions) {
    this.session = options.session;
    this.owner = options.owner;
    this.logger = options.logger;
    this.layout = options.layout ?? DEFAULT_LAYOUT;
    this.now = options.now ?? Date.now;
    this.registries = options.registries ?? ['zookeeper', 'eureka'];
    for (const registry of this.registries) this.stored.set(registry, new Map());
  }

  /** Starts mirroring; resolves once the whole ledger (owners included) has been read. */
  async start(): Promise<void> {
    if (this.watches.length === 0) {
      this.watches = this.registries.map((registry) => this.session.watchChildren(ledgerDir(this.layout, registry), (names) => this.onChildren(registry, names ?? [])));
    }
    await this.session.settled();
    while (this.loads.size > 0) await Promise.all([...this.loads]);
  }

  stop(): void {
    for (const watch of this.watches) watch.close();
    this.watches = [];
  }

  isOwned(registry: LedgerRegistry, key: string): boolean {
    return this.mine.has(`${registry}|${key}`) || (this.stored.get(registry)?.has(key) ?? false);
  }

  async record(registry: LedgerRegistry, key: string): Promise<void> {
    const entry: LedgerEntry = { registry, key, owner: this.owner, writtenAt: this.now() };
    this.mine.set(`${registry}|${key}`, entry);
    const path = joinPath(ledgerDir(this.layout, registry), ledgerNodeName(key));
    const data = Buffer.from(JSON.stringify({ owner: entry.owner, writtenAt: entry.writtenAt }));
    try {
      await this.session.createWithParents(path, data, 'persistent');
    } catch (err) {
      if (zkCode(err) !== zookeeper.Exception.NODE_EXISTS) throw err;
      const existing = await this.session.getData(path);
      // Taking over an entry another bridge left (it wrote the same key, then went away).
      if (existing === null) await this.session.createWithParents(path, data, 'persistent');
      else if (parseStored(existing.data).owner !== this.owner) await this.session.setData(path, data);
    }
    this.stored.get(registry)?.set(key, { owner: entry.owner, writtenAt: entry.writtenAt });
  }

  async release(registry: LedgerRegistry, key: string): Promise<void> {
    await this.session.remove(joinPath(ledgerDir(this.layout, registry), ledgerNodeName(key)));
    this.mine.delete(`${registry}|${key}`);
    this.stored.get(registry)?.delete(key);
  }

  ownedBy(owner: string, registry: LedgerRegistry): LedgerEntry[] {
    const result = new Map<string, LedgerEntry>();
    for (const [key, stored] of this.stored.get(registry) ?? []) {
      if (stored.owner === owner) result.set(key, { registry, key, owner, writtenAt: stored.writtenAt });
    }
    if (owner === this.owner) for (const entry of this.mine.values()) if (entry.registry === registry) result.set(entry.key, entry);
    return [...result.values()];
  }

  /** Every entry of a registry, any owner (for the leader's clean-up of bridges that went away). */
  entries(registry: LedgerRegistry): LedgerEntry[] {
    return [...(this.stored.get(registry) ?? [])].map(([key, stored]) => ({ registry, key, owner: stored.owner, writtenAt: stored.writtenAt }));
  }

  get size(): number {
    let count = 0;
    for (const map of this.stored.values()) count += map.size;
    return count;
  }

  private onChildren(registry: LedgerRegistry, names: string[]): void {
    const map = this.stored.get(registry) as Map<string, StoredEntry>;
    const seen = new Set<string>();
    for (const name of names) {
      const key = ledgerKeyOf(name);
      if (key === null) continue;
      seen.add(key);
      const known = map.get(key);
      if (known === undefined) map.set(key, { owner: '', writtenAt: 0 });
      // Owned from this moment; who owns it is read next (again, when an earlier read failed).
      if (known === undefined || known.owner === '') this.loadOwner(registry, key, joinPath(ledgerDir(this.layout, registry), name));
    }
    for (const key of [...map.keys()]) if (!seen.has(key)) map.delete(key);
  }

  private loadOwner(registry: LedgerRegistry, key: string, path: string): void {
    const loadingKey = `${registry}|${key}`;
    if (this.loading.has(loadingKey)) return;
    this.loading.add(loadingKey);
    const load = this.session
      .getData(path)
      .then((found) => {
        const map = this.stored.get(registry) as Map<string, StoredEntry>;
        if (found !== null && map.has(key)) map.set(key, parseStored(found.data));
      })
      .catch((err: unknown) => {
        // The key stays owned; its owner is read again when the ledger is next listed.
        this.logger.debug({ err, path }, 'could not read a ledger entry yet');
      })
      .finally(() => {
        this.loads.delete(load);
        this.loading.delete(loadingKey);
      });
    this.loads.add(load);
  }
}
