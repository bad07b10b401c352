// A map with a size bound for caches keyed by what callers choose (service, version and group names
// from requests): past the bound the least recently used entry goes. Recency is kept the CLOCK way
// (a bit set on each hit, cleared as eviction sweeps past), so a hit on the hot path writes one
// boolean instead of reordering the map.

interface Entry<V> {
  value: V;
  used: boolean;
}

export class BoundedCache<K, V> {
  private readonly entries = new Map<K, Entry<V>>();
  /** Entries evicted since creation, for a metric. */
  evictions = 0;

  constructor(readonly maxEntries: number) {
    if (!(maxEntries >= 1)) throw new RangeError(`maxEntries must be at least 1, got ${maxEntries}`);
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (!entry.used) entry.used = true;
    return entry.value;
  }

  set(key: K, value: V): void {
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      entry.value = value;
      entry.used = true;
      return;
    }
    if (this.entries.size >= this.maxEntries) this.evictOne();
    this.entries.set(key, { value, used: false });
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  values(): IterableIterator<V> {
    const inner = this.entries.values();
    return (function* () {
      for (const entry of inner) yield entry.value;
    })();
  }

  /** Sweeps from the oldest: a used entry gets a second chance (moved to the end, bit cleared), an unused one goes. */
  private evictOne(): void {
    for (const [key, entry] of this.entries) {
      this.entries.delete(key);
      if (entry.used) {
        entry.used = false;
        this.entries.set(key, entry);
        continue;
      }
      this.evictions++;
      return;
    }
  }
}
