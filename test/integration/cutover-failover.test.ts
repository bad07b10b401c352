// One runner at a time, and a runner killed with -9 replaced by another that continues from the
// recorded state without applying any step twice: real ZooKeeper, two real bridge processes,
// `mesh-bridge cutover run` processes. The gates are off here (a pass at each hold's end), so
// this tests the election and the recorded state, not the judge.
import { planFromFiles } from '../../src/cli/commands/cutover';
import { DEFAULT_RUN_TIMINGS, unitSpecs } from '../../src/cutover-planner/run-plan';
import { initialState, stepId, transition } from '../../src/cutover-planner/run-state';
import { RunStore } from '../../src/cutover-planner/runner/run-store';
import { silentLogger } from '../../src/telemetry/logger';
import { ZkSession } from '../../src/zookeeper-sync/zk-session';
import { CutoverLab, RunnerEvent } from '../support/cutover-lab';

const KILLED = 'com.example.lab.KilledService';
const RECORDED = 'com.example.lab.RecordedService';

function playbook(name: string, service: string): object {
  return {
    name,
    approvalBetweenWaves: false,
    defaults: {
      steps: [{ weight: 10, hold: '3s' }, { weight: 30, hold: '3s' }, { weight: 60, hold: '3s' }, { weight: 100 }],
      gate: { interval: '1s', errors: false, latency: false },
    },
    services: [{ name: service, kind: 'dubbo', callsPerSecond: 50 }],
  };
}

async function status(lab: CutoverLab, run: string): Promise<{ units: Array<{ unit: string; status: string; appliedStepIds: string[] }> }> {
  const answer = await lab.cli(['status', '--json', '--zookeeper', lab.zk.connectString, '--run', run]);
  if (answer.code !== 0) throw new Error(`cutover status failed: ${answer.stderr}`);
  return JSON.parse(answer.stdout);
}

describe('cutover runners: leader election and a kill -9', () => {
  let lab: CutoverLab;

  beforeAll(async () => {
    lab = await CutoverLab.start([
      { name: KILLED, methods: ['sayHello'] },
      { name: RECORDED, methods: ['sayHello'] },
    ]);
  });

  afterAll(async () => {
    await lab?.stop();
  });

  it('lets one runner lead; after a kill -9 mid-step the waiting one finishes without a step applied twice', async () => {
    const file = lab.writePlaybook('killed', playbook('killed', KILLED));
    const first = lab.startRunner(file);
    await first.waitForEvent('the first runner to lead', (e) => e.event === 'leading');
    const second = lab.startRunner(file);
    await second.waitForEvent('the second runner to wait', (e) => e.event === 'waiting');

    const step2 = stepId(KILLED, 1, 30);
    await first.waitForEvent('step 2 to be sent', (e) => e.event === 'apply' && e.stepId === step2);
    first.kill('SIGKILL');
    await first.exit;

    await second.waitForEvent('the second runner to take over', (e) => e.event === 'leading', 30_000);
    const done = await second.waitForEvent('the run to complete', (e) => e.event === 'done', 60_000);
    expect(done.status).toBe('completed');
    expect((await second.exit).code).toBe(0);

    // The recorded state: every step once, in order.
    const unit = (await status(lab, 'killed')).units.find((u) => u.unit === KILLED)!;
    expect(unit.status).toBe('completed');
    expect(unit.appliedStepIds).toEqual([stepId(KILLED, 0, 10), step2, stepId(KILLED, 2, 60), stepId(KILLED, 3, 100)]);

    // The bridges' audit log: the weight went up step by step, never back, never a step again
    // (the step in flight may be re-sent by the new leader: the same weight, no change).
    const changes = lab.weightHistory(KILLED).filter((c) => c.after !== c.before);
    expect(changes.map((c) => c.after)).toEqual([10, 30, 60, 100]);
    for (const bridge of lab.bridges) expect(await lab.weightOn(bridge, KILLED)).toBe(100);

    // The second runner started no step the first had applied.
    const secondApplies = second.events().filter((e: RunnerEvent) => e.event === 'apply').map((e) => e.stepId);
    expect(secondApplies).not.toContain(stepId(KILLED, 0, 10));
    expect(new Set(secondApplies).size).toBe(secondApplies.length);
  });

  it('finishes a step recorded as promoting (its runner died before the weight was set) under the same id', async () => {
    const file = lab.writePlaybook('recorded', playbook('recorded', RECORDED));
    const plan = planFromFiles({ playbook: file });
    const [spec] = unitSpecs(plan, DEFAULT_RUN_TIMINGS);
    // What a runner killed right after recording step 1 leaves behind: promoting, weight not set.
    const session = new ZkSession({ connectString: lab.zk.connectString, sessionTimeoutMs: 4000, logger: silentLogger() });
    session.start();
    try {
      await session.whenConnected(10_000);
      const store = new RunStore(session, 'recorded');
      await store.createOrCheck({ runId: 'recorded', createdAt: Date.now(), timings: DEFAULT_RUN_TIMINGS, plan });
      const promoting = transition(spec, initialState(spec, Date.now()), { type: 'start' }, Date.now()).state;
      expect(promoting.status).toBe('promoting');
      await store.writeUnit(promoting, -1);
    } finally {
      await session.close();
    }
    expect(await lab.weightOn(lab.bridges[0], RECORDED)).toBe(0);

    const runner = lab.startRunner(file);
    const done = await runner.waitForEvent('the run to complete', (e) => e.event === 'done', 60_000);
    expect(done.status).toBe('completed');
    const applies = runner.events().filter((e) => e.event === 'apply');
    expect(applies[0]).toMatchObject({ stepId: stepId(RECORDED, 0, 10), weight: 10 });
    const unit = (await status(lab, 'recorded')).units[0];
    expect(unit.appliedStepIds).toEqual([10, 30, 60, 100].map((w, i) => stepId(RECORDED, i, w)));
    expect(lab.weightHistory(RECORDED).filter((c) => c.after !== c.before).map((c) => c.after)).toEqual([10, 30, 60, 100]);
  });
});
