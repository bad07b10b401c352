// The requests in flight on one upstream connection, by the id the connection gave each. The
// connection chooses its ids, so it chooses them to fall on free slots of a power-of-two table:
// finding, adding and removing a request is an array access, with no hash table that grows,
// shrinks and rehashes as calls come and go (once per call each, on the data path).

/** Ids are positive 31-bit integers (the low half of Dubbo's 64-bit id; the high half is 0). */
export const ID_LIMIT = 0x7fffffff;
const INITIAL_SLOTS = 64;

export class UpstreamIds<T> {
  private items: Array<T | undefined> = new Array<T | undefined>(INITIAL_SLOTS).fill(undefined);
  private ids = new Int32Array(INITIAL_SLOTS);
  private mask = INITIAL_SLOTS - 1;
  private nextId = 1;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** A fresh id for `item`, kept until taken or deleted. */
  add(item: T): number {
    // Kept at most half full, so a free slot is never far from the next id.
    if (2 * (this.count + 1) > this.items.length) this.grow();
    let id = this.allocate();
    while (this.items[id & this.mask] !== undefined) id = this.allocate();
    const slot = id & this.mask;
    this.items[slot] = item;
    this.ids[slot] = id;
    this.count++;
    return id;
  }

  /** An id for a message that expects no tracked answer (a heartbeat); never one in use. */
  allocate(): number {
    const id = this.nextId;
    this.nextId = id >= ID_LIMIT ? 1 : id + 1;
    return id;
  }

  get(id: number): T | undefined {
    const slot = id & this.mask;
    return this.ids[slot] === id ? this.items[slot] : undefined;
  }

  /** Removes and returns the item of `id`, if it is still here. */
  take(id: number): T | undefined {
    const slot = id & this.mask;
    const item = this.items[slot];
    if (item === undefined || this.ids[slot] !== id) return undefined;
    this.items[slot] = undefined;
    this.ids[slot] = 0;
    this.count--;
    return item;
  }

  delete(id: number): boolean {
    return this.take(id) !== undefined;
  }

  /** Calls `visit` with each id and item; `visit` may take or delete any of them (one added meanwhile may be missed). */
  forEach(visit: (item: T, id: number) => void): void {
    for (let slot = 0; slot < this.items.length && this.count > 0; slot++) {
      const item = this.items[slot];
      if (item !== undefined) visit(item, this.ids[slot]);
    }
  }

  /** Removes every item; returns them. */
  clear(): T[] {
    const all: T[] = [];
    for (const item of this.items) if (item !== undefined) all.push(item);
    this.items.fill(undefined);
    this.ids.fill(0);
    this.count = 0;
    return all;
  }

  /** Doubles the table. Ids on distinct slots stay on distinct slots: a longer mask keeps the bits that differed. */
  private grow(): void {
    const size = 2 * this.items.length;
    const items = new Array<T | undefined>(size).fill(undefined);
    const ids = new Int32Array(size);
    const mask = size - 1;
    for (let slot = 0; slot < this.items.length; slot++) {
      const item = this.items[slot];
      if (item === undefined) continue;
      const id = this.ids[slot];
      items[id & mask] = item;
      ids[id & mask] = id;
    }
    this.items = items;
    this.ids = ids;
    this.mask = mask;
  }
}
