// The two-way calls in flight on one consumer connection (for its cap, and to settle them when it
// closes), as an intrusive list: adding and removing a call sets a few fields of the call itself,
// with no hash table that grows, shrinks and rehashes as calls come and go once per call each.

export interface InFlightLinks<T> {
  previousInFlight: T | null;
  nextInFlight: T | null;
  /** The list holding it, or null. */
  inFlightList: object | null;
}

export class CallsInFlight<T extends InFlightLinks<T>> {
  private head: T | null = null;
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(call: T): void {
    if (call.inFlightList !== null) return;
    call.inFlightList = this;
    call.previousInFlight = null;
    call.nextInFlight = this.head;
    if (this.head !== null) this.head.previousInFlight = call;
    this.head = call;
    this.count++;
  }

  /** Removes `call` when it is here; true when it was. */
  delete(call: T): boolean {
    if (call.inFlightList !== this) return false;
    const { previousInFlight: previous, nextInFlight: next } = call;
    if (previous === null) this.head = next;
    else previous.nextInFlight = next;
    if (next !== null) next.previousInFlight = previous;
    call.previousInFlight = null;
    call.nextInFlight = null;
    call.inFlightList = null;
    this.count--;
    return true;
  }

  /** Removes every call; returns them, oldest first. */
  clear(): T[] {
    const all: T[] = [];
    while (this.head !== null) {
      const call = this.head;
      all.push(call);
      this.delete(call);
    }
    return all.reverse();
  }
}
