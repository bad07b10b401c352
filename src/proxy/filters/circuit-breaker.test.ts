import { Breaker, CircuitBreakerFilter, breakerRuleSchema, circuitBreakerConfigSchema } from './circuit-breaker';
import { filterFactory } from './filter';
import { Registry } from 'prom-client';
import { silentLogger } from '../../telemetry/logger';
import { testRequest } from './test-request';

const rule = (fields: Record<string, unknown>) => breakerRuleSchema.parse(fields);

describe('Breaker', () => {
  it('stays closed below the minimum number of calls, then opens on the error ratio', () => {
    const b = new Breaker(rule({ minimumCalls: 10, errorRatio: 0.5 }));
    for (let i = 0; i < 9; i++) b.complete(i, true, false, false);
    expect(b.state).toBe('closed');
    b.complete(9, true, false, false);
    expect(b.state).toBe('open');
    expect(b.admit(10)).toBe('no');
  });

  it('opens on the slow-call ratio and on an error count', () => {
    const slow = new Breaker(rule({ minimumCalls: 4, slowCallMs: 100, slowCallRatio: 0.75 }));
    for (let i = 0; i < 4; i++) slow.complete(i, false, i > 0, false);
    expect(slow.state).toBe('open');
    const count = new Breaker(rule({ errorCount: 3 }));
    for (let i = 0; i < 3; i++) count.complete(i, true, false, false);
    expect(count.state).toBe('open');
  });

  it('goes half-open after openMs, admits only the configured probes, and closes when they all succeed', () => {
    const b = new Breaker(rule({ errorCount: 1, openMs: 1000, halfOpenProbes: 2 }));
    b.complete(0, true, false, false);
    expect(b.admit(999)).toBe('no');
    expect(b.admit(1000)).toBe('probe');
    expect(b.admit(1001)).toBe('probe');
    expect(b.admit(1002)).toBe('no');
    b.complete(1010, false, false, true);
    expect(b.state).toBe('half_open');
    b.complete(1020, false, false, true);
    expect(b.state).toBe('closed');
    expect(b.admit(1030)).toBe('yes');
  });

  it('opens again when a probe fails', () => {
    const b = new Breaker(rule({ errorCount: 1, openMs: 1000, halfOpenProbes: 3 }));
    b.complete(0, true, false, false);
    expect(b.admit(1000)).toBe('probe');
    b.complete(1005, true, false, true);
    expect(b.state).toBe('open');
    expect(b.admit(1999)).toBe('no');
    expect(b.admit(2005)).toBe('probe');
  });
});

describe('CircuitBreakerFilter', () => {
  const config = circuitBreakerConfigSchema.parse({ rules: [{ match: { service: 'com.example.Greeter' }, errorRatio: 0.5, minimumCalls: 4, openMs: 1000 }] });

  it('answers calls to an open method locally, naming the rule, while other methods pass', () => {
    const filter = new CircuitBreakerFilter(config);
    for (let i = 0; i < 4; i++) {
      const r = testRequest();
      expect(filter.onRequest(r, i)).toBeUndefined();
      filter.onComplete(r, 'application_exception', 1000, i);
    }
    expect(filter.onRequest(testRequest(), 10)).toMatchObject({ outcome: 'bridge_refusal', refusal: 'circuit_open', message: expect.stringContaining('circuit-breaker[0]') });
    expect(filter.onRequest(testRequest({ method: 'other' }), 10)).toBeUndefined();
    expect(filter.onRequest(testRequest({ service: 'com.example.Unrelated' }), 10)).toBeUndefined();
  });

  it('never counts callers that hung up or its own refusals', () => {
    const filter = new CircuitBreakerFilter(config);
    for (let i = 0; i < 20; i++) {
      const r = testRequest();
      filter.onRequest(r, i);
      filter.onComplete(r, i % 2 ? 'caller_gone' : 'bridge_refusal', 1000, i);
    }
    expect(filter.states().every((s) => s.state === 'closed')).toBe(true);
  });

  it('lets probes through once open long enough, gives back the place of a probe whose caller left, and closes when they succeed', () => {
    const filter = new CircuitBreakerFilter(circuitBreakerConfigSchema.parse({ rules: [{ errorCount: 1, openMs: 1000, halfOpenProbes: 2, slowCallMs: 500, slowCallRatio: 1 }] }));
    const failing = testRequest();
    filter.onRequest(failing, 0);
    filter.onComplete(failing, 'application_exception', 1000, 0);
    expect(filter.onRequest(testRequest(), 999)).toMatchObject({ refusal: 'circuit_open' });
    const [left, first] = [testRequest(), testRequest()];
    expect(filter.onRequest(left, 1000)).toBeUndefined();
    expect(filter.onRequest(first, 1000)).toBeUndefined();
    expect(filter.onRequest(testRequest(), 1000)).toMatchObject({ refusal: 'circuit_open' });
    filter.onComplete(left, 'caller_gone', 0, 1001);
    const second = testRequest();
    expect(filter.onRequest(second, 1002)).toBeUndefined();
    filter.onComplete(first, 'ok', 1000, 1010);
    filter.onComplete(second, 'ok', 1000, 1011);
    expect(filter.states()).toMatchObject([{ state: 'closed' }]);
  });

  it('opens again when a probe is slow', () => {
    const filter = new CircuitBreakerFilter(circuitBreakerConfigSchema.parse({ rules: [{ errorCount: 1, openMs: 1000, halfOpenProbes: 1, slowCallMs: 500, slowCallRatio: 1 }] }));
    const failing = testRequest();
    filter.onRequest(failing, 0);
    filter.onComplete(failing, 'application_exception', 1000, 0);
    const probe = testRequest();
    expect(filter.onRequest(probe, 1000)).toBeUndefined();
    filter.onComplete(probe, 'ok', 600_000, 1600);
    expect(filter.states()).toMatchObject([{ state: 'open' }]);
    expect(filter.onRequest(testRequest(), 1700)).toMatchObject({ refusal: 'circuit_open' });
  });

  it('is registered by name and validates its config', () => {
    const make = filterFactory('circuit-breaker');
    const deps = { logger: silentLogger(), metrics: new Registry() };
    expect(make?.({ rules: [{ errorRatio: 0.5 }] }, deps).name).toBe('circuit-breaker');
    expect(() => make?.({ rules: [{ minimumCalls: 3 }] }, deps)).toThrow(/needs errorRatio/);
  });
});
