import { buildDependencyGraph } from '../dependency-graph';
import { buildPlan } from '../plan';
import { validatePlaybook } from '../playbook';
import { DEFAULT_RUN_TIMINGS, runProgress } from '../run-plan';
import { stepId } from '../run-state';
import { RunStatus, approvalCommands, formatStatus } from './operator';
import { RunRecord, checkRunId, runIdFromName } from './run-store';

const plan = buildPlan(
  validatePlaybook({
    name: 'Payments, wave one',
    defaults: { steps: [{ weight: 10, hold: '1m' }, { weight: 50, hold: '1m', approval: true }, { weight: 100 }] },
    services: [{ name: 'a.Pay', kind: 'dubbo' }],
  }),
  buildDependencyGraph({}),
);
const record: RunRecord = { runId: 'r', createdAt: 0, timings: DEFAULT_RUN_TIMINGS, plan };

function status(unitStatus: string, step: number): RunStatus {
  return {
    runId: 'r',
    playbook: plan.playbook,
    progress: runProgress(plan, new Map(), new Set()),
    control: { approvedWaves: [], paused: false },
    runners: ['host-1_0000000003', 'host-2_0000000004'],
    units: [{ unit: 'a.Pay', status: unitStatus, step, steps: 3, weight: 10, appliedStepIds: [], reason: 'step 2 (50 %) waits for approval', lastVerdict: null }],
    pendingCommands: [],
  };
}

describe('operator commands', () => {
  it('approves the step a unit waits on by its id, so a late duplicate approves nothing', () => {
    expect(approvalCommands(record, status('awaiting_approval', 1), undefined, undefined)).toEqual([{ type: 'approve', unit: 'a.Pay', stepId: stepId('a.Pay', 1, 50) }]);
    expect(approvalCommands(record, status('awaiting_approval', 1), undefined, 2)).toEqual([{ type: 'approve', wave: 2 }]);
  });

  it('refuses an approval nothing waits for, naming the unit state', () => {
    expect(() => approvalCommands(record, status('holding', 1), 'a.Pay', undefined)).toThrow(expect.objectContaining({ code: 'CUTOVER_BAD_COMMAND', message: 'a.Pay does not wait for approval (it is holding)' }));
    expect(() => approvalCommands(record, status('holding', 1), undefined, undefined)).toThrow('nothing waits for approval in this run');
  });

  it('shows units, the leading runner and the last verdicts as a table', () => {
    const text = formatStatus(status('awaiting_approval', 1));
    expect(text).toContain('Runners: host-1_0000000003 (leads), host-2_0000000004');
    expect(text).toMatch(/a\.Pay +awaiting_approval +1\/3 +10 % +step 2 \(50 %\) waits for approval/);
  });
});

describe('run ids', () => {
  it('makes one from a playbook name and refuses what is not one znode name', () => {
    expect(runIdFromName(plan.playbook)).toBe('payments-wave-one');
    expect(() => checkRunId('../x')).toThrow(expect.objectContaining({ code: 'CLI_USAGE' }));
    expect(checkRunId('run_2.b')).toBe('run_2.b');
  });
});
