// Requests, errors and latency percentiles over a sliding window: the numbers the cutover planner
// gates on. Pure: the caller passes `now`. Latencies go into log-scaled buckets (4 per doubling,
// so a percentile is within about 19% of the true value), which keeps recording O(1) and the
// memory fixed whatever the traffic.

const SUB_BUCKETS = 4;
/** Buckets cover 1 us .. 2^34 us (about 4.8 hours). */
const LATENCY_BUCKETS = 34 * SUB_BUCKETS + 1;

function latencyBucket(micros: number): number {
  if (micros < 1) return 0;
  const index = Math.floor(Math.log2(micros) * SUB_BUCKETS) + 1;
  return index < LATENCY_BUCKETS ? index : LATENCY_BUCKETS - 1;
}

/** Upper bound in microseconds of a bucket. */
function bucketUpperMicros(index: number): number {
  return index === 0 ? 1 : Math.pow(2, index / SUB_BUCKETS);
}

class Slot {
  start = -1;
  requests = 0;
  errors = 0;
  readonly latency = new Uint32Array(LATENCY_BUCKETS);

  reset(start: number): void {
    this.start = start;
    this.requests = 0;
    this.errors = 0;
    this.latency.fill(0);
  }
}

export interface WindowSummary {
  windowMs: number;
  requests: number;
  errors: number;
  /** errors / requests, 0 when there were none. */
  errorRate: number;
  /** Per second over the window. */
  rate: number;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
}

export class SlidingWindow {
  private readonly slots: Slot[];
  private readonly slotMs: number;

  constructor(
    readonly windowMs = 60_000,
    slotCount = 12,
  ) {
    this.slotMs = Math.ceil(windowMs / slotCount);
    this.slots = Array.from({ length: slotCount }, () => new Slot());
  }

  private slotAt(now: number): Slot {
    const start = now - (now % this.slotMs);
    const slot = this.slots[Math.floor(now / this.slotMs) % this.slots.length];
    if (slot.start !== start) slot.reset(start);
    return slot;
  }

  record(now: number, latencyMicros: number, error: boolean): void {
    const slot = this.slotAt(now);
    slot.requests++;
    if (error) slot.errors++;
    slot.latency[latencyBucket(latencyMicros)]++;
  }

  summary(now: number): WindowSummary {
    const oldest = now - this.windowMs;
    let requests = 0;
    let errors = 0;
    const latency = new Float64Array(LATENCY_BUCKETS);
    for (const slot of this.slots) {
      // Slot-granular: the current slot and those that started within the window.
      if (slot.start < 0 || slot.start <= oldest || slot.start > now) continue;
      requests += slot.requests;
      errors += slot.errors;
      for (let i = 0; i < LATENCY_BUCKETS; i++) latency[i] += slot.latency[i];
    }
    const percentile = (q: number): number | null => {
      if (requests === 0) return null;
      const rank = Math.ceil(q * requests);
      let seen = 0;
      for (let i = 0; i < LATENCY_BUCKETS; i++) {
        seen += latency[i];
        if (seen >= rank) return Math.round(bucketUpperMicros(i)) / 1000;
      }
      return null;
    };
    return {
      windowMs: this.windowMs,
      requests,
      errors,
      errorRate: requests === 0 ? 0 : errors / requests,
      rate: requests / (this.windowMs / 1000),
      p50Ms: percentile(0.5),
      p90Ms: percentile(0.9),
      p99Ms: percentile(0.99),
    };
  }
}
