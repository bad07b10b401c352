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

  /** The value for `key`, created by `make` when absent; either way it becomes the most recent. */
  getOrCreate(key: K, make: () => V): V {
    const found = this.map.get(key);
    if (found !== undefined) {
      this.map.delete(key);
      this.map.set(key, found);
      return found;
    }
    const value = make();
    this.map.set(key, value);
    if (this.map.size > this.max) {
      this.map.delete(this.map.keys().next().value as K);
      this.evictions++;
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
