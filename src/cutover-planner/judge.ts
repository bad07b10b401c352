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
// - Significance levels: `alpha` per test, divided by the planned looks at the hold (the runner
//   judges every interval) and by the scopes judged (the service and each method): Bonferroni.
import { MeshBridgeError } from '../errors';
import { OUTCOMES, Outcome, blameOf } from '../proxy/failure-class';
import { binomialTestGreater } from './binomial-test';
import { mannWhitneyGreaterSorted, slowdownDelta } from './mann-whitney';
import { ErrorDetection, LatencyDetection, errorTestCalls, lognormalSlowdownDelta, rankTestSamples, tailTestSamples } from './sample-size';
import { empiricalExceedance, lognormalExceedance, tailExceedanceTest } from './tail-test';

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
}

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

function sortedSamples(parts: ArrayLike<number>[], where: string): Float64Array {
  let n = 0;
  for (const part of parts) n += part.length;
  const out = new Float64Array(n);
  let at = 0;
  for (const part of parts) {
    for (let i = 0; i < part.length; i++) {
      const v = part[i];
      if (!(v >= 0) || v === Infinity) throw badWindow(`latency samples are finite and non-negative, got ${v}`, v, `${where}.latencyMicros[${i}]`);
      out[at++] = v;
    }
  }
  out.sort();
  return out;
}

function errorTest(
  test: GateTest,
  meshErrors: number,
  legacyErrors: number,
  mesh: StackCounts,
  legacy: StackCounts,
  share: number,
  sizingShare: number,
  settings: ErrorGateSettings,
  alpha: number,
  power: number,
): TestVerdict {
  const requiredCalls = errorTestCalls(sizingShare, settings, alpha, power);
  const base = { test, alpha, mesh: meshErrors, legacy: legacyErrors, requiredCalls };
  if (mesh.calls === 0 || legacy.calls === 0) {
    const missing = mesh.calls === 0 ? 'no mesh calls yet' : 'no legacy calls to compare against';
    return { ...base, verdict: 'not_enough_data', pValue: null, effect: null, reason: missing };
  }
  const pValue = binomialTestGreater(meshErrors, meshErrors + legacyErrors, share);
  const meshRate = meshErrors / mesh.calls;
  const legacyRate = legacyErrors / legacy.calls;
  const effect = legacyRate > 0 ? meshRate / legacyRate : meshRate > 0 ? Infinity : 1;
  const rates = `mesh ${meshErrors}/${mesh.calls}, legacy ${legacyErrors}/${legacy.calls}`;
  if (pValue <= alpha && effect >= settings.minRatio) {
    return { ...base, verdict: 'fail', pValue, effect, reason: `mesh fails more (${rates}, p=${pValue.toPrecision(3)})` };
  }
  if (mesh.calls + legacy.calls >= requiredCalls) {
    return { ...base, verdict: 'pass', pValue, effect, reason: `no regression (${rates})` };
  }
  return { ...base, verdict: 'not_enough_data', pValue, effect, reason: `${mesh.calls + legacy.calls} of ${requiredCalls} calls` };
}

function latencyTest(mesh: Float64Array, legacy: Float64Array, sizingShare: number, settings: LatencyDetection, alpha: number, power: number): TestVerdict {
  const n1 = mesh.length;
  const n2 = legacy.length;
  // The slowdown to catch, as an effect size on this traffic's own latency spread when known.
  const delta = n2 >= 100 ? slowdownDelta(legacy, settings.detectSlowdown) : lognormalSlowdownDelta(settings.detectSlowdown, settings.assumedLogSpread);
  const requiredCalls = rankTestSamples(sizingShare, delta, settings, alpha, power);
  const base = { test: 'latency' as const, alpha, mesh: n1, legacy: n2, requiredCalls };
  if (n1 === 0 || n2 === 0) {
    const missing = n1 === 0 ? 'no mesh latency samples yet' : 'no legacy latency samples to compare against';
    return { ...base, verdict: 'not_enough_data', pValue: null, effect: null, reason: missing };
  }
  const result = mannWhitneyGreaterSorted(mesh, legacy);
  const effect = result.cliffsDelta;
  const summary = `delta=${effect.toFixed(3)}, p=${result.pValue.toPrecision(3)}, ${n1} mesh / ${n2} legacy samples`;
  if (result.pValue <= alpha && effect >= settings.minDelta) {
    return { ...base, verdict: 'fail', pValue: result.pValue, effect, reason: `mesh slower (${summary})` };
  }
  if (n1 + n2 >= requiredCalls) return { ...base, verdict: 'pass', pValue: result.pValue, effect, reason: `no slowdown (${summary})` };
  return { ...base, verdict: 'not_enough_data', pValue: result.pValue, effect, reason: `${n1 + n2} of ${requiredCalls} samples (${summary})` };
}

function tailTest(mesh: Float64Array, legacy: Float64Array, sizingShare: number, settings: LatencyDetection, alpha: number, power: number): TestVerdict {
  const n1 = mesh.length;
  const n2 = legacy.length;
  const q = settings.tailQuantile;
  const exceedance = n2 >= 1000 ? empiricalExceedance(legacy, settings.detectSlowdown, q) : lognormalExceedance(settings.detectSlowdown, settings.assumedLogSpread, q);
  const requiredCalls = tailTestSamples(sizingShare, exceedance, settings, alpha, power);
  const base = { test: 'latency_tail' as const, alpha, mesh: n1, legacy: n2, requiredCalls };
  if (n1 === 0 || n2 === 0) {
    const missing = n1 === 0 ? 'no mesh latency samples yet' : 'no legacy latency samples to compare against';
    return { ...base, verdict: 'not_enough_data', pValue: null, effect: null, reason: missing };
  }
  const result = tailExceedanceTest(mesh, legacy, q);
  const effect = result.quantileRatio;
  const label = `p${Math.round(q * 1000) / 10}`;
  const summary = `mesh ${label} x${effect.toFixed(2)}, ${result.meshAbove} mesh / ${result.legacyAbove} legacy samples above ${result.threshold.toFixed(0)} µs, p=${result.pValue.toPrecision(3)}`;
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

function judgeScope(
  method: string | null,
  parts: MethodWindow[],
  window: ServiceWindow,
  settings: GateSettings,
  alpha: number,
  where: string,
): ScopeVerdict {
  const mesh: StackCounts = { calls: 0, application: 0, transport: 0 };
  const legacy: StackCounts = { calls: 0, application: 0, transport: 0 };
  parts.forEach((part, i) => {
    const m = countStack(part.mesh, `${where}[${i}].mesh`);
    const l = countStack(part.legacy, `${where}[${i}].legacy`);
    mesh.calls += m.calls;
    mesh.application += m.application;
    mesh.transport += m.transport;
    legacy.calls += l.calls;
    legacy.application += l.application;
    legacy.transport += l.transport;
  });
  const total = mesh.calls + legacy.calls;
  // The test's null hypothesis uses the share the window really had; the calls it needs are sized
  // for the step's weight, as the plan sized them (an observed share a hair under the weight must
  // not move the goal posts).
  const share = mesh.calls > 0 && legacy.calls > 0 ? mesh.calls / total : window.weight;
  const sizingShare = window.weight > 0 && window.weight < 1 ? window.weight : share;
  const tests: TestVerdict[] = [];
  if (settings.errors) {
    tests.push(errorTest('application_errors', mesh.application, legacy.application, mesh, legacy, share, sizingShare, settings.errors, alpha, settings.power));
    tests.push(errorTest('transport_errors', mesh.transport, legacy.transport, mesh, legacy, share, sizingShare, settings.errors, alpha, settings.power));
  }
  if (settings.latency) {
    const meshSamples = sortedSamples(parts.map((p) => p.mesh.latencyMicros ?? []), `${where}.mesh`);
    const legacySamples = sortedSamples(parts.map((p) => p.legacy.latencyMicros ?? []), `${where}.legacy`);
    tests.push(latencyTest(meshSamples, legacySamples, sizingShare, settings.latency, alpha, settings.power));
    tests.push(tailTest(meshSamples, legacySamples, sizingShare, settings.latency, alpha, settings.power));
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
  const aggregate = judgeScope(null, window.methods, window, settings, alpha, 'methods');
  const methods = perMethod ? window.methods.map((m, i) => judgeScope(m.method, [m], window, settings, alpha, `methods[${i}]`)) : [];
  const failedMethods = methods.filter((m) => m.verdict === 'fail').map((m) => m.method as string);
  const verdict: Verdict = aggregate.verdict === 'fail' || failedMethods.length > 0 ? 'fail' : aggregate.verdict;
  const reason =
    failedMethods.length > 0 && aggregate.verdict !== 'fail'
      ? `method${failedMethods.length > 1 ? 's' : ''} ${failedMethods.join(', ')} fail: ${methods.filter((m) => m.verdict === 'fail').map((m) => m.reason).join('; ')}`
      : aggregate.reason;
  return { service: window.service, verdict, judgedAt: now, aggregate, methods, failedMethods, reason };
}
