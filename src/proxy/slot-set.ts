// A set of objects that carry their own position in it: add and delete are an array write, with
// no hash table. For sets that churn on every request (the calls in flight): a JavaScript Set that
// churns rehashes into a new table every few dozen changes, and V8 links each obsolete table to its
// successor. One obsolete table that reached the old generation then keeps every later table, and
// every request they pointed at, alive through each scavenge until the next full collection (the
// HTTP listener kept about 45 KB per caller connection alive that way, 1.4 MB per scavenge).

/** An object that can be in one SlotSet at a time: `slot` is its index there, -1 when in none. */
export interface Slotted {
  slot: number;
}

export class SlotSet<T extends Slotted> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  has(item: T): boolean {
    return item.slot >= 0 && this.items[item.slot] === item;
  }

  /** Adds an item that is in no set (its slot is -1); adding a member again does nothing. */
  add(item: T): void {
    if (this.has(item)) return;
    item.slot = this.items.length;
    this.items.push(item);
  }

  /** True when the item was a member. The last member takes its place. */
  delete(item: T): boolean {
    if (!this.has(item)) return false;
    const items = this.items;
    const last = items.pop() as T;
    if (last !== item) {
      items[item.slot] = last;
      last.slot = item.slot;
    }
    item.slot = -1;
    return true;
  }

  /** The members now, as an array of their own: the set may change while it is read. */
  snapshot(): T[] {
    return this.items.slice();
  }
}
