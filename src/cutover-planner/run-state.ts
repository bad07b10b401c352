// The run state machine of one cutover unit (a service, or a method's canary): pure. Events come
// in (judge verdicts, time, operator commands, acknowledgements of what the runner did), a new
// state and the actions to take go out. The runner records the state (in ZooKeeper) before it
// acts, so a runner killed at any moment is replaced by one that reads the state and sends
// `recover`: an in-flight step is finished under its recorded id, never started again, and a
// rollback in flight is re-issued until it is done.
import { MeshBridgeError } from '../errors';
import type { Verdict } from './judge';

export type UnitStatus = 'pending' | 'promoting' | 'holding' | 'awaiting_approval' | 'paused' | 'rolling_back' | 'rolled_back' | 'completed';

export interface UnitStep {
  /** Mesh weight, percent. */
  weight: number;
  holdSeconds: number | null;
  approval: boolean;
  freeze: boolean;
}

export interface UnitSpec {
  /** `service` or `service#method`. */
  unit: string;
  steps: UnitStep[];
  rollback: { to: 'zero' | 'last_passed_step'; restores: Array<'weights' | 'registry_exports'> };
  /** A step still without a verdict this long after its hold pauses for a person. */
  maxHoldSeconds: number;
  /** Applying a weight (or a rollback) that is not acknowledged in this long is retried. */
  retrySeconds: number;
  /** A step not applied after this long is given up: the unit rolls back (or pauses if frozen). */
  promoteTimeoutSeconds: number;
}

/** The recorded state: plain JSON, so it can be stored and read back by another runner. */
export interface UnitState {
  unit: string;
  status: UnitStatus;
  /** Bumped on every change; the store's compare-and-set uses it. */
  version: number;
  /** The step in effect or being promoted; -1 before the first. */
  stepIndex: number;
  /** Ids of steps whose weight is in effect, in order: a step id appears at most once. */
  appliedStepIds: string[];
  /** The step being promoted: its weight is set (maybe more than once, it is idempotent) until acknowledged. */
  pendingStep: { id: string; weight: number; since: number; lastSentAt: number } | null;
  holdStartedAt: number | null;
  lastPassedStep: number;
  lastVerdict: { verdict: Verdict; reason: string; at: number } | null;
  /** The step approved by an operator and not yet promoted. */
  approvedStepId: string | null;
  /** What `resume` returns to. */
  pausedFrom: Exclude<UnitStatus, 'paused'> | null;
  rollback: { id: string; weight: number; since: number; lastSentAt: number; reason: string } | null;
  rollbackCount: number;
  reason: string;
  updatedAt: number;
}

export type UnitEvent =
  | { type: 'start' }
  | { type: 'tick' }
  | { type: 'recover' }
  | { type: 'verdict'; verdict: Verdict; reason: string }
  | { type: 'applied'; stepId: string }
  | { type: 'apply_failed'; stepId: string; error: string }
  | { type: 'restored'; rollbackId: string }
  | { type: 'approve'; stepId?: string }
  | { type: 'pause'; reason: string }
  | { type: 'resume' }
  | { type: 'rollback'; reason: string };

export type UnitAction =
  | { type: 'apply_weight'; unit: string; stepId: string; weight: number }
  | { type: 'restore'; unit: string; rollbackId: string; weight: number; restores: Array<'weights' | 'registry_exports'> }
  | { type: 'notify'; unit: string; message: string };

export interface Transition {
  state: UnitState;
  actions: UnitAction[];
}

export function stepId(unit: string, index: number, weight: number): string {
  return `${unit}@${index + 1}:${weight}%`;
}

export function initialState(spec: UnitSpec, now: number): UnitState {
  return {
    unit: spec.unit,
    status: 'pending',
    version: 0,
    stepIndex: -1,
    appliedStepIds: [],
    pendingStep: null,
    holdStartedAt: null,
    lastPassedStep: -1,
    lastVerdict: null,
    approvedStepId: null,
    pausedFrom: null,
    rollback: null,
    rollbackCount: 0,
    reason: 'not started',
    updatedAt: now,
  };
}

function badCommand(state: UnitState, event: UnitEvent): MeshBridgeError {
  return new MeshBridgeError('CUTOVER_BAD_COMMAND', `${event.type} is not possible while ${state.unit} is ${state.status}`, { value: event.type, where: state.unit });
}

const TERMINAL: ReadonlySet<UnitStatus> = new Set(['completed', 'rolled_back']);

/** The result of moving to `status`: a copy with the version bumped. */
function next(state: UnitState, now: number, changes: Partial<UnitState>): UnitState {
  return { ...state, ...changes, version: state.version + 1, updatedAt: now };
}

/** Promote step `index`: record the intent first, then ask for the weight. */
function promote(spec: UnitSpec, state: UnitState, index: number, now: number): Transition {
  const step = spec.steps[index];
  const id = stepId(spec.unit, index, step.weight);
  if (step.approval && state.approvedStepId !== id) {
    return {
      state: next(state, now, { status: 'awaiting_approval', reason: `step ${index + 1} (${step.weight} %) waits for approval` }),
      actions: [{ type: 'notify', unit: spec.unit, message: `approve step ${index + 1} (${step.weight} %) with: cutover approve ${spec.unit}` }],
    };
  }
  return {
    state: next(state, now, {
      status: 'promoting',
      stepIndex: index,
      pendingStep: { id, weight: step.weight, since: now, lastSentAt: now },
      approvedStepId: null,
      holdStartedAt: null,
      lastVerdict: null,
      reason: `promoting step ${index + 1} to ${step.weight} %`,
    }),
    actions: [{ type: 'apply_weight', unit: spec.unit, stepId: id, weight: step.weight }],
  };
}

/** The weight a rollback restores: 0, or the last step whose gate passed; never above the current one. */
function rollbackWeight(spec: UnitSpec, state: UnitState): number {
  if (spec.rollback.to === 'last_passed_step' && state.lastPassedStep >= 0 && state.lastPassedStep < state.stepIndex) {
    return spec.steps[state.lastPassedStep].weight;
  }
  return 0;
}

function startRollback(spec: UnitSpec, state: UnitState, reason: string, now: number): Transition {
  const weight = rollbackWeight(spec, state);
  const id = `${spec.unit}@rollback-${state.rollbackCount + 1}`;
  return {
    state: next(state, now, {
      status: 'rolling_back',
      pendingStep: null,
      pausedFrom: null,
      rollback: { id, weight, since: now, lastSentAt: now, reason },
      rollbackCount: state.rollbackCount + 1,
      reason: `rolling back to ${weight} %: ${reason}`,
    }),
    actions: [{ type: 'restore', unit: spec.unit, rollbackId: id, weight, restores: spec.rollback.restores }],
  };
}

/** True when a step at or before the current one is frozen: automatic rollback is off. */
function frozen(spec: UnitSpec, state: UnitState): boolean {
  for (let i = 0; i <= state.stepIndex && i < spec.steps.length; i++) if (spec.steps[i].freeze) return true;
  return false;
}

/** Roll back, or pause for a person when a frozen step is in effect. */
function failStep(spec: UnitSpec, state: UnitState, reason: string, now: number): Transition {
  if (frozen(spec, state)) {
    const status = state.status === 'paused' ? state.pausedFrom ?? 'holding' : state.status;
    return {
      state: next(state, now, { status: 'paused', pausedFrom: status as Exclude<UnitStatus, 'paused'>, reason: `${reason}; a frozen step is in effect: no automatic rollback` }),
      actions: [{ type: 'notify', unit: spec.unit, message: `${spec.unit} paused: ${reason}. Roll back with: cutover rollback ${spec.unit}` }],
    };
  }
  return startRollback(spec, state, reason, now);
}

function afterPass(spec: UnitSpec, state: UnitState, now: number): Transition {
  const passed = next(state, now, { lastPassedStep: state.stepIndex });
  if (state.stepIndex + 1 >= spec.steps.length) {
    return { state: next(passed, now, { status: 'completed', reason: 'every step passed' }), actions: [{ type: 'notify', unit: spec.unit, message: `${spec.unit} completed` }] };
  }
  return promote(spec, passed, state.stepIndex + 1, now);
}

/** Re-send what is in flight (a step's weight, a rollback) if it has not been acknowledged. */
function resend(spec: UnitSpec, state: UnitState, now: number, force: boolean): Transition {
  if (state.status === 'promoting' && state.pendingStep) {
    if (now - state.pendingStep.since > spec.promoteTimeoutSeconds * 1000) {
      return failStep(spec, state, `step ${state.stepIndex + 1} not applied within ${spec.promoteTimeoutSeconds} s`, now);
    }
    if (force || now - state.pendingStep.lastSentAt >= spec.retrySeconds * 1000) {
      const { id, weight } = state.pendingStep;
      return {
        state: next(state, now, { pendingStep: { ...state.pendingStep, lastSentAt: now } }),
        actions: [{ type: 'apply_weight', unit: spec.unit, stepId: id, weight }],
      };
    }
  }
  if (state.status === 'rolling_back' && state.rollback && (force || now - state.rollback.lastSentAt >= spec.retrySeconds * 1000)) {
    const { id, weight } = state.rollback;
    return {
      state: next(state, now, { rollback: { ...state.rollback, lastSentAt: now } }),
      actions: [{ type: 'restore', unit: spec.unit, rollbackId: id, weight, restores: spec.rollback.restores }],
    };
  }
  return { state, actions: [] };
}

function holdElapsed(spec: UnitSpec, state: UnitState, now: number): boolean {
  const hold = spec.steps[state.stepIndex].holdSeconds ?? 0;
  return state.holdStartedAt !== null && now - state.holdStartedAt >= hold * 1000;
}

/** A step at 100 % has no legacy traffic to compare with: its hold is a soak judged by time alone. */
function comparable(spec: UnitSpec, state: UnitState): boolean {
  const weight = spec.steps[state.stepIndex].weight;
  return weight > 0 && weight < 100;
}

function onTick(spec: UnitSpec, state: UnitState, now: number): Transition {
  if (state.status !== 'holding') return resend(spec, state, now, false);
  if (!comparable(spec, state)) return holdElapsed(spec, state, now) ? afterPass(spec, state, now) : { state, actions: [] };
  const hold = spec.steps[state.stepIndex].holdSeconds ?? 0;
  if (state.holdStartedAt !== null && now - state.holdStartedAt > (hold + spec.maxHoldSeconds) * 1000) {
    const why = state.lastVerdict ? state.lastVerdict.reason : 'no verdict yet';
    return {
      state: next(state, now, { status: 'paused', pausedFrom: 'holding', reason: `step ${state.stepIndex + 1} still not judged ${spec.maxHoldSeconds} s after its hold: ${why}` }),
      actions: [{ type: 'notify', unit: spec.unit, message: `${spec.unit} paused: not enough data to judge step ${state.stepIndex + 1}` }],
    };
  }
  return { state, actions: [] };
}

/**
 * The state machine. Throws CUTOVER_BAD_COMMAND for an operator command that does not fit the
 * state; acknowledgements that do not match what is in flight (late duplicates) change nothing.
 */
export function transition(spec: UnitSpec, state: UnitState, event: UnitEvent, now: number): Transition {
  if (spec.unit !== state.unit) throw new MeshBridgeError('CUTOVER_BAD_COMMAND', `state of ${state.unit} given with the spec of ${spec.unit}`, { value: state.unit, where: spec.unit });
  const unchanged: Transition = { state, actions: [] };
  switch (event.type) {
    case 'start':
      if (state.status !== 'pending') return unchanged;
      return promote(spec, state, 0, now);
    case 'tick':
      return onTick(spec, state, now);
    case 'recover':
      // A new runner: whatever was in flight is sent again under its recorded id.
      return resend(spec, state, now, true);
    case 'applied': {
      if (state.status === 'paused' && state.pausedFrom === 'promoting' && state.pendingStep?.id === event.stepId) {
        // Applied while paused: record it so it is never applied as a new step; resume goes on holding.
        return { state: next(state, now, { appliedStepIds: [...state.appliedStepIds, event.stepId], pendingStep: null, pausedFrom: 'holding', holdStartedAt: now }), actions: [] };
      }
      if (state.status !== 'promoting' || state.pendingStep?.id !== event.stepId) return unchanged;
      const applied = next(state, now, {
        status: 'holding',
        appliedStepIds: state.appliedStepIds.includes(event.stepId) ? state.appliedStepIds : [...state.appliedStepIds, event.stepId],
        pendingStep: null,
        holdStartedAt: now,
        reason: `holding step ${state.stepIndex + 1} at ${spec.steps[state.stepIndex].weight} %`,
      });
      const step = spec.steps[applied.stepIndex];
      if (!step.holdSeconds && !comparable(spec, applied)) return afterPass(spec, applied, now);
      return { state: applied, actions: [] };
    }
    case 'apply_failed':
      if (state.status !== 'promoting' || state.pendingStep?.id !== event.stepId) return unchanged;
      return failStep(spec, state, `step ${state.stepIndex + 1} could not be applied: ${event.error}`, now);
    case 'verdict': {
      if (state.status !== 'holding' || !comparable(spec, state)) return unchanged;
      const recorded = next(state, now, { lastVerdict: { verdict: event.verdict, reason: event.reason, at: now } });
      if (event.verdict === 'fail') return failStep(spec, recorded, `gate failed at step ${state.stepIndex + 1}: ${event.reason}`, now);
      if (event.verdict === 'pass' && holdElapsed(spec, state, now)) return afterPass(spec, recorded, now);
      return { state: recorded, actions: [] };
    }
    case 'restored':
      if (state.status !== 'rolling_back' || state.rollback?.id !== event.rollbackId) return unchanged;
      return {
        state: next(state, now, { status: 'rolled_back', reason: `rolled back to ${state.rollback.weight} %: ${state.rollback.reason}` }),
        actions: [{ type: 'notify', unit: spec.unit, message: `${spec.unit} rolled back to ${state.rollback.weight} %` }],
      };
    case 'approve': {
      if (state.status !== 'awaiting_approval') throw badCommand(state, event);
      const index = state.stepIndex + 1;
      const id = stepId(spec.unit, index, spec.steps[index].weight);
      if (event.stepId !== undefined && event.stepId !== id) {
        throw new MeshBridgeError('CUTOVER_BAD_COMMAND', `${spec.unit} waits for approval of ${id}, not ${event.stepId}`, { value: event.stepId, where: spec.unit });
      }
      return promote(spec, next(state, now, { approvedStepId: id }), index, now);
    }
    case 'pause':
      if (TERMINAL.has(state.status) || state.status === 'rolling_back') throw badCommand(state, event);
      if (state.status === 'paused') return unchanged;
      return { state: next(state, now, { status: 'paused', pausedFrom: state.status, reason: `paused: ${event.reason}` }), actions: [] };
    case 'resume': {
      if (state.status !== 'paused' || !state.pausedFrom) throw badCommand(state, event);
      const resumed = next(state, now, { status: state.pausedFrom, pausedFrom: null, reason: `resumed: ${state.reason}` });
      // A hold that ran out while paused restarts, so the gate sees a fresh window.
      const restarted = resumed.status === 'holding' ? next(resumed, now, { holdStartedAt: now, lastVerdict: null }) : resumed;
      return resend(spec, restarted, now, true);
    }
    case 'rollback':
      if (TERMINAL.has(state.status) || state.status === 'rolling_back') throw badCommand(state, event);
      return startRollback(spec, state, `operator: ${event.reason}`, now);
  }
}
