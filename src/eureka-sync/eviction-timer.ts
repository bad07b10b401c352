// The one timer of the embedded Eureka server: runs eviction (and delta-queue pruning) every
// interval. The registry itself has no clock; this is the edge that gives it one.

export class EvictionTimer {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly tick: () => void,
    private readonly intervalMs: number,
  ) {}

  get running(): boolean {
    return this.timer !== undefined;
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(this.tick, this.intervalMs);
    // Eviction alone must never keep a process alive.
    this.timer.unref();
  }

  stop(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
