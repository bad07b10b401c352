// A periodic sweep of deadlines that judges peers only after reading what they already sent.
// Timers run before the event loop's poll phase delivers the bytes waiting in the kernel: after the
// loop was held up (a long garbage collection, a slow synchronous task), a sweep run straight from
// its timer saw an answer, a heartbeat's answer or a consumer's request that had arrived as
// missing, and failed a healthy peer. So the timer only reads the clock, and the sweep runs after
// the poll phase (setImmediate), with that clock: whatever was read in between counts.

export class SweepAfterReads {
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  /** Monotonic ms read by the last tick of the timer. */
  private now = 0;

  /**
   * @param sweep the deadlines' work, given the clock its tick read
   * @param onTick called on the timer with the clock it read, before the pending reads (to stamp
   *   them with a fresh coarse clock)
   */
  constructor(
    private readonly intervalMs: number,
    private readonly sweep: (now: number) => void,
    private readonly onTick?: (now: number) => void,
  ) {}

  get running(): boolean {
    return this.timer !== null;
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(this.tick, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
  }

  private readonly tick = (): void => {
    this.now = performance.now();
    this.onTick?.(this.now);
    this.immediate ??= setImmediate(this.run);
  };

  private readonly run = (): void => {
    this.immediate = null;
    this.sweep(this.now);
  };
}
