import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { isMeshBridgeError } from '../errors';
import { buildDependencyGraph } from './dependency-graph';
import { buildPlan, formatSeconds } from './plan';
import { loadPlaybook, resolveGate, validatePlaybook } from './playbook';

const PLAYBOOKS = join(__dirname, '..', '..', 'migration-playbooks');

function graphFile(name: string) {
  return buildDependencyGraph(parse(readFileSync(join(PLAYBOOKS, name), 'utf8')));
}

const minimal = {
  name: 'p',
  defaults: { steps: [{ weight: 5, hold: '10m' }, { weight: 100 }] },
  services: [{ name: 'com.example.A', kind: 'dubbo' }],
};

function problems(raw: unknown): string[] {
  try {
    validatePlaybook(raw, 'test.yaml');
  } catch (err) {
    expect(isMeshBridgeError(err) && err.code).toBe('PLAYBOOK_INVALID');
    return (err as { value: string[] }).value;
  }
  throw new Error('accepted an invalid playbook');
}

describe('playbooks', () => {
  it('accepts a minimal playbook and fills the defaults', () => {
    const playbook = validatePlaybook(minimal);
    expect(playbook.order).toBe('providers_first');
    expect(playbook.defaults.steps[0]).toEqual({ weight: 5, hold: 600, approval: false, freeze: false });
    expect(playbook.defaults.rollback).toEqual({ restores: ['weights', 'registry_exports'], to: 'zero' });
  });

  it('reads durations in ms, s, m, h and plain seconds', () => {
    const playbook = validatePlaybook({ ...minimal, defaults: { steps: [{ weight: 1, hold: '500ms' }, { weight: 2, hold: '90s' }, { weight: 3, hold: '1.5h' }, { weight: 4, hold: 42 }] } });
    expect(playbook.defaults.steps.map((s) => s.hold)).toEqual([0.5, 90, 5400, 42]);
  });

  it('names the key path of every bad entry', () => {
    expect(
      problems({
        ...minimal,
        defaults: { steps: [{ weight: 50, hold: '10m' }, { weight: 20, hold: '5 minutes' }, { weight: 60 }] },
        services: [
          { name: 'A', kind: 'dubbo', methods: [{ name: 'm', steps: [{ weight: 120 }] }] },
          { name: 'A', kind: 'grpc' },
        ],
      }),
    ).toEqual([
      'defaults.steps.1.hold: expected a duration such as 90s, 30m or 1h (or seconds), got "5 minutes"',
      'services.0.methods.0.steps.0.weight: Too big: expected number to be <=100',
      'services.1.kind: Invalid option: expected one of "dubbo"|"spring_cloud"',
    ]);
    // Cross-field rules run once the shapes are right.
    expect(problems({ ...minimal, defaults: { steps: [{ weight: 50, hold: '10m' }, { weight: 20 }] } })).toEqual([
      'defaults.steps.1.weight: weights rise step by step: 20 after 50',
      'defaults.steps.1.hold: required below 100 %: how long the step is judged',
    ]);
    expect(problems({ ...minimal, services: [minimal.services[0], minimal.services[0]] })).toEqual(['services.1.name: service com.example.A is listed twice']);
    expect(problems({ ...minimal, services: [{ name: 'APP', kind: 'spring_cloud', methods: [{ name: 'get', steps: [{ weight: 100 }] }] }] })).toEqual([
      'services.0.methods.0.steps: per-method canaries are for Dubbo services',
    ]);
    expect(problems({ ...minimal, extra: 1 })[0]).toContain('extra');
  });

  it('layers gate settings: defaults, wave, service, method', () => {
    const gate = resolveGate({ alpha: 0.01, errors: { detectRate: 0.01 } }, { latency: false }, { errors: { minRatio: 3 } });
    expect(gate.settings.alpha).toBe(0.01);
    expect(gate.settings.errors).toEqual({ baselineRate: 0.001, detectRate: 0.01, minRatio: 3 });
    expect(gate.settings.latency).toBeNull();
    expect(gate.intervalSeconds).toBe(60);
  });

  it('refuses a gate that could never fail a step', () => {
    const playbook = validatePlaybook({ ...minimal, services: [{ name: 'A', kind: 'dubbo', gate: { latency: { detectSlowdown: 1.05 } } }] });
    expect(() => buildPlan(playbook, buildDependencyGraph({}))).toThrow(/could never fail on it/);
    const errors = validatePlaybook({ ...minimal, defaults: { ...minimal.defaults, gate: { errors: { baselineRate: 0.01, detectRate: 0.005 } } } });
    expect(() => buildPlan(errors, buildDependencyGraph({}))).toThrow(/detectRate \(0.005\) must exceed baselineRate/);
  });

  it('fails to load a file that is missing or not YAML with PLAYBOOK_INVALID', () => {
    expect(() => loadPlaybook(join(PLAYBOOKS, 'no-such.yaml'))).toThrow(/cannot read playbook/);
    expect(() => loadPlaybook(join(__dirname, 'playbook.ts'))).toThrow(MeshBridgeErrorLike('PLAYBOOK_INVALID'));
  });
});

function MeshBridgeErrorLike(code: string) {
  return { asymmetricMatch: (err: unknown) => isMeshBridgeError(err) && err.code === code } as unknown as RegExp;
}

describe('the worked playbooks', () => {
  it('plans the Dubbo payments family: ledger first, its callers after, a method ahead of its service', () => {
    const playbook = loadPlaybook(join(PLAYBOOKS, 'dubbo-payments.yaml'));
    const plan = buildPlan(playbook, graphFile('dubbo-payments-graph.yaml'));
    expect(plan.waves.map((w) => w.services.map((s) => s.service))).toEqual([
      ['com.example.payment.LedgerService'],
      ['com.example.payment.AccountService'],
      ['com.example.payment.PaymentService'],
      ['com.example.payment.RefundService'],
    ]);
    expect(plan.waves[1].services[0].reason).toBe('calls com.example.payment.LedgerService (wave 1)');
    expect(plan.waves.map((w) => w.approval)).toEqual([false, true, true, true]);
    const ledger = plan.waves[0].services[0];
    expect(ledger.steps[3]).toMatchObject({ weight: 50, freeze: true, approval: true });
    expect(ledger.rollback.to).toBe('last_passed_step');
    const payment = plan.waves[2].services[0];
    expect(payment.methodCanaries.map((m) => m.method)).toEqual(['queryPayment']);
    // Three listed methods: four scopes share alpha, so the service needs more calls than one scope would.
    expect(payment.steps[1].requiredCalls!).toBeGreaterThan(0);
    // The quiet refund service judges errors only.
    expect(plan.waves[3].services[0].gate.settings.latency).toBeNull();
    // Every step below 100 % with a rate has a minimum hold; the quiet refund service warns.
    expect(plan.warnings.some((w) => w.startsWith('com.example.payment.RefundService step 1 (10 %)'))).toBe(true);
  });

  it('plans the Spring Cloud shop group callers first, with observed call rates', () => {
    const playbook = loadPlaybook(join(PLAYBOOKS, 'spring-cloud-shop.yaml'));
    const plan = buildPlan(playbook, graphFile('spring-cloud-shop-graph.yaml'));
    expect(plan.waves.map((w) => w.services.map((s) => s.service))).toEqual([['SHOP-GATEWAY'], ['CATALOG', 'ORDERS'], ['NOTIFICATIONS', 'PRICING']]);
    const pricing = plan.waves[2].services.find((s) => s.service === 'PRICING')!;
    expect(pricing.callsPerSecond).toBe(410);
    expect(pricing.rateSource).toBe('traffic');
    expect(pricing.gate.prometheus?.max).toBe(0.5);
    expect(pricing.steps[0].minimumHoldSeconds).toBe(Math.ceil(pricing.steps[0].requiredCalls! / 410));
  });
});

describe('formatSeconds', () => {
  it('writes hours, minutes and seconds', () => {
    expect(formatSeconds(0)).toBe('0s');
    expect(formatSeconds(45)).toBe('45s');
    expect(formatSeconds(90)).toBe('1m30s');
    expect(formatSeconds(3600)).toBe('1h');
    expect(formatSeconds(5430)).toBe('1h30m30s');
  });
});
