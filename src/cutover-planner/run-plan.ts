// A plan as something to run: one state machine per service and per method canary, and which of
// them may start now. Waves run in order; a wave waits for a person when the plan says so; a
// method canary moves before its service; a unit that rolled back halts the run for a person.
// Pure: the runner (next) stores the unit states and feeds them back.
import type { CutoverPlan, PlannedUnit } from './plan';
import type { UnitSpec, UnitState } from './run-state';

export interface RunTimings {
  /** A held step still without a pass this long after its hold pauses for a person (default 2 h). */
  maxHoldSeconds: number;
  /** An unacknowledged weight change is sent again after this long (default 30 s). */
  retrySeconds: number;
  /** A step not applied after this long rolls back, or pauses if frozen (default 300 s). */
  promoteTimeoutSeconds: number;
}

export const DEFAULT_RUN_TIMINGS: RunTimings = { maxHoldSeconds: 7200, retrySeconds: 30, promoteTimeoutSeconds: 300 };

/** The unit id of a service (`service`) or a method canary (`service#method`). */
export function unitId(unit: Pick<PlannedUnit, 'service' | 'method'>): string {
  return unit.method === null ? unit.service : `${unit.service}#${unit.method}`;
}

/** One state machine spec per service and per method canary, in plan order. */
export function unitSpecs(plan: CutoverPlan, timings: RunTimings = DEFAULT_RUN_TIMINGS): UnitSpec[] {
  const specs: UnitSpec[] = [];
  for (const wave of plan.waves) {
    for (const service of wave.services) {
      for (const unit of [...service.methodCanaries, service]) {
        specs.push({
          unit: unitId(unit),
          steps: unit.steps.map((s) => ({ weight: s.weight, holdSeconds: s.holdSeconds, approval: s.approval, freeze: s.freeze })),
          rollback: service.rollback,
          ...timings,
        });
      }
    }
  }
  return specs;
}

export interface RunProgress {
  status: 'running' | 'awaiting_wave_approval' | 'halted' | 'completed';
  /** The wave in progress (or waiting), null when completed. */
  wave: number | null;
  /** Units that are pending and may be started now. */
  startable: string[];
  reason: string;
}

/**
 * Where the run stands, given each unit's recorded state (absent = pending) and the waves a
 * person approved.
 */
export function runProgress(plan: CutoverPlan, states: ReadonlyMap<string, UnitState>, approvedWaves: ReadonlySet<number>): RunProgress {
  const status = (id: string) => states.get(id)?.status ?? 'pending';
  for (const wave of plan.waves) {
    const units = wave.services.flatMap((s) => [...s.methodCanaries.map(unitId), unitId(s)]);
    const rolledBack = units.filter((u) => status(u) === 'rolled_back');
    if (rolledBack.length > 0) {
      return { status: 'halted', wave: wave.number, startable: [], reason: `${rolledBack.join(', ')} rolled back: later waves wait for a person` };
    }
    if (units.every((u) => status(u) === 'completed')) continue;
    const untouched = units.every((u) => status(u) === 'pending');
    if (untouched && wave.approval && !approvedWaves.has(wave.number)) {
      return { status: 'awaiting_wave_approval', wave: wave.number, startable: [], reason: `wave ${wave.number} waits for approval` };
    }
    const startable: string[] = [];
    for (const service of wave.services) {
      const canaries = service.methodCanaries.map(unitId);
      for (const canary of canaries) if (status(canary) === 'pending') startable.push(canary);
      // A method canary moves ahead: its service starts once every canary of it completed.
      if (status(unitId(service)) === 'pending' && canaries.every((c) => status(c) === 'completed')) startable.push(unitId(service));
    }
    return { status: 'running', wave: wave.number, startable, reason: `wave ${wave.number} of ${plan.waves.length}` };
  }
  return { status: 'completed', wave: null, startable: [], reason: 'every wave completed' };
}
