import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { buildDependencyGraph } from './dependency-graph';
import { buildPlan } from './plan';
import { loadPlaybook } from './playbook';
import { runProgress, unitSpecs } from './run-plan';
import { UnitState, UnitStatus, initialState } from './run-state';

const PLAYBOOKS = join(__dirname, '..', '..', 'migration-playbooks');
const plan = buildPlan(
  loadPlaybook(join(PLAYBOOKS, 'dubbo-payments.yaml')),
  buildDependencyGraph(parse(readFileSync(join(PLAYBOOKS, 'dubbo-payments-graph.yaml'), 'utf8'))),
);
const LEDGER = 'com.example.payment.LedgerService';
const ACCOUNT = 'com.example.payment.AccountService';
const PAYMENT = 'com.example.payment.PaymentService';
const QUERY = `${PAYMENT}#queryPayment`;

function states(entries: Array<[string, UnitStatus]>): Map<string, UnitState> {
  const specs = new Map(unitSpecs(plan).map((s) => [s.unit, s]));
  return new Map(entries.map(([unit, status]) => [unit, { ...initialState(specs.get(unit)!, 0), status }]));
}

describe('running a plan', () => {
  it('makes one state machine per service and per method canary', () => {
    const specs = unitSpecs(plan);
    expect(specs.map((s) => s.unit)).toEqual([LEDGER, ACCOUNT, QUERY, PAYMENT, 'com.example.payment.RefundService']);
    expect(specs[0].steps[3]).toEqual({ weight: 50, holdSeconds: 3600, approval: true, freeze: true });
    expect(specs[0].rollback.to).toBe('last_passed_step');
    expect(specs[2].steps.map((s) => s.weight)).toEqual([10, 50, 100]);
  });

  it('starts the first wave without approval', () => {
    expect(runProgress(plan, new Map(), new Set())).toEqual({ status: 'running', wave: 1, startable: [LEDGER], reason: 'wave 1 of 4' });
  });

  it('waits for a person before the next wave, then starts it', () => {
    const done = states([[LEDGER, 'completed']]);
    expect(runProgress(plan, done, new Set())).toMatchObject({ status: 'awaiting_wave_approval', wave: 2 });
    expect(runProgress(plan, done, new Set([2]))).toMatchObject({ status: 'running', wave: 2, startable: [ACCOUNT] });
  });

  it('does not start a wave while the one before is still moving', () => {
    expect(runProgress(plan, states([[LEDGER, 'holding']]), new Set([2]))).toMatchObject({ wave: 1, startable: [] });
  });

  it('moves a method canary before its service', () => {
    const before = states([[LEDGER, 'completed'], [ACCOUNT, 'completed']]);
    expect(runProgress(plan, before, new Set([2, 3])).startable).toEqual([QUERY]);
    const holding = states([[LEDGER, 'completed'], [ACCOUNT, 'completed'], [QUERY, 'holding']]);
    expect(runProgress(plan, holding, new Set([2, 3])).startable).toEqual([]);
    const canaryDone = states([[LEDGER, 'completed'], [ACCOUNT, 'completed'], [QUERY, 'completed']]);
    expect(runProgress(plan, canaryDone, new Set([2, 3])).startable).toEqual([PAYMENT]);
  });

  it('halts after a rollback, naming the unit', () => {
    const progress = runProgress(plan, states([[LEDGER, 'rolled_back']]), new Set([2]));
    expect(progress).toMatchObject({ status: 'halted', wave: 1, startable: [] });
    expect(progress.reason).toContain(`${LEDGER} rolled back`);
  });

  it('completes when every unit completed', () => {
    const all = states(unitSpecs(plan).map((s) => [s.unit, 'completed']));
    expect(runProgress(plan, all, new Set())).toEqual({ status: 'completed', wave: null, startable: [], reason: 'every wave completed' });
  });
});
