import { Registry, metricValue } from '../telemetry/metrics';
import type { FilterState } from './filter-state';
import { registerFilterMetrics } from './filter-metrics';

describe('sidecar filter metrics', () => {
  it('carry what a replaced filter counted, so a reload never takes a total down', async () => {
    const registry = new Registry();
    let active: Array<[string, FilterState, object]> = [];
    registerFilterMetrics(registry, () => active);
    const before = {};
    active = [['outbound', { name: 'rate-limit', refused: 3 }, before]];
    expect(await metricValue(registry, 'mesh_sidecar_filter_refusals_total', { stack: 'outbound', filter: 'rate-limit' })).toBe(3);
    active = [['outbound', { name: 'rate-limit', refused: 5 }, before]];
    expect(await metricValue(registry, 'mesh_sidecar_filter_refusals_total', { stack: 'outbound', filter: 'rate-limit' })).toBe(5);
    // A reload: a new filter object counting from zero.
    active = [['outbound', { name: 'rate-limit', refused: 1 }, {}]];
    expect(await metricValue(registry, 'mesh_sidecar_filter_refusals_total', { stack: 'outbound', filter: 'rate-limit' })).toBe(6);
  });

  it('counts injected faults by kind and breakers by state', async () => {
    const registry = new Registry();
    const fault = {};
    registerFilterMetrics(registry, () => [
      ['inbound', { name: 'fault', refused: 2, injected: { delays: 4, aborts: 2 } }, fault],
      ['inbound', { name: 'circuit-breaker', breakers: [{ rule: 'r', key: 'a', state: 'open', opens: 1 }, { rule: 'r', key: 'b', state: 'closed', opens: 0 }] }, {}],
    ]);
    expect(await metricValue(registry, 'mesh_sidecar_faults_injected_total', { stack: 'inbound', kind: 'delay' })).toBe(4);
    expect(await metricValue(registry, 'mesh_sidecar_faults_injected_total', { stack: 'inbound', kind: 'abort' })).toBe(2);
    expect(await metricValue(registry, 'mesh_sidecar_circuit_breakers', { stack: 'inbound', state: 'open' })).toBe(1);
    expect(await metricValue(registry, 'mesh_sidecar_circuit_breakers', { stack: 'inbound', state: 'closed' })).toBe(1);
  });

  it('counts fallbacks by rule and reason, denials by rule and identity, and forgotten hot keys by rule (a rule name may hold a |)', async () => {
    const registry = new Registry();
    registerFilterMetrics(registry, () => [
      ['dubbo.outbound', { name: 'degrade', degraded: [{ rule: 'quote|fallback', reason: 'circuit_open', count: 3 }] }, {}],
      ['inbound', { name: 'authz', refused: 2, deniedBy: [{ rule: 'no-batch', identity: 'unverified', count: 2 }] }, {}],
      ['outbound', { name: 'rate-limit', refused: 0, keysEvictedByRule: { 'per-user': 7 } }, {}],
    ]);
    expect(await metricValue(registry, 'mesh_sidecar_degraded_total', { stack: 'dubbo.outbound', rule: 'quote/fallback', reason: 'circuit_open' })).toBe(3);
    expect(await metricValue(registry, 'mesh_sidecar_authz_denied_total', { stack: 'inbound', rule: 'no-batch', identity: 'unverified' })).toBe(2);
    expect(await metricValue(registry, 'mesh_sidecar_rate_limit_keys_evicted_total', { stack: 'outbound', rule: 'per-user' })).toBe(7);
  });
});
