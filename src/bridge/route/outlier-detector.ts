// Passive outlier ejection: an instance whose connections keep failing is left out of routing for
// a while, as Envoy's outlier detection does, so a provider that died but is still registered
// (ZooKeeper keeps it for a whole session timeout) does not fail one call in N until then.
// Pure: the caller reports outcomes and passes `now`.

import { Outcome, isGatewayFailure } from '../../proxy/failure-class';

export interface OutlierOptions {
  /** Consecutive failures that eject an instance. */
  consecutiveFailures: number;
  /** First ejection; each further ejection of the same instance doubles it, up to `maxEjectionMs`. */
  baseEjectionMs: number;
  maxEjectionMs: number;
  /** At most this share of a set's instances is ejected at once, so a set is never emptied by it. */
  maxEjectedShare: number;
}

export const DEFAULT_OUTLIER_OPTIONS: OutlierOptions = { consecutiveFailures: 3, baseEjectionMs: 5000, maxEjectionMs: 300_000, maxEjectedShare: 0.5 };

interface InstanceHealth {
  failures: number;
  ejections: number;
  ejectedUntil: number;
}

export class OutlierDetector {
  private readonly health = new Map<string, InstanceHealth>();
  private readonly options: OutlierOptions;
  /** Bumped whenever an instance is ejected. */
  revision = 0;
  /** When the last ejection ends: past it, nothing is ejected and filtering costs one comparison. */
  private lastEjectionEnd = 0;

  constructor(options: Partial<OutlierOptions> = {}) {
    this.options = { ...DEFAULT_OUTLIER_OPTIONS, ...options };
  }

  /**
   * How a call to this instance ended. The one entry point for the data path: outcomes that are not
   * the instance's fault (caller gone, application exceptions, bridge refusals) never count against
   * it. Returns true when this report ejected the instance.
   */
  report(address: string, outcome: Outcome, now: number): boolean {
    if (outcome === 'ok') {
      this.success(address);
      return false;
    }
    if (isGatewayFailure(outcome)) return this.failure(address, now);
    return false;
  }

  /** A request on this instance succeeded: its failure streak ends. */
  success(address: string): void {
    const health = this.health.get(address);
    if (health !== undefined && health.failures !== 0) health.failures = 0;
  }

  /** A connection to this instance failed. Returns true when this failure ejected it. */
  failure(address: string, now: number): boolean {
    let health = this.health.get(address);
    if (health === undefined) this.health.set(address, (health = { failures: 0, ejections: 0, ejectedUntil: 0 }));
    if (health.ejectedUntil > now) return false;
    health.failures++;
    if (health.failures < this.options.consecutiveFailures) return false;
    const duration = Math.min(this.options.baseEjectionMs * 2 ** health.ejections, this.options.maxEjectionMs);
    health.ejections++;
    health.failures = 0;
    health.ejectedUntil = now + duration;
    if (health.ejectedUntil > this.lastEjectionEnd) this.lastEjectionEnd = health.ejectedUntil;
    this.revision++;
    return true;
  }

  isEjected(address: string, now: number): boolean {
    const health = this.health.get(address);
    return health !== undefined && health.ejectedUntil > now;
  }

  /**
   * The candidates to route to: those not ejected, but never fewer than (1 - maxEjectedShare) of
   * the set; when too many are ejected, the ones whose ejection ends soonest come back first.
   */
  filter<T extends { address: string }>(candidates: readonly T[], now?: number): readonly T[] {
    // Before any ejection no clock is read: this runs for every proxied request.
    if (this.lastEjectionEnd === 0) return candidates;
    now ??= Date.now();
    if (now >= this.lastEjectionEnd) return candidates;
    let ejected = 0;
    for (const c of candidates) if (this.isEjected(c.address, now)) ejected++;
    if (ejected === 0) return candidates;
    const maxEjected = Math.floor(candidates.length * this.options.maxEjectedShare);
    if (ejected <= maxEjected) return candidates.filter((c) => !this.isEjected(c.address, now));
    const byReturn = candidates
      .filter((c) => this.isEjected(c.address, now))
      .sort((a, b) => (this.health.get(a.address)?.ejectedUntil ?? 0) - (this.health.get(b.address)?.ejectedUntil ?? 0));
    const keepEjected = new Set(byReturn.slice(ejected - maxEjected).map((c) => c.address));
    return candidates.filter((c) => !keepEjected.has(c.address));
  }

  /** Ejected instances, for the admin API. */
  ejected(now: number): Array<{ address: string; until: number; ejections: number }> {
    const out: Array<{ address: string; until: number; ejections: number }> = [];
    for (const [address, health] of this.health) if (health.ejectedUntil > now) out.push({ address, until: health.ejectedUntil, ejections: health.ejections });
    return out;
  }
}
