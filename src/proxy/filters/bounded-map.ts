// A Map that keeps at most `max` entries, dropping the least recently used: state keyed by names a
// caller chooses (hot parameters, methods) must never grow without bound. An owner may mark entries
// worth keeping (an open breaker): past the bound, the least recent entry not marked goes first, so
// calls under names nobody cares about cannot push out the state that protects a service.

/** Entries looked at, from the least recent, for one not to keep before the least recent goes anyway. */
const EVICTION_SCAN = 32;

export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();
  /**
   * The key touched or added last: the most recent already, so touching it again moves nothing. A
   * move is a Map delete and set (a hole and, now and then, a rehash), and a hot path touches the
   * same key over and over (one bucket or breaker per rule under steady traffic).
   */
  private newest: K | undefined;
  /** Entries dropped to stay within the bound. */
  evictions = 0;

  constructor(
    readonly max: number,
    /** True for a value that should outlive others past the bound. */
    private readonly keep?: (value: V) => boolean,
  ) {}

  get size(): number {
    return this.map.size;
  }

  /** The value for `key`, made the most recent; undefined when absent (then `add` it). */
  touch(key: K): V | undefined {
    const found = this.map.get(key);
    if (found !== undefined && key !== this.newest) {
      this.map.delete(key);
      this.map.set(key, found);
      this.newest = key;
    }
    return found;
  }

  /** Adds a value for a key `touch` did not find, dropping one entry past the bound. */
  add(key: K, value: V): V {
    this.map.set(key, value);
    this.newest = key;
    if (this.map.size > this.max) this.evictOne();
    return value;
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }

  private evictOne(): void {
    let victim: K | undefined;
    let scanned = 0;
    for (const [key, value] of this.map) {
      victim ??= key;
      if (this.keep === undefined || !this.keep(value)) {
        victim = key;
        break;
      }
      if (++scanned >= EVICTION_SCAN) break;
    }
    this.map.delete(victim as K);
    this.evictions++;
  }
}
