// A real cutover: real ZooKeeper, two real bridge processes sharing weights, sofa-rpc-node legacy
// providers and mesh twins behind them, callers sending Dubbo traffic through both bridges, and
// `mesh-bridge cutover run` judging each step from the bridges' call histograms.
// (a) a clean service goes 0 -> 100 and its wave completes; (b) the mesh twin starts failing at
// 25 %: the gate fails at its first look and the weights (and so the registry exports) go back.
import { stepId } from '../../src/cutover-planner/run-state';
import { CutoverLab, RunnerEvent } from '../support/cutover-lab';
import { waitFor } from '../support/wait';

// Runs take a few holds each, more on a busy machine: the waits inside have their own deadlines.
jest.setTimeout(180_000);

const CLEAN = 'com.example.lab.CleanService';
const FAILING = 'com.example.lab.FailingService';
const INTERVAL_MS = 1000;

/** Short holds and a gate sized for test traffic (2 % -> 30 % errors: about 200 calls a step). */
function playbook(name: string, service: string, steps: object[]): object {
  return {
    name,
    approvalBetweenWaves: false,
    defaults: {
      steps,
      gate: {
        interval: `${INTERVAL_MS / 1000}s`,
        errors: { baselineRate: 0.02, detectRate: 0.3, minRatio: 2 },
        latency: { detectSlowdown: 4, minDelta: 0.3, minTailIncrease: 1 },
      },
    },
    services: [{ name: service, kind: 'dubbo', callsPerSecond: 150 }],
  };
}

const verdicts = (events: RunnerEvent[], unit: string) => events.filter((e) => e.event === 'verdict' && e.unit === unit);

describe('a cutover run against real bridges and providers', () => {
  let lab: CutoverLab;

  beforeAll(async () => {
    lab = await CutoverLab.start([
      { name: CLEAN, methods: ['sayHello', 'sayBye'] },
      { name: FAILING, methods: ['sayHello'] },
    ]);
  });

  afterAll(async () => {
    await lab?.stop();
  });

  it('(a) moves a clean service 0 -> 25 -> 50 -> 100 on every replica, each step judged a pass, and completes the wave', async () => {
    const traffic = lab.startTraffic(CLEAN, { sayHello: 100, sayBye: 50 });
    const file = lab.writePlaybook('clean', playbook('clean', CLEAN, [{ weight: 25, hold: '2s' }, { weight: 50, hold: '2s' }, { weight: 100 }]));
    const runner = lab.startRunner(file);
    const done = await runner.waitForEvent('the run to end', (e) => e.event === 'done', 120_000);
    await traffic.stop();
    expect(done.status).toBe('completed');
    expect((await runner.exit).code).toBe(0);

    const events = runner.events();
    const passes = verdicts(events, CLEAN).filter((v) => v.verdict === 'pass');
    expect(passes.map((v) => v.step)).toEqual([1, 2]);
    expect(verdicts(events, CLEAN).every((v) => v.verdict !== 'fail')).toBe(true);
    // Judged on both methods' calls, through both bridges.
    expect(Number(passes[0].meshCalls)).toBeGreaterThan(0);
    expect(Number(passes[0].legacyCalls)).toBeGreaterThan(Number(passes[0].meshCalls));
    const last = events.filter((e) => e.event === 'unit' && e.unit === CLEAN).pop()!;
    expect(last).toMatchObject({ status: 'completed', appliedStepIds: [stepId(CLEAN, 0, 25), stepId(CLEAN, 1, 50), stepId(CLEAN, 2, 100)] });
    expect(events.some((e) => e.event === 'progress' && e.status === 'completed')).toBe(true);
    for (const bridge of lab.bridges) expect(await lab.weightOn(bridge, CLEAN)).toBe(100);
    expect(lab.weightHistory(CLEAN).filter((c) => c.after !== c.before).map((c) => c.after)).toEqual([25, 50, 100]);
  });

  it('(b) fails the gate at the first look after the mesh twin starts failing at 25 %, and puts the weights back', async () => {
    const traffic = lab.startTraffic(FAILING, { sayHello: 150 });
    const file = lab.writePlaybook('failing', playbook('failing', FAILING, [{ weight: 10, hold: '2s' }, { weight: 25, hold: '5s' }, { weight: 50, hold: '2s' }, { weight: 100 }]));
    const runner = lab.startRunner(file);
    const applied = await runner.waitForEvent('25 % applied', (e) => e.event === 'applied' && e.weight === 25, 90_000);
    lab.services.get(FAILING)!.meshFailing.set('sayHello', 0.5);
    const appliedAt = Date.now();

    const failed = await runner.waitForEvent('the gate to fail', (e) => e.event === 'verdict' && e.verdict === 'fail', 30_000);
    const failedAfterMs = Date.parse(String(failed.at)) - appliedAt;
    const done = await runner.waitForEvent('the run to end', (e) => e.event === 'done', 60_000);
    await traffic.stop();

    // The first look at 25 % already fails: one interval (the hold's first scrape comes a tick after the weight).
    const atStep2 = verdicts(runner.events(), FAILING).filter((v) => v.step === 2);
    expect(atStep2[0]).toEqual(failed);
    expect(failedAfterMs).toBeLessThan(INTERVAL_MS * 3);
    expect(String(failed.reason)).toMatch(/application_errors|mesh fails more/);
    expect(applied.stepId).toBe(stepId(FAILING, 1, 25));

    expect(done.status).toBe('halted');
    expect((await runner.exit).code).toBe(3);
    const states = runner.events().filter((e) => e.event === 'unit' && e.unit === FAILING).map((e) => e.status);
    expect(states.slice(-2)).toEqual(['rolling_back', 'rolled_back']);
    expect(runner.events().some((e) => e.event === 'restored' && e.unit === FAILING && e.weight === 0)).toBe(true);
    for (const bridge of lab.bridges) await waitFor('the weight back at 0', async () => (await lab.weightOn(bridge, FAILING)) === 0);
    // And so the registry export: the mesh twin's URL leaves ZooKeeper, the legacy provider stays.
    await waitFor('the mesh export withdrawn', async () => (await lab.registryNodes(FAILING, 'providers')).every((url) => !url.includes('mesh-bridge=')));
    expect(await lab.registryNodes(FAILING, 'providers')).toEqual([lab.services.get(FAILING)!.legacy.url]);
    expect(lab.weightHistory(FAILING).filter((c) => c.after !== c.before).map((c) => c.after)).toEqual([10, 25, 0]);
    // Never beyond the failing step.
    expect(runner.events().some((e) => e.event === 'apply' && e.weight === 50)).toBe(false);
  });
});
