// Work gathered during one event-loop turn and done once at its end (setImmediate): writes from
// many requests leave a socket in one system call instead of one each.

export class EndOfTurn<T> {
  private readonly items = new Set<T>();
  private scheduled = false;

  constructor(private readonly each: (item: T) => void) {}

  add(item: T): void {
    this.items.add(item);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  has(item: T): boolean {
    return this.items.has(item);
  }

  delete(item: T): void {
    this.items.delete(item);
  }

  /** Does the gathered work now (also what the scheduled turn end does). */
  readonly run = (): void => {
    this.scheduled = false;
    for (const item of this.items) this.each(item);
    this.items.clear();
  };
}
