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
//   (4) judge time: median of repeated judgements of one 100,000-call window (both stacks'
//       latency samples sorted, ranked, and all three tests run).
// Latencies are log-normal (median 2 ms, σ of ln 0.6); error rates 0.1 % per class on legacy.
//
// Usage: npm run bench:judge     BENCH_CANARIES (1000)  BENCH_SEED (20261201)  BENCH_SHARE (0.05)
import { DEFAULT_GATE, GateSettings, Verdict, judgeService } from '../src/cutover-planner/judge';
import { gateRequirement } from '../src/cutover-planner/sample-size';
import { LEGACY_MODEL, SeededRandom, StackModel, simulateWindow } from '../src/cutover-planner/simulation';

const CANARIES = Number(process.env.BENCH_CANARIES ?? 1000);
const SEED = Number(process.env.BENCH_SEED ?? 20261201);
const SHARE = Number(process.env.BENCH_SHARE ?? 0.05);
const BAR_FALSE_PASS = 0.05;
const BAR_FALSE_FAIL = 0.02;
const WINDOW_MS = 60_000;

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

  const falsePass = Math.max(errorRegression.pass, latencyRegression.pass, tailRegression.pass) / CANARIES;
  const falseFail = identical.fail / CANARIES;
  const judgeMs = judgeTime(random);
  console.log(`judge time, 100,000-call window: ${judgeMs.toFixed(1)} ms (median of 31)`);
  const ok = falsePass <= BAR_FALSE_PASS && falseFail <= BAR_FALSE_FAIL;
  console.log(`bars: false_pass <= ${BAR_FALSE_PASS} and false_fail <= ${BAR_FALSE_FAIL}: ${ok ? 'met' : 'MISSED'}`);
  if (!ok) process.exitCode = 1;
  console.log(`false_pass=${falsePass.toFixed(3)} false_fail=${falseFail.toFixed(3)} judge_ms_100k=${Math.round(judgeMs)}`);
}

main();
