// The latency gate's tail test: does the mesh put more calls above the high percentile than its
// share? A rank test sees a whole-distribution shift; it hardly sees a regression where only the
// slowest calls get slower (pool waits, GC pauses), which is what moves a p99. Here the threshold
// is the pooled sample's quantile, so under "both stacks are alike" the mesh's count above it is
// exactly hypergeometric given the pooled values (a permutation test, no distribution assumed).
import { logChoose, normalCdf, normalQuantile } from './special-functions';

/** P(X >= k) for X ~ Hypergeometric(population, successes, draws): the exact upper tail. */
export function hypergeometricUpperTail(k: number, population: number, successes: number, draws: number): number {
  const lo = Math.max(0, draws - (population - successes));
  const hi = Math.min(successes, draws);
  if (k <= lo) return 1;
  if (k > hi) return 0;
  // First term by log-binomials, the rest by the ratio of neighbours: stable and O(hi - k).
  let term = Math.exp(logChoose(successes, k) + logChoose(population - successes, draws - k) - logChoose(population, draws));
  let sum = term;
  for (let x = k; x < hi; x++) {
    term *= ((successes - x) * (draws - x)) / ((x + 1) * (population - successes - draws + x + 1));
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return Math.min(1, sum);
}

/** The q-quantile of an ascending-sorted sample, linear between order statistics (numpy's default). */
export function sortedQuantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const position = q * (n - 1);
  const below = Math.floor(position);
  const above = Math.min(n - 1, below + 1);
  return sorted[below] + (position - below) * (sorted[above] - sorted[below]);
}

/** How many values of an ascending-sorted sample are strictly above `threshold`. */
function countAbove(sorted: ArrayLike<number>, threshold: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= threshold) lo = mid + 1;
    else hi = mid;
  }
  return sorted.length - lo;
}

export interface TailTestResult {
  /** The pooled q-quantile both stacks are counted against. */
  threshold: number;
  meshAbove: number;
  legacyAbove: number;
  /** One-sided exact p-value that the mesh has no more calls above the threshold than its share. */
  pValue: number;
  /** Mesh q-quantile / legacy q-quantile. */
  quantileRatio: number;
}

/** The tail test on two ascending-sorted samples (mesh first) at quantile q. */
export function tailExceedanceTest(mesh: ArrayLike<number>, legacy: ArrayLike<number>, q: number): TailTestResult {
  const n1 = mesh.length;
  const n2 = legacy.length;
  if (n1 === 0 || n2 === 0) return { threshold: NaN, meshAbove: 0, legacyAbove: 0, pValue: 1, quantileRatio: 1 };
  // The pooled quantile without merging: bisect on the value whose pooled rank reaches it.
  const threshold = pooledQuantile(mesh, legacy, q);
  const meshAbove = countAbove(mesh, threshold);
  const legacyAbove = countAbove(legacy, threshold);
  const pValue = hypergeometricUpperTail(meshAbove, n1 + n2, meshAbove + legacyAbove, n1);
  const legacyQuantile = sortedQuantile(legacy, q);
  const quantileRatio = legacyQuantile > 0 ? sortedQuantile(mesh, q) / legacyQuantile : 1;
  return { threshold, meshAbove, legacyAbove, pValue, quantileRatio };
}

/** The order statistic of rank ceil(q N) in the union of two sorted samples. */
function pooledQuantile(a: ArrayLike<number>, b: ArrayLike<number>, q: number): number {
  const total = a.length + b.length;
  const rank = Math.min(total, Math.max(1, Math.ceil(q * total)));
  // k-th smallest of two sorted arrays: walk both from the top (the tail is short).
  let i = a.length - 1;
  let j = b.length - 1;
  let value = NaN;
  for (let taken = 0; taken <= total - rank; taken++) {
    if (j < 0 || (i >= 0 && a[i] >= b[j])) value = a[i--];
    else value = b[j--];
  }
  return value;
}

/**
 * The share of calls above a log-normal's q-quantile once every call is `factor` times slower:
 * what the tail test must tell from 1 - q. Used for planning, before samples exist.
 */
export function lognormalExceedance(factor: number, logSpread: number, q: number): number {
  if (logSpread <= 0) return factor > 1 ? 1 : 1 - q;
  return 1 - normalCdf(normalQuantile(q) - Math.log(factor) / logSpread);
}

/** The same from a legacy sample: the share of it above its own q-quantile divided by `factor`. */
export function empiricalExceedance(legacySorted: ArrayLike<number>, factor: number, q: number): number {
  const n = legacySorted.length;
  if (n === 0) return 1 - q;
  return countAbove(legacySorted, sortedQuantile(legacySorted, q) / factor) / n;
}
