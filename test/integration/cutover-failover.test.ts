// One runner at a time, and a runner killed with -9 replaced by another that continues from the
// recorded state without applying any step twice; approvals of steps and waves from another
// process; a runner refused when the recorded run has another plan. Real ZooKeeper, two real
// bridge processes, `mesh-bridge cutover run` processes. The gates are off here (a pass at each
// hold's end), so this tests the election and the recorded state, not the judge.
import { request } from 'undici';
import { parseAllDocuments } from 'yaml';
import { planFromFiles } from '../../src/cli/commands/cutover';
import { parseDubboUrl } from '../../src/dubbo-codec/dubbo-url';
import { DEFAULT_RUN_TIMINGS, unitSpecs } from '../../src/cutover-planner/run-plan';
import { initialState, stepId, transition } from '../../src/cutover-planner/run-state';
import { RunStore } from '../../src/cutover-planner/runner/run-store';
import { silentLogger } from '../../src/telemetry/logger';
import { ZkSession } from '../../src/zookeeper-sync/zk-session';
import { CutoverLab, RunnerEvent } from '../support/cutover-lab';
import { waitFor } from '../support/wait';
import { freePort } from '../support/zookeeper';

// Runs take a few holds each, more on a busy machine: the waits inside have their own deadlines.
jest.setTimeout(180_000);

const KILLED = 'com.example.lab.KilledService';
const RECORDED = 'com.example.lab.RecordedService';
const ROLLING = 'com.example.lab.RollingBackService';
const RESTARTED = 'com.example.lab.ZookeeperRestartService';
const FIRST = 'com.example.lab.FirstWaveService';
const SECOND = 'com.example.lab.SecondWaveService';

function playbook(name: string, service: string): object {
  return {
    name,
    approvalBetweenWaves: false,
    defaults: {
      steps: [{ weight: 10, hold: '2s' }, { weight: 30, hold: '2s' }, { weight: 60, hold: '2s' }, { weight: 100 }],
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
      { name: ROLLING, methods: ['sayHello'] },
      { name: RESTARTED, methods: ['sayHello'] },
      { name: FIRST, methods: ['sayHello'] },
      { name: SECOND, methods: ['sayHello'] },
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

  it('finishes a rollback recorded in flight (its runner died before the weight went back): every replica back at 0 %, the registry export withdrawn', async () => {
    const file = lab.writePlaybook('rolling', playbook('rolling', ROLLING));
    const plan = planFromFiles({ playbook: file });
    const [spec] = unitSpecs(plan, DEFAULT_RUN_TIMINGS);
    // Step 1 at 10 % is in force, then a rollback was recorded and its runner died before acting.
    const put = await request(`${lab.bridges[1].admin}/weights/${ROLLING}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mesh: 10 }) });
    expect(put.statusCode).toBe(200);
    await put.body.text();
    // While migrating, the bridges export the mesh twin into ZooKeeper beside the legacy provider.
    const exported = async () => (await lab.registryNodes(ROLLING, 'providers')).filter((url) => url.includes('mesh-bridge='));
    await waitFor('the mesh twin exported at 10 %', async () => (await exported()).length > 0);
    const session = new ZkSession({ connectString: lab.zk.connectString, sessionTimeoutMs: 4000, logger: silentLogger() });
    session.start();
    try {
      await session.whenConnected(10_000);
      const store = new RunStore(session, 'rolling');
      await store.createOrCheck({ runId: 'rolling', createdAt: Date.now(), timings: DEFAULT_RUN_TIMINGS, plan });
      let state = transition(spec, initialState(spec, Date.now()), { type: 'start' }, Date.now()).state;
      state = transition(spec, state, { type: 'applied', stepId: stepId(ROLLING, 0, 10) }, Date.now()).state;
      state = transition(spec, state, { type: 'rollback', reason: 'test' }, Date.now()).state;
      expect(state.status).toBe('rolling_back');
      await store.writeUnit(state, -1);
    } finally {
      await session.close();
    }

    const runner = lab.startRunner(file);
    const done = await runner.waitForEvent('the run to end', (e) => e.event === 'done', 60_000);
    expect(done.status).toBe('halted');
    expect((await runner.exit).code).toBe(3);
    expect(runner.events().filter((e) => e.event === 'restore')).toMatchObject([{ rollbackId: `${ROLLING}@rollback-1`, weight: 0 }]);
    expect(runner.events().some((e) => e.event === 'apply')).toBe(false);
    for (const bridge of lab.bridges) expect(await lab.weightOn(bridge, ROLLING)).toBe(0);
    // The registry exports follow the weight back: only the legacy provider is left.
    await waitFor('the export withdrawn', async () => (await exported()).length === 0);
    expect(await lab.registryNodes(ROLLING, 'providers')).toEqual([lab.services.get(ROLLING)!.legacy.url]);
  });

  it('waits for a person at an approval step and between waves, and goes on when approved from another process', async () => {
    const file = lab.writePlaybook('approvals', {
      name: 'approvals',
      maxServicesPerWave: 1,
      approvalBetweenWaves: true,
      defaults: { steps: [{ weight: 10, hold: '1s' }, { weight: 50, hold: '1s', approval: true }, { weight: 100 }], gate: { interval: '1s', errors: false, latency: false } },
      services: [FIRST, SECOND].map((name) => ({ name, kind: 'dubbo', callsPerSecond: 50 })),
    });
    const zk = ['--zookeeper', lab.zk.connectString, '--run', 'approvals'];
    const metricsPort = await freePort();
    const runner = lab.startRunner(file, ['--metrics-port', String(metricsPort)]);
    const awaiting = (unit: string) => runner.waitForEvent(`${unit} to wait for approval`, (e) => e.event === 'unit' && e.unit === unit && e.status === 'awaiting_approval', 30_000);

    await awaiting(FIRST);
    expect(runner.events().some((e) => e.event === 'notify' && String(e.message).includes(`cutover approve ${FIRST}`))).toBe(true);
    // A person looks, and approves whatever waits.
    expect((await lab.cli(['status', ...zk])).stdout).toMatch(/awaiting_approval/);
    const approved = await lab.cli(['approve', ...zk, '--json']);
    expect(approved.code).toBe(0);
    expect(JSON.parse(approved.stdout).taken).toEqual([{ type: 'approve', unit: FIRST, stepId: stepId(FIRST, 1, 50) }]);
    await runner.waitForEvent('the first wave to complete', (e) => e.event === 'unit' && e.unit === FIRST && e.status === 'completed', 30_000);

    // The second wave waits for its own approval; nothing of it moves before.
    await runner.waitForEvent('the run to wait for wave 2', (e) => e.event === 'progress' && e.status === 'awaiting_wave_approval' && e.wave === 2, 30_000);
    expect(await lab.weightOn(lab.bridges[0], SECOND)).toBe(0);
    expect((await lab.cli(['approve', ...zk, '--wave', '2'])).code).toBe(0);
    await awaiting(SECOND);
    expect((await lab.cli(['approve', SECOND, ...zk])).code).toBe(0);
    // What the runner did, for the Prometheus that watches the migration.
    const metrics = await (await request(`http://127.0.0.1:${metricsPort}/metrics`)).body.text();
    expect(metrics).toMatch(/mesh_bridge_cutover_events_total\{event="applied"\} [1-9]/);
    expect(metrics).toMatch(/mesh_bridge_cutover_leader 1/);
    const done = await runner.waitForEvent('the run to complete', (e) => e.event === 'done', 30_000);
    expect(done.status).toBe('completed');
    for (const service of [FIRST, SECOND]) expect(await lab.weightOn(lab.bridges[1], service)).toBe(100);

    // Nothing waits any more: approving is refused, saying why.
    const late = await lab.cli(['approve', ...zk]);
    expect(late.code).toBe(1);
    expect(late.stderr).toContain('CUTOVER_BAD_COMMAND: nothing waits for approval');
  });

  it('refuses to run a recorded run with another plan', async () => {
    const other = lab.writePlaybook('other', { ...(playbook('other', FIRST) as object), name: 'approvals' });
    const runner = lab.startRunner(other);
    expect((await runner.exit).code).toBe(1);
    expect(runner.stderr).toContain('CUTOVER_PLAN_MISMATCH');
  });

  it('exports the weights in force as Istio resources and as Dubbo override configurators', async () => {
    const bridges = ['--bridges', lab.adminUrls.join(',')];
    const istio = await lab.cli(['export', '--format', 'istio', '--namespace', 'lab', ...bridges]);
    expect(istio.code).toBe(0);
    const docs = parseAllDocuments(istio.stdout).map((d) => d.toJS());
    const vs = docs.find((d) => d?.kind === 'VirtualService' && d.spec.hosts[0] === KILLED);
    expect(vs.metadata.namespace).toBe('lab');
    expect(vs.spec.http[0].route.map((r: { destination: { subset: string }; weight: number }) => [r.destination.subset, r.weight])).toEqual([
      ['legacy', 0],
      ['mesh', 100],
    ]);

    const dubbo = await lab.cli(['export', '--format', 'dubbo', ...bridges]);
    expect(dubbo.code).toBe(0);
    const urls = dubbo.stdout
      .split('\n')
      .filter((l) => l.startsWith('override://'))
      .map(parseDubboUrl)
      .filter((u) => u.path === KILLED);
    const { legacy, mesh } = lab.services.get(KILLED)!;
    const weightAt = (port: number) => urls.find((u) => u.port === port)?.params.get('weight');
    // At 100 % the legacy provider gets nothing and the mesh twin everything.
    expect(weightAt(legacy.port)).toBe('0');
    expect(Number(weightAt(mesh.port))).toBeGreaterThan(0);
    expect(urls.every((u) => u.params.get('category') === 'configurators' && u.params.get('enabled') === 'true')).toBe(true);
  });

  it('goes on after ZooKeeper restarts mid-run, without a step applied twice', async () => {
    const file = lab.writePlaybook('restarted', playbook('restarted', RESTARTED));
    const runner = lab.startRunner(file);
    await runner.waitForEvent('step 1 applied', (e) => e.event === 'applied' && e.unit === RESTARTED, 30_000);
    await lab.zk.restart();
    const done = await runner.waitForEvent('the run to end', (e) => e.event === 'done', 90_000);
    expect(done.status).toBe('completed');
    const unit = (await status(lab, 'restarted')).units[0];
    expect(unit.appliedStepIds).toEqual([10, 30, 60, 100].map((w, i) => stepId(RESTARTED, i, w)));
    expect(lab.weightHistory(RESTARTED).filter((c) => c.after !== c.before).map((c) => c.after)).toEqual([10, 30, 60, 100]);
  });
});
