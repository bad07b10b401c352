// Per-method canaries in a real cutover (real ZooKeeper, two bridge processes, sofa-rpc-node
// providers, callers through both bridges): (c) one Dubbo method fails on the mesh while the
// others are fine: only that method is held back; (d) a quiet method holds with not enough data
// and never passes, until a person acts on it (pause, resume, rollback from another process).
import { stepId } from '../../src/cutover-planner/run-state';
import { CutoverLab, RunnerProcess, Traffic } from '../support/cutover-lab';
import { waitFor } from '../support/wait';

// Runs take a few holds each, more on a busy machine: the waits inside have their own deadlines.
jest.setTimeout(180_000);

const SERVICE = 'com.example.lab.PaymentService';
const METHODS = ['pay', 'query', 'refund', 'audit'];
const unit = (method: string) => `${SERVICE}#${method}`;

describe('per-method canaries against real bridges and providers', () => {
  let lab: CutoverLab;
  let runner: RunnerProcess;
  let traffic: Traffic;

  const operator = (command: string, target: string) =>
    lab.cli([command, target, '--zookeeper', lab.zk.connectString, '--run', 'methods', '--reason', 'test', '--wait', '20']);
  const lastState = (u: string) => runner.events().filter((e) => e.event === 'unit' && e.unit === u).pop();

  beforeAll(async () => {
    lab = await CutoverLab.start([{ name: SERVICE, methods: METHODS }]);
    // pay fails on the mesh (half its calls) from the start; audit is called once a second.
    lab.services.get(SERVICE)!.meshFailing.set('pay', 0.5);
    traffic = lab.startTraffic(SERVICE, { pay: 100, query: 100, refund: 100, audit: 1 });
    const file = lab.writePlaybook('methods', {
      name: 'methods',
      approvalBetweenWaves: false,
      defaults: {
        steps: [{ weight: 50, hold: '2s' }, { weight: 100 }],
        gate: { interval: '1s', errors: { baselineRate: 0.02, detectRate: 0.3, minRatio: 2 }, latency: false },
      },
      services: [
        {
          name: SERVICE,
          kind: 'dubbo',
          callsPerSecond: 301,
          methods: METHODS.map((name) => ({ name, callsPerSecond: name === 'audit' ? 1 : 100, steps: [{ weight: 25, hold: '2s' }, { weight: 100 }] })),
        },
      ],
    });
    runner = lab.startRunner(file);
  });

  afterAll(async () => {
    await traffic?.stop();
    await lab?.stop();
  });

  it('(c) holds back only the failing method: it rolls back to 0 % while the others reach 100 %', async () => {
    await runner.waitForEvent('pay rolled back', (e) => e.event === 'unit' && e.unit === unit('pay') && e.status === 'rolled_back', 90_000);
    for (const method of ['query', 'refund']) {
      await runner.waitForEvent(`${method} completed`, (e) => e.event === 'unit' && e.unit === unit(method) && e.status === 'completed', 90_000);
    }
    const payVerdicts = runner.events().filter((e) => e.event === 'verdict' && e.unit === unit('pay'));
    expect(payVerdicts.pop()).toMatchObject({ verdict: 'fail', step: 1 });
    for (const method of ['query', 'refund']) {
      const passes = runner.events().filter((e) => e.event === 'verdict' && e.unit === unit(method));
      expect(passes.every((v) => v.verdict !== 'fail')).toBe(true);
      expect(lastState(unit(method))).toMatchObject({ appliedStepIds: [stepId(unit(method), 0, 25), stepId(unit(method), 1, 100)] });
    }
    for (const bridge of lab.bridges) {
      await waitFor('pay back at 0', async () => (await lab.weightOn(bridge, SERVICE, 'pay')) === 0);
      expect(await lab.weightOn(bridge, SERVICE, 'query')).toBe(100);
      expect(await lab.weightOn(bridge, SERVICE, 'refund')).toBe(100);
      // The service itself never moved: it waits for its canaries.
      expect(await lab.weightOn(bridge, SERVICE)).toBe(0);
    }
    expect(lab.weightHistory(SERVICE, 'pay').filter((c) => c.after !== c.before).map((c) => c.after)).toEqual([25, 0]);
  });

  it('(d) holds a quiet method with not enough data, saying how many calls it needs, and never passes it', async () => {
    // Several looks at 25 % after its 2 s hold ran out.
    await waitFor('audit to be judged five times', () => runner.events().filter((e) => e.event === 'verdict' && e.unit === unit('audit')).length >= 5, 60_000);
    const looks = runner.events().filter((e) => e.event === 'verdict' && e.unit === unit('audit'));
    expect(looks.every((v) => v.verdict === 'not_enough_data')).toBe(true);
    expect(Number(looks[looks.length - 1].moreCalls)).toBeGreaterThan(0);
    expect(String(looks[looks.length - 1].reason)).toMatch(/needs \d+ more calls/);
    expect(lastState(unit('audit'))).toMatchObject({ status: 'holding', step: 1, weight: 25 });
    expect(runner.events().some((e) => e.event === 'apply' && e.unit === unit('audit') && e.weight === 100)).toBe(false);
    for (const bridge of lab.bridges) expect(await lab.weightOn(bridge, SERVICE, 'audit')).toBe(25);
  });

  it('takes pause, resume and rollback from a person in another process, and halts once nothing is left to run', async () => {
    // The whole run first: every moving unit pauses, and resumes.
    const zk = ['--zookeeper', lab.zk.connectString, '--run', 'methods'];
    expect((await lab.cli(['pause', ...zk, '--reason', 'lunch'])).code).toBe(0);
    await runner.waitForEvent('audit paused with the run', (e) => e.event === 'unit' && e.unit === unit('audit') && e.status === 'paused' && String(e.reason).includes('lunch'));
    expect((await lab.cli(['status', ...zk])).stdout).toMatch(/\(paused\)/);
    expect((await lab.cli(['resume', ...zk])).code).toBe(0);
    await runner.waitForEvent('audit resumed with the run', (e) => e.event === 'unit' && e.unit === unit('audit') && e.status === 'holding' && String(e.reason).startsWith('resumed'));

    expect((await operator('pause', unit('audit'))).code).toBe(0);
    await runner.waitForEvent('audit paused', (e) => e.event === 'unit' && e.unit === unit('audit') && e.status === 'paused');
    const status = await lab.cli(['status', '--zookeeper', lab.zk.connectString, '--run', 'methods']);
    expect(status.stdout).toMatch(new RegExp(`${unit('audit').replace(/[.#]/g, '\\$&')} +paused`));
    expect(status.stdout).toContain('(leads)');

    const resumedBefore = runner.events().filter((e) => e.event === 'unit' && e.unit === unit('audit') && String(e.reason).startsWith('resumed')).length;
    expect((await operator('resume', unit('audit'))).code).toBe(0);
    await waitFor('audit holding again', () => runner.events().filter((e) => e.event === 'unit' && e.unit === unit('audit') && e.status === 'holding' && String(e.reason).startsWith('resumed')).length > resumedBefore);

    expect((await operator('rollback', unit('audit'))).code).toBe(0);
    await runner.waitForEvent('audit rolled back', (e) => e.event === 'unit' && e.unit === unit('audit') && e.status === 'rolled_back');
    const done = await runner.waitForEvent('the run to end', (e) => e.event === 'done', 30_000);
    expect(done.status).toBe('halted');
    expect((await runner.exit).code).toBe(3);
    for (const bridge of lab.bridges) await waitFor('audit back at 0', async () => (await lab.weightOn(bridge, SERVICE, 'audit')) === 0);
  });
});
