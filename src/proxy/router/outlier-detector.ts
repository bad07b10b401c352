// Passive outlier ejection, with the defaults Envoy documents: an instance that keeps failing to
// carry calls is left out of routing for a while, so a provider that died but is still registered
// (ZooKeeper keeps it for a whole session timeout) does not fail one call in N until then.
// Two detectors: consecutive gateway failures (inline), and success rate versus the rest of its set
// (once per interval). Only failures blamed on the instance count (failure-class.ts): a caller that
// hangs up or an application exception never ejects anyone. Pure: the caller passes `now`.
import { Outcome, isGatewayFailure } from '../failure-class';

export interface SuccessRateOptions {
  /** Hosts in a set with enough requests before the set is analysed at all. */
  minimumHosts: number;
  /** Requests an instance needs in one interval to be judged. */
  requestVolume: number;
  /** Ejected below mean - stdevFactor x stdev of the set's success rates. */
  stdevFactor: number;
}

export interface OutlierOptions {
  /** Consecutive gateway failures (connect failure or timeout, reset, overloaded) that eject an instance. */
  consecutiveGatewayFailures: number;
  /** An ejection lasts baseEjectionMs x the number of times the instance was ejected, up to maxEjectionMs. */
  baseEjectionMs: number;
  maxEjectionMs: number;
  /** Analysis interval; each interval an instance stays healthy takes one off its ejection multiplier. */
  intervalMs: number;
  /** At most this share of a set is routed around at once (but always at least one instance may be). */
  maxEjectedPercent: number;
  /** Below this share of routable instances in a set, the set is in panic and every instance is used. */
  panicThresholdPercent: number;
  /** Success rate versus the set; null turns it off. */
  successRate: SuccessRateOptions | null;
  /** Count application exceptions in the success-rate mode (never in the consecutive streak). */
  countApplicationErrors: boolean;
}

/** The instances an instance is compared with in the success-rate mode: one service's one stack. */
export function outlierSet(service: string, stack: string): string {
  return `${service}|${stack}`;
}

export const DEFAULT_OUTLIER_OPTIONS: OutlierOptions = {
  consecutiveGatewayFailures: 5,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  intervalMs: 10_000,
  maxEjectedPercent: 10,
  panicThresholdPercent: 50,
  successRate: { minimumHosts: 5, requestVolume: 100, stdevFactor: 1.9 },
  countApplicationErrors: false,
};

interface InstanceHealth {
  streak: number;
  /** The upstream connection whose failure was counted last: one lost connection is one event. */
  lastFailedConnection: unknown;
  /** Times ejected, less one per healthy interval since the last ejection ended. */
  ejections: number;
  ejectedUntil: number;
}

interface IntervalCounts {
  requests: number;
  failures: number;
}

export interface EjectedInstance {
  address: string;
  until: number;
  ejections: number;
}

export class OutlierDetector {
  private readonly health = new Map<string, InstanceHealth>();
  /** Per set (service|stack), per address: this interval's requests and failures. */
  private readonly intervals = new Map<string, Map<string, IntervalCounts>>();
  private options: OutlierOptions;
  private nextAnalysis = 0;
  /** Bumped whenever an instance is ejected. */
  revision = 0;
  /** When the last ejection ends: past it, nothing is ejected and filtering costs one comparison. */
  private lastEjectionEnd = 0;

  constructor(options: Partial<OutlierOptions> = {}) {
    this.options = { ...DEFAULT_OUTLIER_OPTIONS, ...options };
  }

  get settings(): Readonly<OutlierOptions> {
    return this.options;
  }

  /** New options (a config reload): ejections under way keep their end; later ones follow the new rules. */
  reconfigure(options: Partial<OutlierOptions>): void {
    this.options = { ...DEFAULT_OUTLIER_OPTIONS, ...options };
  }

  /**
   * How a call to this instance ended; `set` names the instances it is compared with (service and
   * stack) for the success-rate mode; `connection` is the upstream connection the call was on, so
   * that every call in flight on one lost connection counts as one failure, not many. Outcomes that
   * are not the instance's fault never count. Returns true when this report ejected the instance.
   */
  report(address: string, outcome: Outcome, now: number, set?: string, connection?: object): boolean {
    let ejected = false;
    if (set !== undefined && this.options.successRate !== null) {
      if (now >= this.nextAnalysis) ejected = this.analyse(now, address);
      if (outcome !== 'caller_gone' && outcome !== 'bridge_refusal') this.count(set, address, outcome);
    }
    if (outcome === 'ok') this.success(address);
    else if (isGatewayFailure(outcome)) ejected = this.failure(address, now, connection) || ejected;
    return ejected;
  }

  /** A request on this instance succeeded: its failure streak ends. */
  success(address: string): void {
    const health = this.health.get(address);
    if (health !== undefined && health.streak !== 0) health.streak = 0;
  }

  /** A gateway failure of this instance. Returns true when it ejected the instance. */
  failure(address: string, now: number, connection?: object): boolean {
    const health = this.healthOf(address);
    if (health.ejectedUntil > now) return false;
    if (connection !== undefined && health.streak > 0 && health.lastFailedConnection === connection) return false;
    health.lastFailedConnection = connection;
    health.streak++;
    if (health.streak < this.options.consecutiveGatewayFailures) return false;
    this.eject(health, now);
    return true;
  }

  isEjected(address: string, now: number): boolean {
    const health = this.health.get(address);
    return health !== undefined && health.ejectedUntil > now;
  }

  /**
   * The candidates to route to. Ejected instances are left out, but at most maxEjectedPercent of
   * the set (at least one), those back soonest returning first; and when fewer than the panic
   * threshold would remain, the whole set is used, as a set of failing instances beats none.
   */
  filter<T extends { address: string }>(candidates: readonly T[], now?: number): readonly T[] {
    // Before any ejection no clock is read: this runs for every proxied request.
    if (this.lastEjectionEnd === 0) return candidates;
    now ??= Date.now();
    if (now >= this.lastEjectionEnd) return candidates;
    let ejected = 0;
    for (const c of candidates) if (this.isEjected(c.address, now)) ejected++;
    if (ejected === 0) return candidates;
    const n = candidates.length;
    const maxEjected = Math.min(Math.max(1, Math.floor((n * this.options.maxEjectedPercent) / 100)), ejected);
    if ((n - maxEjected) * 100 < n * this.options.panicThresholdPercent) return candidates;
    if (ejected <= maxEjected) return candidates.filter((c) => !this.isEjected(c.address, now));
    const byReturn = candidates
      .filter((c) => this.isEjected(c.address, now))
      .sort((a, b) => (this.health.get(b.address)?.ejectedUntil ?? 0) - (this.health.get(a.address)?.ejectedUntil ?? 0));
    const leftOut = new Set(byReturn.slice(0, maxEjected).map((c) => c.address));
    return candidates.filter((c) => !leftOut.has(c.address));
  }

  /** Ejected instances, for the admin API. */
  ejected(now: number): EjectedInstance[] {
    const out: EjectedInstance[] = [];
    for (const [address, health] of this.health) if (health.ejectedUntil > now) out.push({ address, until: health.ejectedUntil, ejections: health.ejections });
    return out;
  }

  /** Forgets instances that left the catalog, so the map does not grow with churn. */
  forget(address: string): void {
    this.health.delete(address);
    for (const counts of this.intervals.values()) counts.delete(address);
  }

  private healthOf(address: string): InstanceHealth {
    let health = this.health.get(address);
    if (health === undefined) this.health.set(address, (health = { streak: 0, lastFailedConnection: undefined, ejections: 0, ejectedUntil: 0 }));
    return health;
  }

  private eject(health: InstanceHealth, now: number): void {
    // Envoy's decay: each interval spent healthy since the last ejection ended forgives one ejection.
    if (health.ejections > 0 && health.ejectedUntil > 0) {
      const healthyIntervals = Math.floor(Math.max(0, now - health.ejectedUntil) / this.options.intervalMs);
      health.ejections = Math.max(0, health.ejections - healthyIntervals);
    }
    health.ejections++;
    health.streak = 0;
    health.ejectedUntil = now + Math.min(this.options.baseEjectionMs * health.ejections, this.options.maxEjectionMs);
    if (health.ejectedUntil > this.lastEjectionEnd) this.lastEjectionEnd = health.ejectedUntil;
    this.revision++;
  }

  private count(set: string, address: string, outcome: Outcome): void {
    let counts = this.intervals.get(set);
    if (counts === undefined) this.intervals.set(set, (counts = new Map()));
    let c = counts.get(address);
    if (c === undefined) counts.set(address, (c = { requests: 0, failures: 0 }));
    c.requests++;
    const fails = isGatewayFailure(outcome) || outcome === 'response_timeout' || (outcome === 'application_exception' && this.options.countApplicationErrors);
    if (fails) c.failures++;
  }

  /** Success rate versus the set, once per interval. Returns true when `reporting` was ejected. */
  private analyse(now: number, reporting: string): boolean {
    const first = this.nextAnalysis === 0;
    this.nextAnalysis = now + this.options.intervalMs;
    const rule = this.options.successRate;
    if (first || rule === null) {
      this.intervals.clear();
      return false;
    }
    let ejectedReporting = false;
    for (const counts of this.intervals.values()) {
      const rates: Array<[string, number]> = [];
      for (const [address, c] of counts) if (c.requests >= rule.requestVolume) rates.push([address, 1 - c.failures / c.requests]);
      if (rates.length < rule.minimumHosts) continue;
      const mean = rates.reduce((s, [, r]) => s + r, 0) / rates.length;
      const stdev = Math.sqrt(rates.reduce((s, [, r]) => s + (r - mean) ** 2, 0) / rates.length);
      const floor = mean - rule.stdevFactor * stdev;
      for (const [address, rate] of rates) {
        if (rate >= floor) continue;
        const health = this.healthOf(address);
        if (health.ejectedUntil > now) continue;
        this.eject(health, now);
        if (address === reporting) ejectedReporting = true;
      }
    }
    this.intervals.clear();
    return ejectedReporting;
  }
}
