import { isMeshBridgeError } from '../errors';
import { Transition, UnitAction, UnitEvent, UnitSpec, UnitState, initialState, stepId, transition } from './run-state';

const T0 = 1_700_000_000_000;
const MIN = 60_000;

function spec(overrides: Partial<UnitSpec> = {}): UnitSpec {
  return {
    unit: 'com.example.Ledger',
    steps: [
      { weight: 1, holdSeconds: 600, approval: false, freeze: false },
      { weight: 5, holdSeconds: 600, approval: false, freeze: false },
      { weight: 25, holdSeconds: 600, approval: true, freeze: false },
      { weight: 100, holdSeconds: null, approval: false, freeze: false },
    ],
    rollback: { to: 'zero', restores: ['weights', 'registry_exports'] },
    maxHoldSeconds: 3600,
    retrySeconds: 30,
    promoteTimeoutSeconds: 300,
    ...overrides,
  };
}

/** Applies events in turn, checking each state survives a JSON round trip (it is what is stored). */
function run(s: UnitSpec, state: UnitState, events: Array<[UnitEvent, number]>): Transition {
  let result: Transition = { state, actions: [] };
  for (const [event, now] of events) {
    result = transition(s, JSON.parse(JSON.stringify(result.state)) as UnitState, event, now);
  }
  return result;
}

describe('the unit state machine', () => {
  const s = spec();
  const id = (i: number) => stepId(s.unit, i, s.steps[i].weight);

  it('records the step it promotes before asking for its weight', () => {
    const { state, actions } = transition(s, initialState(s, T0), { type: 'start' }, T0);
    expect(state.status).toBe('promoting');
    expect(state.pendingStep).toMatchObject({ id: id(0), weight: 1 });
    expect(actions).toEqual([{ type: 'apply_weight', unit: s.unit, stepId: id(0), weight: 1 }]);
  });

  it('holds after the weight is applied, passes on a pass verdict after the hold, waits for approval, completes', () => {
    const r = run(s, initialState(s, T0), [
      [{ type: 'start' }, T0],
      [{ type: 'applied', stepId: id(0) }, T0 + 1000],
      [{ type: 'verdict', verdict: 'pass', reason: 'ok' }, T0 + 5 * MIN], // before the hold ends: stays
    ]);
    expect(r.state.status).toBe('holding');
    const r2 = run(s, r.state, [[{ type: 'verdict', verdict: 'pass', reason: 'ok' }, T0 + 11 * MIN]]);
    expect(r2.state.status).toBe('promoting');
    expect(r2.state.lastPassedStep).toBe(0);
    const r3 = run(s, r2.state, [
      [{ type: 'applied', stepId: id(1) }, T0 + 11 * MIN],
      [{ type: 'verdict', verdict: 'pass', reason: 'ok' }, T0 + 22 * MIN],
    ]);
    expect(r3.state.status).toBe('awaiting_approval');
    expect(r3.actions[0]).toMatchObject({ type: 'notify' });
    const r4 = run(s, r3.state, [
      [{ type: 'approve', stepId: id(2) }, T0 + 30 * MIN],
      [{ type: 'applied', stepId: id(2) }, T0 + 30 * MIN],
      [{ type: 'verdict', verdict: 'pass', reason: 'ok' }, T0 + 41 * MIN],
    ]);
    expect(r4.state.status).toBe('promoting');
    const r5 = run(s, r4.state, [[{ type: 'applied', stepId: id(3) }, T0 + 41 * MIN]]);
    expect(r5.state.status).toBe('completed');
    expect(r5.state.appliedStepIds).toEqual([id(0), id(1), id(2), id(3)]);
  });

  it('never passes a step on not_enough_data, and pauses for a person when the data never comes', () => {
    const held = run(s, initialState(s, T0), [
      [{ type: 'start' }, T0],
      [{ type: 'applied', stepId: id(0) }, T0],
      [{ type: 'verdict', verdict: 'not_enough_data', reason: 'needs 5000 more calls' }, T0 + 30 * MIN],
      [{ type: 'tick' }, T0 + 60 * MIN],
    ]);
    expect(held.state.status).toBe('holding');
    const paused = run(s, held.state, [[{ type: 'tick' }, T0 + 71 * MIN]]);
    expect(paused.state.status).toBe('paused');
    expect(paused.state.reason).toContain('needs 5000 more calls');
  });

  it('rolls back on a failing gate, as a state of its own, until the restore is acknowledged', () => {
    const failing = run(s, initialState(s, T0), [
      [{ type: 'start' }, T0],
      [{ type: 'applied', stepId: id(0) }, T0],
      [{ type: 'verdict', verdict: 'fail', reason: 'mesh fails more' }, T0 + MIN],
    ]);
    expect(failing.state.status).toBe('rolling_back');
    expect(failing.actions).toEqual([{ type: 'restore', unit: s.unit, rollbackId: `${s.unit}@rollback-1`, weight: 0, restores: ['weights', 'registry_exports'] }]);
    // Not acknowledged: re-sent after retrySeconds, and it stays rolling back (never stuck elsewhere).
    const retried = run(s, failing.state, [[{ type: 'tick' }, T0 + MIN + 31_000]]);
    expect(retried.actions[0]).toMatchObject({ type: 'restore', rollbackId: `${s.unit}@rollback-1` });
    expect(() => transition(s, retried.state, { type: 'pause', reason: 'x' }, T0 + 2 * MIN)).toThrow(/not possible while/);
    const done = run(s, retried.state, [[{ type: 'restored', rollbackId: `${s.unit}@rollback-1` }, T0 + 2 * MIN]]);
    expect(done.state.status).toBe('rolled_back');
  });

  it('rolls back to the last passed step when the playbook says so', () => {
    const back = spec({ rollback: { to: 'last_passed_step', restores: ['weights'] } });
    const r = run(back, initialState(back, T0), [
      [{ type: 'start' }, T0],
      [{ type: 'applied', stepId: id(0) }, T0],
      [{ type: 'verdict', verdict: 'pass', reason: 'ok' }, T0 + 11 * MIN],
      [{ type: 'applied', stepId: id(1) }, T0 + 11 * MIN],
      [{ type: 'verdict', verdict: 'fail', reason: 'slower' }, T0 + 12 * MIN],
    ]);
    expect(r.state.rollback?.weight).toBe(1);
  });

  it('pauses instead of rolling back once a frozen step is in effect', () => {
    const frozen = spec({ steps: [{ weight: 10, holdSeconds: 600, approval: false, freeze: true }, { weight: 100, holdSeconds: null, approval: false, freeze: false }] });
    const r = run(frozen, initialState(frozen, T0), [
      [{ type: 'start' }, T0],
      [{ type: 'applied', stepId: stepId(frozen.unit, 0, 10) }, T0],
      [{ type: 'verdict', verdict: 'fail', reason: 'mesh fails more' }, T0 + MIN],
    ]);
    expect(r.state.status).toBe('paused');
    expect(r.state.reason).toContain('no automatic rollback');
    // A person can still roll it back.
    expect(run(frozen, r.state, [[{ type: 'rollback', reason: 'confirmed bad' }, T0 + 2 * MIN]]).state.status).toBe('rolling_back');
  });

  it('gives up a step that is never applied and rolls back', () => {
    const r = run(s, initialState(s, T0), [
      [{ type: 'start' }, T0],
      [{ type: 'tick' }, T0 + 31_000],
    ]);
    expect(r.actions).toEqual([{ type: 'apply_weight', unit: s.unit, stepId: id(0), weight: 1 }]);
    expect(run(s, r.state, [[{ type: 'tick' }, T0 + 301_000]]).state.status).toBe('rolling_back');
    expect(run(s, r.state, [[{ type: 'apply_failed', stepId: id(0), error: 'HTTP 500' }, T0 + 40_000]]).state.status).toBe('rolling_back');
  });

  it('pauses and resumes where it was, restarting a hold', () => {
    const holding = run(s, initialState(s, T0), [
      [{ type: 'start' }, T0],
      [{ type: 'applied', stepId: id(0) }, T0],
    ]);
    const paused = run(s, holding.state, [[{ type: 'pause', reason: 'change freeze' }, T0 + MIN]]);
    expect(paused.state.status).toBe('paused');
    // Verdicts while paused change nothing.
    expect(run(s, paused.state, [[{ type: 'verdict', verdict: 'pass', reason: 'ok' }, T0 + 20 * MIN]]).state.status).toBe('paused');
    const resumed = run(s, paused.state, [[{ type: 'resume' }, T0 + 30 * MIN]]);
    expect(resumed.state.status).toBe('holding');
    expect(resumed.state.holdStartedAt).toBe(T0 + 30 * MIN);
  });

  it('ignores late and duplicate acknowledgements', () => {
    const holding = run(s, initialState(s, T0), [
      [{ type: 'start' }, T0],
      [{ type: 'applied', stepId: id(0) }, T0],
    ]);
    const again = transition(s, holding.state, { type: 'applied', stepId: id(0) }, T0 + 1);
    expect(again.state).toBe(holding.state);
    expect(transition(s, holding.state, { type: 'restored', rollbackId: 'nope' }, T0 + 1).state).toBe(holding.state);
    expect(transition(s, holding.state, { type: 'start' }, T0 + 1).state).toBe(holding.state);
  });

  it('refuses commands that do not fit the state with CUTOVER_BAD_COMMAND', () => {
    const start = initialState(s, T0);
    for (const event of [{ type: 'approve' }, { type: 'resume' }] as UnitEvent[]) {
      try {
        transition(s, start, event, T0);
        throw new Error('accepted');
      } catch (err) {
        expect(isMeshBridgeError(err) && err.code).toBe('CUTOVER_BAD_COMMAND');
      }
    }
    const waiting = run(s, start, [
      [{ type: 'start' }, T0],
      [{ type: 'applied', stepId: id(0) }, T0],
      [{ type: 'verdict', verdict: 'pass', reason: 'ok' }, T0 + 11 * MIN],
      [{ type: 'applied', stepId: id(1) }, T0 + 11 * MIN],
      [{ type: 'verdict', verdict: 'pass', reason: 'ok' }, T0 + 22 * MIN],
    ]);
    expect(() => transition(s, waiting.state, { type: 'approve', stepId: id(3) }, T0)).toThrow(/waits for approval of/);
  });
});

// ---- a runner killed at every transition ----

/** The weights API: records every weight set, keyed by the step id it was set for. */
class World {
  readonly log: Array<{ id: string; weight: number }> = [];
  weight = 0;

  execute(actions: UnitAction[]): UnitEvent[] {
    const acks: UnitEvent[] = [];
    for (const action of actions) {
      if (action.type === 'apply_weight') {
        this.weight = action.weight;
        this.log.push({ id: action.stepId, weight: action.weight });
        acks.push({ type: 'applied', stepId: action.stepId });
      } else if (action.type === 'restore') {
        this.weight = action.weight;
        this.log.push({ id: action.rollbackId, weight: action.weight });
        acks.push({ type: 'restored', rollbackId: action.rollbackId });
      }
    }
    return acks;
  }
}

/** What the outside world does next for a state with nothing in flight. */
function stimulus(state: UnitState, failAtStep: number | null): UnitEvent | null {
  switch (state.status) {
    case 'pending':
      return { type: 'start' };
    case 'holding':
      return state.stepIndex === failAtStep ? { type: 'verdict', verdict: 'fail', reason: 'synthetic' } : { type: 'verdict', verdict: 'pass', reason: 'ok' };
    case 'awaiting_approval':
      return { type: 'approve' };
    case 'promoting':
    case 'rolling_back':
      return { type: 'tick' };
    default:
      return null;
  }
}

type KillPoint = 'before_actions' | 'after_actions';

/**
 * Runs a unit to the end. The store holds the last recorded state; a transition's state is
 * recorded before its actions run. At transition number `killAt` the runner dies (before or
 * after running that transition's actions, before recording what they led to) and a new one
 * starts from the store with `recover`.
 */
function runWithKill(s: UnitSpec, killAt: number | null, point: KillPoint, failAtStep: number | null) {
  const world = new World();
  let stored = JSON.stringify(initialState(s, T0));
  let now = T0;
  let count = 0;
  let killed = false;
  const statusesAfterRecover: string[] = [];
  const queue: UnitEvent[] = [];
  for (let guard = 0; guard < 200; guard++) {
    const state = JSON.parse(stored) as UnitState;
    if (state.status === 'completed' || state.status === 'rolled_back') return { state, world, statusesAfterRecover, killed, count };
    const event = queue.shift() ?? stimulus(state, failAtStep);
    if (!event) throw new Error(`stuck in ${state.status}`);
    now += 11 * MIN;
    const result = transition(s, state, event, now);
    count++;
    if (count === killAt) {
      killed = true;
      if (point === 'after_actions') world.execute(result.actions);
      stored = JSON.stringify(result.state); // recorded before acting; the acks are lost with the runner
      queue.length = 0;
      const recovered = transition(s, JSON.parse(stored) as UnitState, { type: 'recover' }, now);
      stored = JSON.stringify(recovered.state);
      const acks = world.execute(recovered.actions);
      for (const ack of acks) {
        const after = transition(s, JSON.parse(stored) as UnitState, ack, now);
        stored = JSON.stringify(after.state);
        statusesAfterRecover.push(after.state.status);
        queue.push(...world.execute(after.actions));
      }
      if (acks.length === 0) statusesAfterRecover.push(recovered.state.status);
      continue;
    }
    stored = JSON.stringify(result.state);
    queue.push(...world.execute(result.actions));
  }
  throw new Error('did not finish');
}

/** Step ids in the order the world saw them, runs of the same id (idempotent re-sends) merged. */
function distinctRuns(log: Array<{ id: string }>): string[] {
  return log.map((e) => e.id).filter((id, i, all) => i === 0 || all[i - 1] !== id);
}

describe('a runner killed at every transition and resumed from the recorded state', () => {
  const s = spec();
  const allSteps = s.steps.map((step, i) => stepId(s.unit, i, step.weight));
  const clean = runWithKill(s, null, 'before_actions', null);
  const transitions = clean.count;

  it('completes a clean run without a kill', () => {
    expect(clean.state.status).toBe('completed');
    expect(transitions).toBeGreaterThanOrEqual(9);
    expect(distinctRuns(clean.world.log)).toEqual(allSteps);
  });

  for (const point of ['before_actions', 'after_actions'] as KillPoint[]) {
    it(`never repeats a step and never stays promoting (killed ${point.replace('_', ' ')})`, () => {
      for (let killAt = 1; killAt <= transitions; killAt++) {
        const { state, world, statusesAfterRecover, killed } = runWithKill(s, killAt, point, null);
        expect(killed).toBe(true);
        expect(state.status).toBe('completed');
        // Each step's weight was set as one run of its id: no step came back after a later one.
        expect(distinctRuns(world.log)).toEqual(allSteps);
        expect(new Set(state.appliedStepIds).size).toBe(state.appliedStepIds.length);
        expect(state.appliedStepIds).toEqual(allSteps);
        // The first acknowledgement after a recovery leaves promoting behind.
        if (statusesAfterRecover.length > 0) expect(statusesAfterRecover[0]).not.toBe('promoting');
      }
    });

    it(`always reaches rolled_back from a failing step (killed ${point.replace('_', ' ')})`, () => {
      const failing = runWithKill(s, null, point, 1).count;
      for (let killAt = 1; killAt <= failing; killAt++) {
        const { state, world, killed } = runWithKill(s, killAt, point, 1);
        expect(killed).toBe(true);
        expect(state.status).toBe('rolled_back');
        expect(world.weight).toBe(0);
        expect(distinctRuns(world.log)).toEqual([allSteps[0], allSteps[1], `${s.unit}@rollback-1`]);
      }
    });
  }
});
