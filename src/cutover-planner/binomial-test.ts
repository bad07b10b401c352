// The exact binomial test the error gates use, and its power: where the errors of a window fall.
// Under "the mesh stack fails as often as the legacy one", each error lands on the mesh with
// probability equal to the mesh share of calls, so the mesh's error count given the total is
// Binomial(errors, share). A one-sided test: only the mesh failing more is a reason to roll back.
import { logChoose, logGamma, normalQuantile, normalSurvival, regularizedBeta } from './special-functions';

/** P(X >= k) for X ~ Binomial(n, p): the exact upper tail. */
export function binomialUpperTail(k: number, n: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  // P(X >= k) = I_p(k, n - k + 1).
  return regularizedBeta(p, k, n - k + 1);
}

/** P(X = k) for X ~ Binomial(n, p). */
export function binomialPmf(k: number, n: number, p: number): number {
  if (k < 0 || k > n) return 0;
  if (p <= 0) return k === 0 ? 1 : 0;
  if (p >= 1) return k === n ? 1 : 0;
  return Math.exp(logChoose(n, k) + k * Math.log(p) + (n - k) * Math.log1p(-p));
}

/**
 * The one-sided exact p-value that `successes` of `trials` or more is no surprise when each
 * trial succeeds with probability `p`: P(X >= successes).
 */
export function binomialTestGreater(successes: number, trials: number, p: number): number {
  return binomialUpperTail(successes, trials, p);
}

/**
 * The smallest count c with P(X >= c) <= alpha for X ~ Binomial(n, p): at least c mesh errors
 * out of n errors rejects. n + 1 when no count can (too few errors to ever be significant).
 */
export function binomialCriticalValue(n: number, p: number, alpha: number): number {
  if (binomialUpperTail(n, n, p) > alpha) return n + 1;
  // The tail shrinks as c grows: bisect for the first c at or under alpha.
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (binomialUpperTail(mid, n, p) <= alpha) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Expected counts of a two-stack error comparison: Poisson means for mesh and legacy errors. */
export interface ErrorRegression {
  /** The mesh share of calls, 0 < share < 1. */
  share: number;
  /** The legacy (and, under no regression, the mesh) error rate per call. */
  baselineRate: number;
  /** The mesh error rate the test must catch. */
  regressedRate: number;
}

/** Where the Poisson mass of a mean sits: [lo, hi] holds all but ~1e-15 of it. */
function poissonRange(mean: number): [number, number] {
  const spread = 10 * Math.sqrt(mean) + 12;
  return [Math.max(0, Math.floor(mean - spread)), Math.ceil(mean + spread)];
}

function poissonPmf(k: number, mean: number): number {
  if (mean === 0) return k === 0 ? 1 : 0;
  return Math.exp(k * Math.log(mean) - mean - logGamma(k + 1));
}

/** Above this many expected errors the power comes from the normal approximation (summing is slow, and exact to no purpose). */
export const NORMAL_POWER_ABOVE = 20_000;

/** Power of the one-sided test of p = p0 against p = p1 with `errors` trials, by the normal approximation. */
function normalPower(errors: number, p0: number, p1: number, alpha: number): number {
  const critical = p0 * errors + normalQuantile(1 - alpha) * Math.sqrt(errors * p0 * (1 - p0));
  return normalSurvival((critical - p1 * errors) / Math.sqrt(errors * p1 * (1 - p1)));
}

/**
 * The power of the one-sided binomial test at level `alpha` after `calls` calls: the chance that
 * the regression is caught. Calls and errors are random, so this is unconditional: the number of
 * errors is Poisson, and given it the mesh's share of them is Binomial.
 */
export function binomialTestPower(calls: number, regression: ErrorRegression, alpha: number): number {
  const { share, baselineRate, regressedRate } = regression;
  const meshMean = calls * share * regressedRate;
  const legacyMean = calls * (1 - share) * baselineRate;
  const mean = meshMean + legacyMean;
  if (mean === 0) return 0;
  const meshProbability = meshMean / mean;
  if (mean > NORMAL_POWER_ABOVE) return normalPower(mean, share, meshProbability, alpha);
  const [lo, hi] = poissonRange(mean);
  let power = 0;
  // The critical count rises by at most one per extra error (X(n+1) >= c+1 implies X(n) >= c),
  // so it is walked up from one bisection instead of searched for at every error count.
  let critical = -1;
  for (let errors = Math.max(lo, 1); errors <= hi; errors++) {
    const weight = poissonPmf(errors, mean);
    if (weight < 1e-18 && critical < 0) continue;
    if (critical < 0) critical = binomialCriticalValue(errors, share, alpha);
    else if (binomialUpperTail(critical, errors, share) > alpha) critical++;
    if (weight < 1e-18 || critical > errors) continue;
    power += weight * binomialUpperTail(critical, errors, meshProbability);
  }
  return Math.min(1, power);
}
