// Synthetic canary windows from a seeded generator, so the judge's error rates can be measured
// (bench/judge.ts) and its tests are repeatable. Not used on any live path.
import type { ServiceWindow } from './judge';
import { normalQuantile } from './special-functions';

/** mulberry32: a small seeded 32-bit generator, plenty for simulated canaries (not for secrets). */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform on [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Standard normal (Box-Muller; one value per call, the pair's second is dropped for simplicity). */
  normal(): number {
    let u = this.next();
    while (u === 0) u = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** Binomial(n, p) by geometric skips: O(n p) work, exact. */
  binomial(n: number, p: number): number {
    if (p <= 0 || n <= 0) return 0;
    if (p >= 1) return n;
    if (p > 0.5) return n - this.binomial(n, 1 - p);
    const logQ = Math.log1p(-p);
    let successes = 0;
    let position = 0;
    for (;;) {
      let u = this.next();
      while (u === 0) u = this.next();
      position += Math.floor(Math.log(u) / logQ) + 1;
      if (position > n) return successes;
      successes++;
    }
  }
}

/** One stack's behaviour in a simulated window. */
export interface StackModel {
  /** Application exception rate per call. */
  applicationRate: number;
  /** Transport failure rate per call (counted as `reset`). */
  transportRate: number;
  /** Median latency of ok calls, µs, and σ of ln(latency). */
  medianMicros: number;
  logSpread: number;
  /** Only the slowest calls slow down: those above this quantile take `factor` times as long. */
  tail?: { aboveQuantile: number; factor: number };
}

export const LEGACY_MODEL: StackModel = { applicationRate: 0.001, transportRate: 0.001, medianMicros: 2000, logSpread: 0.6 };

/**
 * A one-method window of `calls` calls with mesh share `share` (mesh calls fixed at the share,
 * as a weighted router delivers it over many calls), errors and latencies drawn from the models.
 * Latency samples are kept for every ok call, up to `maxSamples` per stack.
 */
export function simulateWindow(
  random: SeededRandom,
  calls: number,
  share: number,
  mesh: StackModel,
  legacy: StackModel,
  options: { from?: number; durationMs?: number; maxSamples?: number; service?: string } = {},
): ServiceWindow {
  const meshCalls = Math.round(calls * share);
  const from = options.from ?? 0;
  const stack = (model: StackModel, n: number) => {
    const application = random.binomial(n, model.applicationRate);
    const transport = random.binomial(n - application, model.transportRate);
    const ok = n - application - transport;
    const samples = new Float64Array(Math.min(ok, options.maxSamples ?? Infinity));
    const logMedian = Math.log(model.medianMicros);
    const tailZ = model.tail ? normalQuantile(model.tail.aboveQuantile) : Infinity;
    const tailLog = model.tail ? Math.log(model.tail.factor) : 0;
    for (let i = 0; i < samples.length; i++) {
      const z = random.normal();
      samples[i] = Math.exp(logMedian + model.logSpread * z + (z > tailZ ? tailLog : 0));
    }
    return { outcomes: { ok, application_exception: application, reset: transport }, latencyMicros: samples };
  };
  return {
    service: options.service ?? 'com.example.Simulated',
    from,
    to: from + (options.durationMs ?? 60_000),
    weight: share,
    methods: [{ method: 'call', mesh: stack(mesh, meshCalls), legacy: stack(legacy, calls - meshCalls) }],
  };
}
