// What a person does to a run from another terminal: read where it stands, and send pause,
// resume, approve and rollback to the leading runner (through ZooKeeper) and wait until it took them.
import { MeshBridgeError } from '../../errors';
import { runProgress, RunProgress, unitSpecs } from '../run-plan';
import { stepId, UnitState } from '../run-state';
import { OperatorCommand, RunControl, RunRecord, RunStore } from './run-store';

export interface RunStatus {
  runId: string;
  playbook: string;
  progress: RunProgress;
  control: RunControl;
  /** Election nodes, leader first. */
  runners: string[];
  units: Array<{ unit: string; status: string; step: number; steps: number; weight: number; appliedStepIds: string[]; reason: string; lastVerdict: UnitState['lastVerdict'] }>;
  pendingCommands: OperatorCommand[];
}

export async function readStatus(store: RunStore): Promise<RunStatus> {
  const record = await store.readOrThrow();
  const units = await store.readUnits();
  const control = (await store.readControl()).value;
  const states = new Map([...units].map(([u, v]) => [u, v.value]));
  const rows: RunStatus['units'] = [];
  for (const spec of unitSpecs(record.plan, record.timings)) {
    const state = states.get(spec.unit);
    const index = state?.stepIndex ?? -1;
    const weight = state?.rollback && (state.status === 'rolling_back' || state.status === 'rolled_back') ? state.rollback.weight : index >= 0 ? spec.steps[index].weight : 0;
    rows.push({
      unit: spec.unit,
      status: state?.status ?? 'pending',
      step: index + 1,
      steps: spec.steps.length,
      weight,
      appliedStepIds: state?.appliedStepIds ?? [],
      reason: state?.reason ?? 'not started',
      lastVerdict: state?.lastVerdict ?? null,
    });
  }
  return {
    runId: store.runId,
    playbook: record.plan.playbook,
    progress: runProgress(record.plan, states, new Set(control.approvedWaves)),
    control,
    runners: await store.runners(),
    units: rows,
    pendingCommands: (await store.commands()).map((c) => c.command),
  };
}

export function formatStatus(status: RunStatus): string {
  const lines = [
    `Run ${status.runId} (playbook "${status.playbook}"): ${status.progress.status}, ${status.progress.reason}${status.control.paused ? ' (paused)' : ''}`,
    `Runners: ${status.runners.length === 0 ? 'none (start one with cutover run)' : status.runners.map((r, i) => (i === 0 ? `${r} (leads)` : r)).join(', ')}`,
    '',
  ];
  const width = Math.max(4, ...status.units.map((u) => u.unit.length));
  lines.push(`${'unit'.padEnd(width)}  status             step   weight  reason`);
  for (const u of status.units) {
    lines.push(`${u.unit.padEnd(width)}  ${u.status.padEnd(17)}  ${`${u.step}/${u.steps}`.padEnd(5)}  ${`${u.weight} %`.padStart(6)}  ${u.reason}`);
    if (u.lastVerdict) lines.push(`${''.padEnd(width)}  last verdict: ${u.lastVerdict.verdict}: ${u.lastVerdict.reason}`);
  }
  if (status.pendingCommands.length > 0) lines.push('', `Commands waiting for a runner: ${status.pendingCommands.map((c) => c.type).join(', ')}`);
  return lines.join('\n') + '\n';
}

/**
 * The commands `approve` sends: the wave named, else the wave the run waits on, else every unit
 * (or the one named) waiting for a step's approval, each with that step's id.
 */
export function approvalCommands(record: RunRecord, status: RunStatus, unit: string | undefined, wave: number | undefined): OperatorCommand[] {
  if (wave !== undefined) return [{ type: 'approve', wave }];
  const specs = new Map(unitSpecs(record.plan, record.timings).map((s) => [s.unit, s]));
  if (unit === undefined && status.progress.status === 'awaiting_wave_approval' && status.progress.wave !== null) return [{ type: 'approve', wave: status.progress.wave }];
  const waiting = status.units.filter((u) => u.status === 'awaiting_approval' && (unit === undefined || u.unit === unit));
  if (waiting.length === 0) {
    throw new MeshBridgeError('CUTOVER_BAD_COMMAND', unit === undefined ? 'nothing waits for approval in this run' : `${unit} does not wait for approval (it is ${status.units.find((u) => u.unit === unit)?.status ?? 'not in this run'})`, {
      value: unit ?? null,
    });
  }
  return waiting.map((u) => {
    const spec = specs.get(u.unit)!;
    const index = u.step; // the next step: u.step is 1-based for the step in effect
    return { type: 'approve', unit: u.unit, stepId: stepId(u.unit, index, spec.steps[index].weight) };
  });
}

/** Sends commands and waits until the leading runner took each (deleted its node), or the deadline. */
export async function sendCommands(store: RunStore, commands: OperatorCommand[], timeoutMs: number): Promise<void> {
  const names: string[] = [];
  for (const command of commands) names.push(await store.submit(command));
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    while (await store.pending(name)) {
      if (Date.now() > deadline) {
        throw new MeshBridgeError('CUTOVER_BAD_COMMAND', `no runner took the command within ${Math.round(timeoutMs / 1000)} s: is a cutover runner running for run ${store.runId}? (the command is withdrawn)`, {
          value: commands.map((c) => c.type).join(','),
          where: store.root,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
