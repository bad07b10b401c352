// The gate's judge: mesh against legacy for one service over one window, per Dubbo method where
// there are several. Three verdicts, never two: pass, fail, or not enough data, which holds the
// step, says how many more calls it needs, and never passes. Pure: the window and `now` come in,
// a verdict goes out.
//
// - Errors, application exceptions and transport failures apart (the data path's outcomes):
//   under "no regression" each error lands on the mesh with probability = the mesh share of
//   calls, so an exact one-sided binomial test on the mesh's count. A fail also needs the mesh
//   rate to be `minRatio` times the legacy rate, so a huge window cannot fail on a trifle.
// - Latency: one-sided Mann-Whitney on the two stacks' samples, failing only when the observed
//   Cliff's delta reaches `minDelta`, so noise cannot fail a step; and a tail test (the mesh's
//   count above the pooled p99, exact hypergeometric) failing only when the mesh p99 is
//   `minTailIncrease` above the legacy one, for regressions only the slowest calls show.
// - The service as a whole is judged method by method and the evidence summed (stratified-tests.ts),
//   since methods may run at different mesh weights: pooling them could fake a regression.
// - Significance levels: `alpha` per test, divided by the planned looks at the hold (the runner
//   judges every interval) and by the scopes judged (the service and each method): Bonferroni.
import { MeshBridgeError } from '../errors';
import { OUTCOMES, Outcome, blameOf } from '../proxy/failure-class';
import { slowdownDelta } from './mann-whitney';
import { ErrorDetection, LatencyDetection, errorTestCalls, lognormalSlowdownDelta, rankTestSamples, tailTestSamples } from './sample-size';
import { LatencyStratum, stratifiedErrorTest, stratifiedRankTest, stratifiedTailTest } from './stratified-tests';
import { empiricalExceedance, lognormalExceedance } from './tail-test';

export type Verdict = 'pass' | 'fail' | 'not_enough_data';
export type GateTest = 'application_errors' | 'transport_errors' | 'latency' | 'latency_tail';

export interface ErrorGateSettings extends ErrorDetection {
  /** The observed mesh error rate must be at least this multiple of the legacy one to fail. */
  minRatio: number;
}

export interface GateSettings {
  /** Significance level of each test at one look, before the Bonferroni divisions. */
  alpha: number;
  /** Chance of catching the configured regression once the required calls are in. */
  power: number;
  /** How many times the runner judges during one hold; each look uses alpha / looks. */
  looks: number;
  /** null turns the error tests off. */
  errors: ErrorGateSettings | null;
  /** null turns the latency test off. */
  latency: LatencyDetection | null;
  /** A window that ended longer ago than this is not judged. */
  maxWindowAgeMs: number;
}

export const DEFAULT_GATE: GateSettings = {
  alpha: 0.005,
  power: 0.97,
  looks: 1,
  errors: { baselineRate: 0.001, detectRate: 0.005, minRatio: 2 },
  latency: { detectSlowdown: 1.3, minDelta: 0.1, assumedLogSpread: 0.6, minSamples: 20, tailQuantile: 0.99, minTailIncrease: 0.1 },
  maxWindowAgeMs: 120_000,
};

/** What one stack did in the window. */
export interface StackWindow {
  /** Calls by how they ended; absent outcomes count 0. `caller_gone` calls are left out of the judgement. */
  outcomes: Partial<Record<Outcome, number>>;
  /** Latencies of calls that ended `ok`, in microseconds (errors are judged by the error tests). */
  latencyMicros?: ArrayLike<number>;
  /**
   * Or the same as a Prometheus histogram over the window (the difference of two scrapes):
   * ascending upper bounds `le` in µs (the last may be Infinity) and cumulative counts. A call is
   * taken at its bucket's upper bound (ties for the rank tests), one above the last finite bound
   * at twice that bound.
   */
  latencyHistogram?: { le: number[]; cumulative: number[] };
}

/** Most samples one stack's histogram may expand to. */
export const MAX_HISTOGRAM_SAMPLES = 5_000_000;

export interface MethodWindow {
  method: string;
  mesh: StackWindow;
  legacy: StackWindow;
}

export interface ServiceWindow {
  service: string;
  /** Window bounds, ms since the epoch. */
  from: number;
  to: number;
  /** The mesh weight of the step being held, 0..1: the share used while one stack has no calls yet. */
  weight: number;
  methods: MethodWindow[];
}

export interface TestVerdict {
  test: GateTest;
  verdict: Verdict;
  /** null when no test was run (nothing to compare). */
  pValue: number | null;
  /** The level this test was held to, after the Bonferroni divisions. */
  alpha: number;
  /** Errors (error tests) or samples (latency) on each stack. */
  mesh: number;
  legacy: number;
  /** Mesh/legacy error rate ratio, or Cliff's delta for latency; null when undefined. */
  effect: number | null;
  /** Calls (samples for latency) both stacks need together before this test can pass. */
  requiredCalls: number;
  reason: string;
}

export interface ScopeVerdict {
  /** null for the whole service. */
  method: string | null;
  verdict: Verdict;
  meshCalls: number;
  legacyCalls: number;
  /** The mesh share of calls the tests used. */
  share: number;
  tests: TestVerdict[];
  /** More calls needed before every test can pass (0 unless not_enough_data; Infinity if never at this weight). */
  moreCalls: number;
  /** The time those calls take at the window's call rate; null if unknown. */
  moreSeconds: number | null;
  reason: string;
}

export interface ServiceVerdict {
  service: string;
  verdict: Verdict;
  judgedAt: number;
  aggregate: ScopeVerdict;
  /** One per method, when the window has more than one. */
  methods: ScopeVerdict[];
  failedMethods: string[];
  reason: string;
}

interface StackCounts {
  calls: number;
  application: number;
  transport: number;
}

function badWindow(message: string, value: unknown, where: string): MeshBridgeError {
  return new MeshBridgeError('CUTOVER_BAD_WINDOW', message, { value, where });
}

const KNOWN_OUTCOMES = new Set<string>(OUTCOMES);

function countStack(stack: StackWindow, where: string): StackCounts {
  const counts: StackCounts = { calls: 0, application: 0, transport: 0 };
  for (const [name, value] of Object.entries(stack.outcomes)) {
    if (!KNOWN_OUTCOMES.has(name)) throw badWindow(`unknown outcome ${name}`, name, `${where}.outcomes`);
    if (value === undefined) continue;
    if (!Number.isInteger(value) || value < 0) throw badWindow(`outcome counts are non-negative integers, got ${value}`, value, `${where}.outcomes.${name}`);
    switch (blameOf(name as Outcome)) {
      case 'caller':
        continue;
      case 'application':
        counts.application += value;
        break;
      case 'upstream':
      case 'bridge':
        counts.transport += value;
        break;
      case 'none':
        break;
    }
    counts.calls += value;
  }
  return counts;
}

function sortedSamples(samples: ArrayLike<number>, where: string): Float64Array {
  const out = new Float64Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const v = samples[i];
    if (!(v >= 0) || v === Infinity) throw badWindow(`latency samples are finite and non-negative, got ${v}`, v, `${where}.latencyMicros[${i}]`);
    out[i] = v;
  }
  out.sort();
  return out;
}

/** A histogram's calls as sorted samples at their buckets' upper bounds. */
function histogramSamples(histogram: { le: number[]; cumulative: number[] }, where: string): Float64Array {
  const { le, cumulative } = histogram;
  if (le.length !== cumulative.length || le.length === 0) {
    throw badWindow(`a latency histogram has one cumulative count per bound, got ${le.length} bounds and ${cumulative.length} counts`, le.length, `${where}.latencyHistogram`);
  }
  let previousBound = -Infinity;
  let previousCount = 0;
  for (let i = 0; i < le.length; i++) {
    if (!(le[i] > previousBound) || !(le[i] >= 0) || (le[i] === Infinity && i !== le.length - 1)) {
      throw badWindow(`bucket bounds rise and only the last may be Infinity, got ${le[i]} after ${previousBound}`, le[i], `${where}.latencyHistogram.le[${i}]`);
    }
    if (!Number.isInteger(cumulative[i]) || cumulative[i] < previousCount) {
      throw badWindow(`cumulative counts are whole numbers that never fall, got ${cumulative[i]} after ${previousCount}`, cumulative[i], `${where}.latencyHistogram.cumulative[${i}]`);
    }
    previousBound = le[i];
    previousCount = cumulative[i];
  }
  if (previousCount > MAX_HISTOGRAM_SAMPLES) {
    throw badWindow(`a latency histogram of ${previousCount} calls is more than the ${MAX_HISTOGRAM_SAMPLES} judged at once`, previousCount, `${where}.latencyHistogram`);
  }
  const out = new Float64Array(previousCount);
  let at = 0;
  for (let i = 0; i < le.length; i++) {
    const value = le[i] === Infinity ? (i > 0 ? 2 * le[i - 1] : 0) : le[i];
    out.fill(value, at, cumulative[i]);
    at = cumulative[i];
  }
  return out;
}

function latencySamples(stack: StackWindow, where: string): Float64Array {
  if (stack.latencyHistogram && stack.latencyMicros) throw badWindow('give latencyMicros or latencyHistogram, not both', 'both', where);
  if (stack.latencyHistogram) return histogramSamples(stack.latencyHistogram, where);
  return sortedSamples(stack.latencyMicros ?? [], where);
}

/** One method's window, checked and counted once, its samples sorted once, for every scope. */
interface PreparedMethod {
  method: string;
  mesh: StackCounts;
  legacy: StackCounts;
  meshLatency: Float64Array;
  legacyLatency: Float64Array;
}

function prepare(part: MethodWindow, where: string, withLatency: boolean): PreparedMethod {
  const empty = new Float64Array(0);
  return {
    method: part.method,
    mesh: countStack(part.mesh, `${where}.mesh`),
    legacy: countStack(part.legacy, `${where}.legacy`),
    meshLatency: withLatency ? latencySamples(part.mesh, `${where}.mesh`) : empty,
    legacyLatency: withLatency ? latencySamples(part.legacy, `${where}.legacy`) : empty,
  };
}

function errorTest(
  test: GateTest,
  errorsOf: (counts: StackCounts) => number,
  parts: PreparedMethod[],
  mesh: StackCounts,
  legacy: StackCounts,
  sizingShare: number,
  settings: ErrorGateSettings,
  alpha: number,
  power: number,
): TestVerdict {
  const requiredCalls = errorTestCalls(sizingShare, settings, alpha, power);
  const meshErrors = errorsOf(mesh);
  const legacyErrors = errorsOf(legacy);
  const base = { test, alpha, mesh: meshErrors, legacy: legacyErrors, requiredCalls };
  if (mesh.calls === 0 || legacy.calls === 0) {
    const missing = mesh.calls === 0 ? 'no mesh calls yet' : 'no legacy calls to compare against';
    return { ...base, verdict: 'not_enough_data', pValue: null, effect: null, reason: missing };
  }
  const result = stratifiedErrorTest(
    parts.map((p) => ({ meshErrors: errorsOf(p.mesh), legacyErrors: errorsOf(p.legacy), meshCalls: p.mesh.calls, legacyCalls: p.legacy.calls })),
  );
  const { pValue, rateRatio: effect } = result;
  const rates = `mesh ${meshErrors}/${mesh.calls}, legacy ${legacyErrors}/${legacy.calls}`;
  if (pValue <= alpha && effect >= settings.minRatio) {
    return { ...base, verdict: 'fail', pValue, effect, reason: `mesh fails more (${rates}, p=${pValue.toPrecision(3)})` };
  }
  if (mesh.calls + legacy.calls >= requiredCalls) {
    return { ...base, verdict: 'pass', pValue, effect, reason: `no regression (${rates})` };
  }
  return { ...base, verdict: 'not_enough_data', pValue, effect, reason: `${mesh.calls + legacy.calls} of ${requiredCalls} calls` };
}

/**
 * True when a legacy sample can stand for its own distribution in sizing: at least 100 samples of
 * at least 100 distinct values. Histogram buckets are too coarse (a 1.3x slowdown moves a call
 * within its bucket or not at all): those keep the plan's log-normal assumption.
 */
function fineGrained(sorted: Float64Array): boolean {
  if (sorted.length < 100) return false;
  let distinct = 1;
  for (let i = 1; i < sorted.length && distinct < 100; i++) if (sorted[i] !== sorted[i - 1]) distinct++;
  return distinct >= 100;
}

function latencyTest(strata: LatencyStratum[], pooledLegacy: Float64Array, sizingShare: number, settings: LatencyDetection, alpha: number, power: number): TestVerdict {
  const n1 = strata.reduce((n, s) => n + s.mesh.length, 0);
  const n2 = pooledLegacy.length;
  // The slowdown to catch, as an effect size on this traffic's own latency spread when known.
  const delta = fineGrained(pooledLegacy) ? slowdownDelta(pooledLegacy, settings.detectSlowdown) : lognormalSlowdownDelta(settings.detectSlowdown, settings.assumedLogSpread);
  const requiredCalls = rankTestSamples(sizingShare, delta, settings, alpha, power);
  const base = { test: 'latency' as const, alpha, mesh: n1, legacy: n2, requiredCalls };
  if (n1 === 0 || n2 === 0) {
    const missing = n1 === 0 ? 'no mesh latency samples yet' : 'no legacy latency samples to compare against';
    return { ...base, verdict: 'not_enough_data', pValue: null, effect: null, reason: missing };
  }
  const result = stratifiedRankTest(strata);
  const effect = result.cliffsDelta;
  const summary = `delta=${effect.toFixed(3)}, p=${result.pValue.toPrecision(3)}, ${n1} mesh / ${n2} legacy samples`;
  if (result.pValue <= alpha && effect >= settings.minDelta) {
    return { ...base, verdict: 'fail', pValue: result.pValue, effect, reason: `mesh slower (${summary})` };
  }
  if (n1 + n2 >= requiredCalls) return { ...base, verdict: 'pass', pValue: result.pValue, effect, reason: `no slowdown (${summary})` };
  return { ...base, verdict: 'not_enough_data', pValue: result.pValue, effect, reason: `${n1 + n2} of ${requiredCalls} samples (${summary})` };
}

function tailTest(strata: LatencyStratum[], pooledLegacy: Float64Array, sizingShare: number, settings: LatencyDetection, alpha: number, power: number): TestVerdict {
  const n1 = strata.reduce((n, s) => n + s.mesh.length, 0);
  const n2 = pooledLegacy.length;
  const q = settings.tailQuantile;
  const exceedance =
    n2 >= 1000 && fineGrained(pooledLegacy) ? empiricalExceedance(pooledLegacy, settings.detectSlowdown, q) : lognormalExceedance(settings.detectSlowdown, settings.assumedLogSpread, q);
  const requiredCalls = tailTestSamples(sizingShare, exceedance, settings, alpha, power);
  const base = { test: 'latency_tail' as const, alpha, mesh: n1, legacy: n2, requiredCalls };
  if (n1 === 0 || n2 === 0) {
    const missing = n1 === 0 ? 'no mesh latency samples yet' : 'no legacy latency samples to compare against';
    return { ...base, verdict: 'not_enough_data', pValue: null, effect: null, reason: missing };
  }
  const result = stratifiedTailTest(strata, q);
  const effect = result.quantileRatio;
  const label = `p${Math.round(q * 1000) / 10}`;
  const summary = `mesh ${label} x${effect.toFixed(2)}, ${result.meshAbove} mesh / ${result.legacyAbove} legacy samples above it, p=${result.pValue.toPrecision(3)}`;
  if (result.pValue <= alpha && effect >= 1 + settings.minTailIncrease) {
    return { ...base, verdict: 'fail', pValue: result.pValue, effect, reason: `mesh tail slower (${summary})` };
  }
  if (n1 + n2 >= requiredCalls) return { ...base, verdict: 'pass', pValue: result.pValue, effect, reason: `no tail slowdown (${summary})` };
  return { ...base, verdict: 'not_enough_data', pValue: result.pValue, effect, reason: `${n1 + n2} of ${requiredCalls} samples (${summary})` };
}

function combine(verdicts: Verdict[]): Verdict {
  if (verdicts.includes('fail')) return 'fail';
  if (verdicts.includes('not_enough_data')) return 'not_enough_data';
  return 'pass';
}

/** The legacy samples of several methods as one sorted array (for sizing, not for testing). */
function pooledLegacy(parts: PreparedMethod[]): Float64Array {
  if (parts.length === 1) return parts[0].legacyLatency;
  const all = new Float64Array(parts.reduce((n, p) => n + p.legacyLatency.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p.legacyLatency, at);
    at += p.legacyLatency.length;
  }
  return all.sort();
}

function judgeScope(method: string | null, parts: PreparedMethod[], window: ServiceWindow, settings: GateSettings, alpha: number): ScopeVerdict {
  const mesh: StackCounts = { calls: 0, application: 0, transport: 0 };
  const legacy: StackCounts = { calls: 0, application: 0, transport: 0 };
  for (const part of parts) {
    mesh.calls += part.mesh.calls;
    mesh.application += part.mesh.application;
    mesh.transport += part.mesh.transport;
    legacy.calls += part.legacy.calls;
    legacy.application += part.legacy.application;
    legacy.transport += part.legacy.transport;
  }
  const total = mesh.calls + legacy.calls;
  // The tests' null hypotheses use the shares each method really had; the calls needed are sized
  // for the step's weight, as the plan sized them (an observed share a hair under the weight must
  // not move the goal posts).
  const share = mesh.calls > 0 && legacy.calls > 0 ? mesh.calls / total : window.weight;
  const sizingShare = window.weight > 0 && window.weight < 1 ? window.weight : share;
  const tests: TestVerdict[] = [];
  if (settings.errors) {
    tests.push(errorTest('application_errors', (c) => c.application, parts, mesh, legacy, sizingShare, settings.errors, alpha, settings.power));
    tests.push(errorTest('transport_errors', (c) => c.transport, parts, mesh, legacy, sizingShare, settings.errors, alpha, settings.power));
  }
  if (settings.latency) {
    const strata: LatencyStratum[] = parts.map((p) => ({ mesh: p.meshLatency, legacy: p.legacyLatency }));
    const legacySamples = pooledLegacy(parts);
    tests.push(latencyTest(strata, legacySamples, sizingShare, settings.latency, alpha, settings.power));
    tests.push(tailTest(strata, legacySamples, sizingShare, settings.latency, alpha, settings.power));
  }
  const verdict = combine(tests.map((t) => t.verdict));
  let moreCalls = 0;
  if (verdict === 'not_enough_data') {
    for (const t of tests) {
      if (t.verdict !== 'not_enough_data') continue;
      const have = t.test === 'latency' || t.test === 'latency_tail' ? t.mesh + t.legacy : total;
      moreCalls = Math.max(moreCalls, t.requiredCalls - have);
    }
  }
  const seconds = (window.to - window.from) / 1000;
  const rate = seconds > 0 ? total / seconds : 0;
  const moreSeconds = moreCalls === 0 ? 0 : rate > 0 && Number.isFinite(moreCalls) ? Math.ceil(moreCalls / rate) : null;
  const failed = tests.filter((t) => t.verdict === 'fail').map((t) => `${t.test}: ${t.reason}`);
  const reason =
    verdict === 'fail'
      ? failed.join('; ')
      : verdict === 'pass'
        ? `all ${tests.length} tests pass`
        : Number.isFinite(moreCalls)
          ? `needs ${moreCalls} more calls${moreSeconds !== null ? ` (about ${moreSeconds} s at the current rate)` : ''}`
          : 'cannot be judged at this weight: one stack has no traffic';
  return { method, verdict, meshCalls: mesh.calls, legacyCalls: legacy.calls, share, tests, moreCalls, moreSeconds, reason };
}

/**
 * Judges one service's window at `now`: the service as a whole and, when the window has more
 * than one method, each method on its own. The service fails when it or any method fails.
 */
export function judgeService(window: ServiceWindow, settings: GateSettings, now: number): ServiceVerdict {
  if (!(window.to >= window.from)) throw badWindow(`window ends (${window.to}) before it starts (${window.from})`, window.to, 'to');
  if (!(window.weight >= 0 && window.weight <= 1)) throw badWindow(`weight is a share between 0 and 1, got ${window.weight}`, window.weight, 'weight');
  if (!(settings.looks >= 1)) throw badWindow(`looks is at least 1, got ${settings.looks}`, settings.looks, 'looks');
  const age = now - window.to;
  if (age > settings.maxWindowAgeMs) {
    const stale = `the window ended ${Math.round(age / 1000)} s ago (more than ${settings.maxWindowAgeMs / 1000} s)`;
    const empty: ScopeVerdict = { method: null, verdict: 'not_enough_data', meshCalls: 0, legacyCalls: 0, share: window.weight, tests: [], moreCalls: 0, moreSeconds: null, reason: stale };
    return { service: window.service, verdict: 'not_enough_data', judgedAt: now, aggregate: empty, methods: [], failedMethods: [], reason: stale };
  }
  const perMethod = window.methods.length > 1;
  const scopes = perMethod ? window.methods.length + 1 : 1;
  const alpha = settings.alpha / (settings.looks * scopes);
  const prepared = window.methods.map((m, i) => prepare(m, `methods[${i}]`, settings.latency !== null));
  const aggregate = judgeScope(null, prepared, window, settings, alpha);
  const methods = perMethod ? prepared.map((m) => judgeScope(m.method, [m], window, settings, alpha)) : [];
  const failedMethods = methods.filter((m) => m.verdict === 'fail').map((m) => m.method as string);
  const verdict: Verdict = aggregate.verdict === 'fail' || failedMethods.length > 0 ? 'fail' : aggregate.verdict;
  const reason =
    failedMethods.length > 0 && aggregate.verdict !== 'fail'
      ? `method${failedMethods.length > 1 ? 's' : ''} ${failedMethods.join(', ')} fail: ${methods.filter((m) => m.verdict === 'fail').map((m) => m.reason).join('; ')}`
      : aggregate.reason;
  return { service: window.service, verdict, judgedAt: now, aggregate, methods, failedMethods, reason };
}
