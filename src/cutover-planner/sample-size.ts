// How many calls a gate must see before "no regression found" means something: power analysis
// for the error test (exact, by the binomial test's unconditional power) and for the latency test
// (Noether's formula for Mann-Whitney, plus the margin the minimum effect size needs), and the
// hold time a method's call rate implies. The plan shows these; the judge holds a step until met.
import { binomialTestPower } from './binomial-test';
import { normalCdf, normalQuantile } from './special-functions';
import { lognormalExceedance } from './tail-test';

/** The error regression a gate must catch: the baseline rate and the regressed mesh rate. */
export interface ErrorDetection {
  baselineRate: number;
  detectRate: number;
}

/** The latency regression a gate must catch, and the smallest effect it may fail a step on. */
export interface LatencyDetection {
  /** A uniform slowdown factor to catch, e.g. 1.3 for +30 % at every percentile (p99 included). */
  detectSlowdown: number;
  /** Cliff's delta the observed mesh latencies must reach before a step can fail on latency. */
  minDelta: number;
  /** σ of ln(latency) assumed before the legacy stack's own samples are known. */
  assumedLogSpread: number;
  /** Fewest mesh samples the rank test judges on. */
  minSamples: number;
  /** The quantile the tail test counts above (0.99: the p99). */
  tailQuantile: number;
  /** The mesh's tailQuantile must be this much above the legacy one (0.1: +10 %) to fail a step. */
  minTailIncrease: number;
}

/** Cliff's delta a uniform slowdown by `factor` gives log-normal latencies of spread σ. */
export function lognormalSlowdownDelta(factor: number, logSpread: number): number {
  if (factor <= 1) return 0;
  if (logSpread <= 0) return 1;
  return 2 * normalCdf(Math.log(factor) / (logSpread * Math.SQRT2)) - 1;
}

const CACHE_LIMIT = 512;
const errorCallsCache = new Map<string, number>();

/** Calls bounded above, so that an unreachable target reads as "more than this" rather than looping. */
export const MAX_REQUIRED_CALLS = 1e10;

/**
 * The fewest calls (both stacks together) after which the one-sided binomial test at `alpha`
 * catches `detection` with probability `power`, at mesh share `share`. Infinity when the share
 * leaves no room (0 or 1) or the regression is no regression.
 */
export function errorTestCalls(share: number, detection: ErrorDetection, alpha: number, power: number): number {
  const { baselineRate, detectRate } = detection;
  if (!(share > 0 && share < 1) || !(detectRate > baselineRate) || !(baselineRate >= 0)) return Infinity;
  const key = `${share}:${baselineRate}:${detectRate}:${alpha}:${power}`;
  const cached = errorCallsCache.get(key);
  if (cached !== undefined) return cached;
  const regression = { share, baselineRate, regressedRate: detectRate };
  const enough = (calls: number): boolean => binomialTestPower(calls, regression, alpha) >= power;
  // Bracket the normal approximation's answer, then bisect. Power is all but monotone in calls
  // (the Poisson mixing smooths the binomial's saw-tooth), so this finds the first count that suffices.
  const guess = Math.max(1, normalApproximationCalls(share, baselineRate, detectRate, alpha, power));
  if (guess > MAX_REQUIRED_CALLS) return Infinity;
  let lo = Math.floor(guess / 2);
  let hi = Math.ceil(guess * 2);
  while (!enough(hi)) {
    lo = hi;
    hi *= 2;
    if (hi > MAX_REQUIRED_CALLS) return Infinity;
  }
  while (lo > 0 && enough(lo)) {
    hi = lo;
    lo = Math.floor(lo / 2);
  }
  while (hi - lo > Math.max(1, hi * 1e-3)) {
    const mid = Math.floor((lo + hi) / 2);
    if (enough(mid)) hi = mid;
    else lo = mid;
  }
  if (errorCallsCache.size >= CACHE_LIMIT) errorCallsCache.clear();
  errorCallsCache.set(key, hi);
  return hi;
}

/** The textbook normal-approximation sample size for the same test: a starting point. */
function normalApproximationCalls(share: number, baselineRate: number, detectRate: number, alpha: number, power: number): number {
  const meshPerCall = share * detectRate;
  const errorsPerCall = meshPerCall + (1 - share) * baselineRate;
  const pi0 = share;
  const pi1 = meshPerCall / errorsPerCall;
  const errors = ((normalQuantile(1 - alpha) * Math.sqrt(pi0 * (1 - pi0)) + normalQuantile(power) * Math.sqrt(pi1 * (1 - pi1))) / (pi1 - pi0)) ** 2;
  return Math.ceil(errors / errorsPerCall);
}

/**
 * The fewest samples (both stacks together) for the one-sided Mann-Whitney test at `alpha` to
 * catch an effect of Cliff's delta `delta` with probability `power` and, as well, for the
 * observed delta to clear `minDelta`. The mesh holds fraction `share` of them.
 * Noether (1987): N = (z_α + z_β)^2 / (12 c (1 - c) (A - 1/2)^2), A = (1 + δ) / 2.
 */
export function rankTestSamples(share: number, delta: number, detection: LatencyDetection, alpha: number, power: number): number {
  if (!(share > 0 && share < 1) || !(delta > detection.minDelta)) return Infinity;
  const zAlpha = normalQuantile(1 - alpha);
  const zBeta = normalQuantile(power);
  const balance = 12 * share * (1 - share);
  const shift = delta / 2; // A - 1/2
  const noether = (zAlpha + zBeta) ** 2 / (balance * shift * shift);
  // The observed A has standard error about √((N + 1) / (12 n1 n2)) = √(1 / (12 c (1-c) N)):
  // it must land above (1 + minDelta) / 2 with probability `power`.
  const margin = (delta - detection.minDelta) / 2;
  const effect = zBeta ** 2 / (balance * margin * margin);
  const floor = Math.ceil(detection.minSamples / share);
  return Math.ceil(Math.max(noether, effect, floor));
}

/**
 * The fewest samples (both stacks together) for the tail test to catch a share `exceedance` of
 * mesh calls above the q-quantile (1 - q without a regression), sized like the error test (it is
 * the same question about where the calls above the threshold fall), and for the mesh quantile's
 * observed rise to clear `minTailIncrease` (log-normal standard error of a sample quantile).
 */
export function tailTestSamples(share: number, exceedance: number, detection: LatencyDetection, alpha: number, power: number): number {
  const q = detection.tailQuantile;
  if (!(share > 0 && share < 1) || !(exceedance > 1 - q) || !(Math.log(detection.detectSlowdown) > Math.log1p(detection.minTailIncrease))) return Infinity;
  const counting = errorTestCalls(share, { baselineRate: 1 - q, detectRate: exceedance }, alpha, power);
  // SE(ln q̂) = σ √(q (1-q) / n) / φ(z_q) for each stack; both stacks together: 1 / (N c (1 - c)).
  const zq = normalQuantile(q);
  const density = Math.exp(-zq * zq / 2) / Math.sqrt(2 * Math.PI);
  const margin = Math.log(detection.detectSlowdown) - Math.log1p(detection.minTailIncrease);
  const perCall = (detection.assumedLogSpread * normalQuantile(power) * Math.sqrt(q * (1 - q))) / (density * margin);
  const effect = Math.ceil((perCall * perCall) / (share * (1 - share)));
  return Math.max(counting, effect);
}

export interface GateRequirement {
  /** Calls both stacks need together; Infinity when the gate cannot be met at this weight. */
  calls: number;
  errorCalls: number;
  latencyCalls: number;
  /** The Cliff's delta the latency requirement was sized for. */
  latencyDelta: number;
  /** Seconds of traffic at `callsPerSecond`; null without a call rate. */
  holdSeconds: number | null;
}

/** What a gate needs at a weight (the mesh share), and how long a call rate takes to supply it. */
export function gateRequirement(
  share: number,
  errors: ErrorDetection | null,
  latency: LatencyDetection | null,
  alpha: number,
  power: number,
  callsPerSecond: number | null,
): GateRequirement {
  const errorCalls = errors ? errorTestCalls(share, errors, alpha, power) : 0;
  const latencyDelta = latency ? lognormalSlowdownDelta(latency.detectSlowdown, latency.assumedLogSpread) : 0;
  const latencyCalls = latency
    ? Math.max(
        rankTestSamples(share, latencyDelta, latency, alpha, power),
        tailTestSamples(share, lognormalExceedance(latency.detectSlowdown, latency.assumedLogSpread, latency.tailQuantile), latency, alpha, power),
      )
    : 0;
  const calls = Math.max(errorCalls, latencyCalls);
  const holdSeconds = callsPerSecond && callsPerSecond > 0 && Number.isFinite(calls) ? Math.ceil(calls / callsPerSecond) : null;
  return { calls, errorCalls, latencyCalls, latencyDelta, holdSeconds };
}
