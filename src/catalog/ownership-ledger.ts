// The ownership ledger: what the bridges wrote into each registry. A registry may strip our tags
// from what we wrote, so "is this ours?" is answered from the ledger, never from the entry itself.
// The ZooKeeper-backed ledger (shared by every bridge) lives in zookeeper-sync; this is its
// interface and an in-memory version for a single process.

/** Which registry an entry was written to. */
export type LedgerRegistry = 'zookeeper' | 'eureka';

export interface LedgerEntry {
  registry: LedgerRegistry;
  /** The written thing's identity in that registry: a znode path, or `APP/instanceId` in Eureka. */
  key: string;
  /** The bridge that wrote it. */
  owner: string;
  writtenAt: number;
}

export interface OwnershipLedger {
  /** True when any bridge recorded writing this entry: a reader must skip it. Synchronous: readers ask per entry. */
  isOwned(registry: LedgerRegistry, key: string): boolean;
  /** Records a write before it is made, so a crash between the two leaves nothing unowned. */
  record(registry: LedgerRegistry, key: string): Promise<void>;
  /** Forgets an entry once it is removed from the registry. */
  release(registry: LedgerRegistry, key: string): Promise<void>;
  /** Entries this bridge wrote, e.g. to remove after a restart what is no longer true. */
  ownedBy(owner: string, registry: LedgerRegistry): LedgerEntry[];
}

export class MemoryOwnershipLedger implements OwnershipLedger {
  private readonly entries = new Map<string, LedgerEntry>();

  constructor(
    readonly owner: string,
    private readonly now: () => number = Date.now,
  ) {}

  isOwned(registry: LedgerRegistry, key: string): boolean {
    return this.entries.has(`${registry}|${key}`);
  }

  async record(registry: LedgerRegistry, key: string): Promise<void> {
    this.entries.set(`${registry}|${key}`, { registry, key, owner: this.owner, writtenAt: this.now() });
  }

  async release(registry: LedgerRegistry, key: string): Promise<void> {
    this.entries.delete(`${registry}|${key}`);
  }

  ownedBy(owner: string, registry: LedgerRegistry): LedgerEntry[] {
    return [...this.entries.values()].filter((e) => e.owner === owner && e.registry === registry);
  }
}
