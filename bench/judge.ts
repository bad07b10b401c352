// Judge benchmark: how often the cutover gate lets a regression through and how often it fails a
// healthy stack, over simulated canaries at the sample sizes the plan asks for, and how long one
// judgement of a 100,000-sample window takes. Seeded: the same numbers on every run.
//
//   (1) false pass, errors: mesh error rate 0.1 % -> 0.5 % (application exceptions in half the
//       canaries, transport failures in the other half), latency unchanged, full gate, at the
//       plan's call count for a 5 % step. "False pass" = verdict pass; a fail or a hold is not one.
//   (2) false pass, latency: every mesh latency x1.3 (so p99 +30 %), errors unchanged, the latency
//       tests alone at their own (smaller) sample size, where it is hardest for them.
//   (2b) the same, but only the slowest 3 % of mesh calls x1.3: median unchanged, p99 +30 %.
//   (3) false fail: identical stacks, full gate, at the plan's call count.
//   (3m) false fail: identical stacks, three methods at 50 / 25 / 5 % mesh weight with unlike error
//       rates and speeds (per-method routes): the service-wide tests must judge method by method.
//   (1s, 3s) the same for errors judged at every one of BENCH_LOOKS (30) intervals of a hold over
//       growing windows, as the runner will: each look at alpha / looks.
//   (4) judge time: median of repeated judgements of one 100,000-call window (both stacks'
//       latency samples sorted, ranked, and all three tests run).
// Latencies are log-normal (median 2 ms, σ of ln 0.6); error rates 0.1 % per class on legacy.
//
// Usage: npm run bench:judge     BENCH_CANARIES (1000)  BENCH_SEED (20261201)  BENCH_SHARE (0.05)  BENCH_LOOKS (30)
import { DEFAULT_GATE, GateSettings, Verdict, judgeService } from '../src/cutover-planner/judge';
import { gateRequirement } from '../src/cutover-planner/sample-size';
import { LEGACY_MODEL, SeededRandom, StackModel, simulateWindow } from '../src/cutover-planner/simulation';

const CANARIES = Number(process.env.BENCH_CANARIES ?? 1000);
const SEED = Number(process.env.BENCH_SEED ?? 20261201);
const SHARE = Number(process.env.BENCH_SHARE ?? 0.05);
const BAR_FALSE_PASS = 0.05;
const BAR_FALSE_FAIL = 0.02;
const WINDOW_MS = 60_000;
const LOOKS = Number(process.env.BENCH_LOOKS ?? 30);

const gate = DEFAULT_GATE;
const latencyOnly: GateSettings = { ...DEFAULT_GATE, errors: null };

type Tally = Record<Verdict, number>;

function run(label: string, random: SeededRandom, calls: number, settings: GateSettings, mesh: (i: number) => StackModel): Tally {
  const tally: Tally = { pass: 0, fail: 0, not_enough_data: 0 };
  const started = performance.now();
  for (let i = 0; i < CANARIES; i++) {
    const window = simulateWindow(random, calls, SHARE, mesh(i), LEGACY_MODEL, { durationMs: WINDOW_MS });
    tally[judgeService(window, settings, window.to).verdict]++;
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`${label}: ${CANARIES} canaries of ${calls} calls: pass ${tally.pass}, fail ${tally.fail}, not_enough_data ${tally.not_enough_data} (${seconds} s)`);
  return tally;
}

/**
 * A hold judged at every interval, as the runner does: LOOKS cumulative windows over the calls the
 * plan asks for at that many looks, error tests only (counts, so 1,000 canaries stay quick).
 * A canary fails if any look fails; it passes if it reaches the last look without failing and
 * the last look passes.
 */
function runSequential(label: string, random: SeededRandom, looks: number, meshModel: (i: number) => StackModel): Tally & { medianFailLook: number } {
  const settings: GateSettings = { ...gate, latency: null, looks };
  const calls = gateRequirement(SHARE, settings.errors, null, settings.alpha / looks, settings.power, null).calls;
  const perLook = Math.ceil(calls / looks);
  const tally: Tally = { pass: 0, fail: 0, not_enough_data: 0 };
  const failLooks: number[] = [];
  const started = performance.now();
  for (let i = 0; i < CANARIES; i++) {
    const mesh = meshModel(i);
    // Cumulative counts since the hold began: [ok, application_exception, reset] per stack.
    const meshTotals = [0, 0, 0];
    const legacyTotals = [0, 0, 0];
    let verdict: Verdict = 'not_enough_data';
    for (let look = 1; look <= looks; look++) {
      const meshCalls = Math.round(perLook * SHARE);
      const add = (totals: number[], model: StackModel, n: number): void => {
        const app = random.binomial(n, model.applicationRate);
        const reset = random.binomial(n - app, model.transportRate);
        totals[0] += n - app - reset;
        totals[1] += app;
        totals[2] += reset;
      };
      add(meshTotals, mesh, meshCalls);
      add(legacyTotals, LEGACY_MODEL, perLook - meshCalls);
      const outcomes = ([ok, app, reset]: number[]) => ({ ok, application_exception: app, reset });
      const to = look * WINDOW_MS;
      verdict = judgeService(
        {
          service: 'com.example.Simulated',
          from: 0,
          to,
          weight: SHARE,
          methods: [{ method: 'call', mesh: { outcomes: outcomes(meshTotals) }, legacy: { outcomes: outcomes(legacyTotals) } }],
        },
        settings,
        to,
      ).verdict;
      if (verdict === 'fail') {
        failLooks.push(look);
        break;
      }
    }
    tally[verdict]++;
  }
  failLooks.sort((a, b) => a - b);
  const medianFailLook = failLooks.length > 0 ? failLooks[failLooks.length >> 1] : 0;
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `${label}: ${CANARIES} canaries, ${looks} looks over ${perLook * looks} calls: pass ${tally.pass}, fail ${tally.fail}` +
      `${failLooks.length > 0 ? ` (median at look ${medianFailLook})` : ''}, not_enough_data ${tally.not_enough_data} (${seconds} s)`,
  );
  return { ...tally, medianFailLook };
}

/**
 * Identical stacks, but three methods at different mesh weights, error rates and speeds: what a
 * service with per-method routes looks like. Pooled, the mesh would look worse (it carries more of
 * the slow, failing method); judged method by method it must not.
 */
function runMixedMethods(label: string, random: SeededRandom, callsPerMethod: number): Tally {
  const methods = [
    { method: 'export', share: 0.5, model: { ...LEGACY_MODEL, applicationRate: 0.05, medianMicros: 20_000 } },
    { method: 'update', share: 0.25, model: { ...LEGACY_MODEL, applicationRate: 0.01, medianMicros: 5000 } },
    { method: 'get', share: SHARE, model: LEGACY_MODEL },
  ];
  const tally: Tally = { pass: 0, fail: 0, not_enough_data: 0 };
  const started = performance.now();
  for (let i = 0; i < CANARIES; i++) {
    const parts = methods.map((m) => simulateWindow(random, callsPerMethod, m.share, m.model, m.model, { durationMs: WINDOW_MS }).methods[0]);
    const window = { service: 'com.example.Mixed', from: 0, to: WINDOW_MS, weight: SHARE, methods: parts.map((p, j) => ({ ...p, method: methods[j].method })) };
    tally[judgeService(window, gate, WINDOW_MS).verdict]++;
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`${label}: ${CANARIES} canaries of 3 x ${callsPerMethod} calls: pass ${tally.pass}, fail ${tally.fail}, not_enough_data ${tally.not_enough_data} (${seconds} s)`);
  return tally;
}

function judgeTime(random: SeededRandom): number {
  const window = simulateWindow(random, 100_000, SHARE, LEGACY_MODEL, LEGACY_MODEL, { durationMs: WINDOW_MS });
  for (let i = 0; i < 5; i++) judgeService(window, gate, window.to);
  const times: number[] = [];
  for (let i = 0; i < 31; i++) {
    const started = performance.now();
    judgeService(window, gate, window.to);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

function main(): void {
  const random = new SeededRandom(SEED);
  const plan = gateRequirement(SHARE, gate.errors, gate.latency, gate.alpha, gate.power, 50);
  console.log(
    `plan at ${SHARE * 100} %: ${plan.calls} calls (errors ${plan.errorCalls}, latency ${plan.latencyCalls} at delta ${plan.latencyDelta.toFixed(3)}); ` +
      `hold ${plan.holdSeconds} s at 50 call/s; alpha ${gate.alpha} per test, power ${gate.power}`,
  );

  const errorRegression = run('errors 0.1 % -> 0.5 %', random, plan.calls, gate, (i) =>
    i % 2 === 0 ? { ...LEGACY_MODEL, applicationRate: 0.005 } : { ...LEGACY_MODEL, transportRate: 0.005 },
  );
  const slow = { ...LEGACY_MODEL, medianMicros: LEGACY_MODEL.medianMicros * 1.3 };
  const latencyRegression = run('latency x1.3 (p99 +30 %), latency tests alone', random, plan.latencyCalls, latencyOnly, () => slow);
  const slowTail = { ...LEGACY_MODEL, tail: { aboveQuantile: 0.97, factor: 1.3 } };
  const tailRegression = run('slowest 3 % x1.3 (median same, p99 +30 %), latency tests alone', random, plan.latencyCalls, latencyOnly, () => slowTail);
  const identical = run('identical stacks', random, plan.calls, gate, () => LEGACY_MODEL);
  const sequentialRegression = runSequential('errors 0.1 % -> 0.5 %, judged every interval', random, LOOKS, (i) =>
    i % 2 === 0 ? { ...LEGACY_MODEL, applicationRate: 0.005 } : { ...LEGACY_MODEL, transportRate: 0.005 },
  );
  const sequentialIdentical = runSequential('identical stacks, judged every interval', random, LOOKS, () => LEGACY_MODEL);
  const mixed = runMixedMethods('identical stacks, 3 methods at 50 / 25 / 5 % mesh, unlike rates and speeds', random, 30_000);

  const falsePass = Math.max(errorRegression.pass, latencyRegression.pass, tailRegression.pass, sequentialRegression.pass) / CANARIES;
  const falseFail = Math.max(identical.fail, sequentialIdentical.fail, mixed.fail) / CANARIES;
  const judgeMs = judgeTime(random);
  console.log(`judge time, 100,000-call window: ${judgeMs.toFixed(1)} ms (median of 31)`);
  const ok = falsePass <= BAR_FALSE_PASS && falseFail <= BAR_FALSE_FAIL;
  console.log(`bars: false_pass <= ${BAR_FALSE_PASS} and false_fail <= ${BAR_FALSE_FAIL}: ${ok ? 'met' : 'MISSED'}`);
  if (!ok) process.exitCode = 1;
  console.log(`false_pass=${falsePass.toFixed(3)} false_fail=${falseFail.toFixed(3)} judge_ms_100k=${Math.round(judgeMs)}`);
}

main();
