// A sliding window of call counts in fixed buckets (Sentinel's leap array): recording and reading
// are O(buckets) at worst and allocate nothing after construction. Breakers and self-healing read
// totals, errors and slow calls over the last `windowMs`. Pure: `now` is passed in.

export interface WindowTotals {
  calls: number;
  errors: number;
  slow: number;
}

export class BucketedWindow {
  private readonly starts: Float64Array;
  private readonly calls: Float64Array;
  private readonly errors: Float64Array;
  private readonly slow: Float64Array;
  private readonly bucketMs: number;

  constructor(
    readonly windowMs: number,
    readonly buckets = 10,
  ) {
    if (!(windowMs > 0) || !(buckets >= 1)) throw new RangeError(`window ${windowMs} ms in ${buckets} buckets`);
    this.bucketMs = windowMs / buckets;
    this.starts = new Float64Array(buckets).fill(-Infinity);
    this.calls = new Float64Array(buckets);
    this.errors = new Float64Array(buckets);
    this.slow = new Float64Array(buckets);
  }

  record(now: number, error: boolean, slow: boolean): void {
    const start = Math.floor(now / this.bucketMs) * this.bucketMs;
    const i = Math.floor(now / this.bucketMs) % this.buckets;
    if (this.starts[i] !== start) {
      this.starts[i] = start;
      this.calls[i] = 0;
      this.errors[i] = 0;
      this.slow[i] = 0;
    }
    this.calls[i]++;
    if (error) this.errors[i]++;
    if (slow) this.slow[i]++;
  }

  totals(now: number): WindowTotals {
    const oldest = now - this.windowMs;
    let calls = 0;
    let errors = 0;
    let slow = 0;
    for (let i = 0; i < this.buckets; i++) {
      if (this.starts[i] <= oldest || this.starts[i] > now) continue;
      calls += this.calls[i];
      errors += this.errors[i];
      slow += this.slow[i];
    }
    return { calls, errors, slow };
  }

  reset(): void {
    this.starts.fill(-Infinity);
  }
}
