// The service-wide tests, stratified by Dubbo method. Methods can run at different mesh weights
// (per-method routes, method canaries) and fail or answer at different rates; pooling them would
// let a slow method with a high mesh share make the whole mesh look slow (Simpson's paradox).
// Each test here compares mesh and legacy within each method and adds up the evidence:
// errors and the tail by the exact distribution of a sum of per-method counts, latency ranks by
// van Elteren's stratified Wilcoxon test. With one method each is the plain test.
import { binomialPmf, binomialUpperTail } from './binomial-test';
import { RankTestResult, mannWhitneyGreaterSorted } from './mann-whitney';
import { logChoose, normalSurvival } from './special-functions';
import { TailTestResult, sortedQuantile, tailExceedanceTest } from './tail-test';

/** A count's pmf over [offset, offset + values.length); outside it the mass is below 1e-100. */
interface Pmf {
  offset: number;
  values: Float64Array;
}

/**
 * Above this many multiply-adds a convolution is not worth it: the normal approximation is used.
 * Only sums of very large counts get there, where the approximation is close (σ in the hundreds).
 */
export const EXACT_WORK_LIMIT = 20_000_000;

/** The range a count of this mean and variance lives in: 25 standard deviations each side. */
function support(mean: number, variance: number, lo: number, hi: number): [number, number] {
  const spread = 25 * Math.sqrt(variance) + 25;
  return [Math.max(lo, Math.floor(mean - spread)), Math.min(hi, Math.ceil(mean + spread))];
}

function pmfOver(from: number, to: number, pmf: (x: number) => number): Pmf {
  const values = new Float64Array(to - from + 1);
  for (let x = from; x <= to; x++) values[x - from] = pmf(x);
  return { offset: from, values };
}

/** P(S >= k) for S the sum of independent counts with the given pmfs. */
function convolvedUpperTail(k: number, pmfs: Pmf[]): number {
  let sum: Pmf = { offset: 0, values: Float64Array.of(1) };
  for (const pmf of pmfs) {
    const next = new Float64Array(sum.values.length + pmf.values.length - 1);
    for (let i = 0; i < sum.values.length; i++) {
      const a = sum.values[i];
      if (a === 0) continue;
      for (let j = 0; j < pmf.values.length; j++) next[i + j] += a * pmf.values[j];
    }
    sum = { offset: sum.offset + pmf.offset, values: next };
  }
  let tail = 0;
  for (let i = Math.max(0, k - sum.offset); i < sum.values.length; i++) tail += sum.values[i];
  return k <= sum.offset ? 1 : Math.min(1, tail);
}

/** Normal approximation with continuity correction to P(S >= k), for sums too wide to convolve. */
function normalUpperTail(k: number, mean: number, variance: number): number {
  if (variance <= 0) return k <= mean ? 1 : 0;
  return normalSurvival((k - 0.5 - mean) / Math.sqrt(variance));
}

/** P(S >= k) for a sum of counts given as [pmf, mean, variance]: exact unless absurdly wide. */
function sumUpperTail(k: number, parts: Array<{ pmf: () => Pmf; mean: number; variance: number; width: number }>): number {
  let width = 1;
  let work = 0;
  for (const p of parts) {
    work += width * p.width;
    width += p.width - 1;
  }
  if (work > EXACT_WORK_LIMIT) {
    return normalUpperTail(k, parts.reduce((m, p) => m + p.mean, 0), parts.reduce((v, p) => v + p.variance, 0));
  }
  return convolvedUpperTail(k, parts.map((p) => p.pmf()));
}

export interface BinomialStratum {
  trials: number;
  p: number;
}

/** P(Σ X_m >= k) for independent X_m ~ Binomial(trials_m, p_m). */
export function stratifiedBinomialUpperTail(k: number, strata: BinomialStratum[]): number {
  const used = strata.filter((s) => s.trials > 0);
  if (used.length === 0) return k <= 0 ? 1 : 0;
  if (used.length === 1) return binomialUpperTail(k, used[0].trials, used[0].p);
  return sumUpperTail(
    k,
    used.map((s) => {
      const mean = s.trials * s.p;
      const variance = mean * (1 - s.p);
      const [from, to] = support(mean, variance, 0, s.trials);
      return { mean, variance, width: to - from + 1, pmf: () => pmfOver(from, to, (x) => binomialPmf(x, s.trials, s.p)) };
    }),
  );
}

/** Per-method counts of one error class: errors and calls on each stack. */
export interface ErrorStratum {
  meshErrors: number;
  legacyErrors: number;
  meshCalls: number;
  legacyCalls: number;
}

export interface StratifiedErrorResult {
  /** Mesh errors in the methods that had calls on both stacks. */
  meshErrors: number;
  pValue: number;
  /** Mantel-Haenszel rate ratio, mesh over legacy. */
  rateRatio: number;
}

/**
 * The error test across methods: within each method with calls on both stacks, each error lands
 * on the mesh with probability = the mesh share of that method's calls.
 */
export function stratifiedErrorTest(strata: ErrorStratum[]): StratifiedErrorResult {
  const informative = strata.filter((s) => s.meshCalls > 0 && s.legacyCalls > 0);
  const meshErrors = informative.reduce((n, s) => n + s.meshErrors, 0);
  const pValue = stratifiedBinomialUpperTail(
    meshErrors,
    informative.map((s) => ({ trials: s.meshErrors + s.legacyErrors, p: s.meshCalls / (s.meshCalls + s.legacyCalls) })),
  );
  // MH rate ratio: Σ a T0 / T  over  Σ b T1 / T (a, b errors; T1, T0 calls; T their sum).
  let top = 0;
  let bottom = 0;
  for (const s of informative) {
    const total = s.meshCalls + s.legacyCalls;
    top += (s.meshErrors * s.legacyCalls) / total;
    bottom += (s.legacyErrors * s.meshCalls) / total;
  }
  const rateRatio = bottom > 0 ? top / bottom : top > 0 ? Infinity : 1;
  return { meshErrors, pValue, rateRatio };
}

/** Two ascending-sorted latency samples of one method. */
export interface LatencyStratum {
  mesh: Float64Array;
  legacy: Float64Array;
}

/**
 * Van Elteren's test: per-method Mann-Whitney U's weighted by 1 / (N_m + 1), each with its own
 * tie-corrected variance, one-sided by the normal approximation. The effect is Cliff's delta
 * averaged over methods with the same weights' share of information (n1 n2 / (N + 1)).
 */
export function stratifiedRankTest(strata: LatencyStratum[]): RankTestResult {
  const informative = strata.filter((s) => s.mesh.length > 0 && s.legacy.length > 0);
  if (informative.length === 1) return mannWhitneyGreaterSorted(informative[0].mesh, informative[0].legacy);
  let n1 = 0;
  let n2 = 0;
  let statistic = 0;
  let variance = 0;
  let deltaWeighted = 0;
  let weights = 0;
  let tieTerm = 0;
  for (const s of informative) {
    const r = mannWhitneyGreaterSorted(s.mesh, s.legacy);
    const total = r.n1 + r.n2;
    const w = 1 / (total + 1);
    const pairs = r.n1 * r.n2;
    statistic += w * (r.u - pairs / 2);
    variance += w * w * (pairs / 12) * (total + 1 - r.tieTerm / (total * (total - 1)));
    deltaWeighted += pairs * w * r.cliffsDelta;
    weights += pairs * w;
    n1 += r.n1;
    n2 += r.n2;
    tieTerm += r.tieTerm;
  }
  const cliffsDelta = weights > 0 ? deltaWeighted / weights : 0;
  const base = { n1, n2, u: NaN, probabilityOfSuperiority: (1 + cliffsDelta) / 2, cliffsDelta, tieTerm };
  if (!(variance > 0)) return { ...base, pValue: 1, method: 'degenerate' };
  return { ...base, pValue: normalSurvival(statistic / Math.sqrt(variance)), method: 'asymptotic' };
}

/** Hypergeometric(population, successes, draws) as a part of a sum. */
function hypergeometricPart(population: number, successes: number, draws: number) {
  const f = draws / population;
  const mean = successes * f;
  const variance = population > 1 ? (mean * (1 - f) * (population - successes)) / (population - 1) : 0;
  const [from, to] = support(mean, variance, Math.max(0, draws - (population - successes)), Math.min(successes, draws));
  const denominator = logChoose(population, draws);
  const pmf = (x: number) => Math.exp(logChoose(successes, x) + logChoose(population - successes, draws - x) - denominator);
  return { mean, variance, width: to - from + 1, pmf: () => pmfOver(from, to, pmf) };
}

/**
 * The tail test across methods: each method's calls above its own pooled quantile, the mesh's
 * total against the exact distribution of a sum of hypergeometric counts. The effect is the
 * geometric mean of per-method mesh/legacy quantile ratios, weighted by samples, over methods with
 * enough samples on both stacks to have a quantile (1 / (1 - q) each); the pooled ratio otherwise.
 */
export function stratifiedTailTest(strata: LatencyStratum[], q: number): TailTestResult {
  const informative = strata.filter((s) => s.mesh.length > 0 && s.legacy.length > 0);
  if (informative.length <= 1) return tailExceedanceTest(informative[0]?.mesh ?? [], informative[0]?.legacy ?? [], q);
  const results = informative.map((s) => ({ stratum: s, result: tailExceedanceTest(s.mesh, s.legacy, q) }));
  let meshAbove = 0;
  let legacyAbove = 0;
  const parts = results.map(({ stratum, result }) => {
    meshAbove += result.meshAbove;
    legacyAbove += result.legacyAbove;
    return hypergeometricPart(stratum.mesh.length + stratum.legacy.length, result.meshAbove + result.legacyAbove, stratum.mesh.length);
  });
  const pValue = sumUpperTail(meshAbove, parts);
  const enough = Math.ceil(1 / (1 - q));
  let logSum = 0;
  let weightSum = 0;
  for (const { stratum } of results) {
    if (stratum.mesh.length < enough || stratum.legacy.length < enough) continue;
    const legacyQuantile = sortedQuantile(stratum.legacy, q);
    if (!(legacyQuantile > 0)) continue;
    const weight = stratum.mesh.length + stratum.legacy.length;
    logSum += weight * Math.log(sortedQuantile(stratum.mesh, q) / legacyQuantile);
    weightSum += weight;
  }
  const quantileRatio = weightSum > 0 ? Math.exp(logSum / weightSum) : pooledRatio(informative, q);
  return { threshold: NaN, meshAbove, legacyAbove, pValue, quantileRatio };
}

function pooledRatio(strata: LatencyStratum[], q: number): number {
  const merge = (pick: (s: LatencyStratum) => Float64Array) => {
    const all = new Float64Array(strata.reduce((n, s) => n + pick(s).length, 0));
    let at = 0;
    for (const s of strata) {
      all.set(pick(s), at);
      at += pick(s).length;
    }
    return all.sort();
  };
  const legacy = sortedQuantile(merge((s) => s.legacy), q);
  return legacy > 0 ? sortedQuantile(merge((s) => s.mesh), q) / legacy : 1;
}
