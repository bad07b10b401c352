// Requests in flight per instance address, kept by a listener as it sends and settles requests:
// what the least-pending choice within a stack reads.

export class PendingCounts {
  private readonly counts = new Map<string, number>();

  /** Requests in flight to an address; a function, so it can be handed to ServiceRoutes as is. */
  readonly of = (address: string): number => this.counts.get(address) ?? 0;

  add(address: string): void {
    this.counts.set(address, (this.counts.get(address) ?? 0) + 1);
  }

  release(address: string): void {
    const count = (this.counts.get(address) ?? 1) - 1;
    if (count <= 0) this.counts.delete(address);
    else this.counts.set(address, count);
  }
}
