// The Mann-Whitney U rank test the latency gate uses: is the mesh stack stochastically slower
// than the legacy one? Ranks make it indifferent to the shape of latency distributions and to
// outliers; ties (equal samples, or samples that share a histogram bucket) get average ranks and
// the variance is corrected for them. Exact for small samples without ties, otherwise the normal
// approximation with continuity correction (as scipy.stats.mannwhitneyu does).
import { normalSurvival } from './special-functions';

export interface RankTestResult {
  /** Samples in the first (mesh) and second (legacy) groups. */
  n1: number;
  n2: number;
  /** U of the first group: pairs where it is larger, ties counted as one half. */
  u: number;
  /** U / (n1 n2): P(X > Y) + P(X = Y) / 2, 0.5 when the groups are alike. */
  probabilityOfSuperiority: number;
  /** Cliff's delta, 2 A - 1: from -1 (always faster) to 1 (always slower). */
  cliffsDelta: number;
  /** One-sided p-value of "the first group is not larger". */
  pValue: number;
  method: 'exact' | 'asymptotic' | 'degenerate';
  /** Σ (t^3 - t) over groups of tied values; 0 without ties. */
  tieTerm: number;
}

/** Exact distribution is used without ties and when n1 + n2 is at most this. */
export const EXACT_MAX_TOTAL = 50;

/** Ranks two ascending-sorted samples against each other: U of the first and the tie term. */
function rankSorted(xs: ArrayLike<number>, ys: ArrayLike<number>): { u: number; tieTerm: number } {
  const n1 = xs.length;
  const n2 = ys.length;
  let i = 0;
  let j = 0;
  let below = 0; // samples ranked so far
  let rankSum = 0;
  let tieTerm = 0;
  while (i < n1 || j < n2) {
    const v = i < n1 && (j >= n2 || xs[i] <= ys[j]) ? xs[i] : ys[j];
    let tx = 0;
    let ty = 0;
    while (i < n1 && xs[i] === v) {
      i++;
      tx++;
    }
    while (j < n2 && ys[j] === v) {
      j++;
      ty++;
    }
    const t = tx + ty;
    // The group takes ranks below+1 .. below+t; each member gets their mean.
    rankSum += tx * (below + (t + 1) / 2);
    if (t > 1) tieTerm += t * t * t - t;
    below += t;
  }
  return { u: rankSum - (n1 * (n1 + 1)) / 2, tieTerm };
}

/**
 * Counts of arrangements of m X's and n Y's by U (pairs with X > Y), for all m <= n1, n <= n2:
 * f(m, n, u) = f(m-1, n, u-n) + f(m, n-1, u), from whether the largest value is an X or a Y.
 */
function exactUpperTail(u: number, n1: number, n2: number): number {
  let previous: Float64Array[] = []; // row m-1, indexed by n
  for (let m = 0; m <= n1; m++) {
    const row: Float64Array[] = [];
    for (let n = 0; n <= n2; n++) {
      const f = new Float64Array(m * n + 1);
      if (m === 0 || n === 0) f[0] = 1;
      else {
        const fromX = previous[n];
        const fromY = row[n - 1];
        for (let k = 0; k < fromY.length; k++) f[k] += fromY[k];
        for (let k = 0; k < fromX.length; k++) f[k + n] += fromX[k];
      }
      row.push(f);
    }
    previous = row;
  }
  const counts = previous[n2];
  let total = 0;
  let upper = 0;
  for (let k = 0; k < counts.length; k++) {
    total += counts[k];
    if (k >= u) upper += counts[k];
  }
  return upper / total;
}

/**
 * The one-sided Mann-Whitney test that `xs` is stochastically larger than `ys`, both sorted
 * ascending (the caller sorts once and may reuse them). NaN samples are the caller's to reject.
 */
export function mannWhitneyGreaterSorted(xs: ArrayLike<number>, ys: ArrayLike<number>): RankTestResult {
  const n1 = xs.length;
  const n2 = ys.length;
  if (n1 === 0 || n2 === 0) {
    return { n1, n2, u: 0, probabilityOfSuperiority: 0.5, cliffsDelta: 0, pValue: 1, method: 'degenerate', tieTerm: 0 };
  }
  const { u, tieTerm } = rankSorted(xs, ys);
  const pairs = n1 * n2;
  const a = u / pairs;
  const base = { n1, n2, u, probabilityOfSuperiority: a, cliffsDelta: 2 * a - 1, tieTerm };
  const total = n1 + n2;
  if (tieTerm === 0 && total <= EXACT_MAX_TOTAL) {
    return { ...base, pValue: exactUpperTail(u, n1, n2), method: 'exact' };
  }
  const variance = (pairs / 12) * (total + 1 - tieTerm / (total * (total - 1)));
  // Every sample tied: the ranks say nothing either way.
  if (variance <= 0) return { ...base, pValue: 1, method: 'degenerate' };
  const z = (u - pairs / 2 - 0.5) / Math.sqrt(variance);
  return { ...base, pValue: normalSurvival(z), method: 'asymptotic' };
}

function sortedCopy(values: ArrayLike<number>): Float64Array {
  const copy = Float64Array.from(values);
  copy.sort();
  return copy;
}

/** The one-sided Mann-Whitney test that `x` is stochastically larger than `y` (unsorted input). */
export function mannWhitneyGreater(x: ArrayLike<number>, y: ArrayLike<number>): RankTestResult {
  return mannWhitneyGreaterSorted(sortedCopy(x), sortedCopy(y));
}

/**
 * Cliff's delta of `ys` scaled by `factor` against `ys` itself, for ys sorted ascending: the
 * effect a uniform slowdown by `factor` would have on this very latency distribution. Lets a
 * gate ask for "a 30 % slowdown" and size its samples for the traffic's own spread.
 */
export function slowdownDelta(ys: ArrayLike<number>, factor: number): number {
  const n = ys.length;
  if (n === 0) return 0;
  // U of (factor * ys) against ys by one merge walk over groups of equal values, without
  // materialising the scaled copy; each run of equal ys is scanned once.
  let i = 0;
  let j = 0;
  let u = 0;
  while (i < n) {
    let group = 1;
    while (i + group < n && ys[i + group] === ys[i]) group++;
    const v = ys[i] * factor;
    while (j < n && ys[j] < v) j++;
    let ties = 0;
    while (j + ties < n && ys[j + ties] === v) ties++;
    u += group * (j + ties / 2);
    i += group;
  }
  return (2 * u) / (n * n) - 1;
}
