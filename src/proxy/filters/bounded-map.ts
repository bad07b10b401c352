// A Map that keeps at most `max` entries, dropping the least recently used: state keyed by names a
// caller chooses (hot parameters, methods) must never grow without bound.

export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();
  /** Entries dropped to stay within the bound. */
  evictions = 0;

  constructor(readonly max: number) {}

  get size(): number {
    return this.map.size;
  }

  /** The most recently used entry: used again (the common case on a hot path), it needs no reordering. */
  private lastKey: K | undefined;
  private lastValue: V | undefined;

  /** The value for `key`, created by `make` when absent; either way it becomes the most recent. */
  getOrCreate(key: K, make: () => V): V {
    return this.touch(key) ?? this.add(key, make());
  }

  /** The value for `key`, made the most recent; undefined when absent. */
  touch(key: K): V | undefined {
    if (key === this.lastKey && this.lastValue !== undefined) return this.lastValue;
    const found = this.map.get(key);
    if (found === undefined) return undefined;
    this.map.delete(key);
    this.map.set(key, found);
    this.lastKey = key;
    this.lastValue = found;
    return found;
  }

  /** Adds an entry absent so far as the most recent, dropping the least recent past the bound. */
  add(key: K, value: V): V {
    this.map.set(key, value);
    this.lastKey = key;
    this.lastValue = value;
    if (this.map.size > this.max) {
      const oldest = this.map.keys().next().value as K;
      this.map.delete(oldest);
      this.evictions++;
      if (oldest === key) this.lastValue = undefined;
    }
    return value;
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }
}
