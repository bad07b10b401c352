// The sidecar's filter metrics, read from the active filters when /metrics is scraped (nothing is
// counted per request here). Filters count from zero and a reload replaces them, so each counter
// carries what retired filters counted: the totals never go down, and what the replaced filters
// counted since the last scrape is taken in as the reload retires them (`retire`), not lost.
import { Counter, Gauge } from 'prom-client';
import type { Registry } from '../telemetry/metrics';
import type { FilterState } from './filter-state';

/** Each active filter: its stack (a config key path), its state, and the object (its identity across scrapes). */
export type FilterStates = () => Array<[string, FilterState, object]>;

/** Totals per label set, fed with counts that restart at zero whenever their owner object is replaced. */
class CarriedTotals {
  private readonly totals = new Map<string, number>();
  private readonly seen = new WeakMap<object, Map<string, number>>();

  add(owner: object, key: string, count: number): void {
    let seen = this.seen.get(owner);
    if (seen === undefined) this.seen.set(owner, (seen = new Map()));
    const added = count - (seen.get(key) ?? 0);
    seen.set(key, count);
    this.totals.set(key, (this.totals.get(key) ?? 0) + added);
  }

  entries(): IterableIterator<[string, number]> {
    return this.totals.entries();
  }
}

type States = ReturnType<FilterStates>;

/**
 * A counter whose values are carried totals, fed from the active filters at each scrape and from
 * retired ones when retired; label values are joined with `|` in the key. Returns its retire.
 */
function carriedCounter(
  registry: Registry,
  states: FilterStates,
  name: string,
  help: string,
  labelNames: string[],
  feed: (totals: CarriedTotals, states: States) => void,
): (retired: States) => void {
  const totals = new CarriedTotals();
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      feed(totals, states());
      this.reset();
      for (const [key, total] of totals.entries()) {
        const values = key.split('|');
        this.inc(Object.fromEntries(labelNames.map((label, i) => [label, values[i]])), total);
      }
    },
  });
  return (retired) => feed(totals, retired);
}

/** A rule name as a label value inside a `|`-joined key. */
function label(rule: string): string {
  return rule.replace(/\|/g, '/');
}

/**
 * Registers the filter metrics; returns `retire`, to be called with the states of the filters a
 * reload is about to replace, so what they counted since the last scrape is carried.
 */
export function registerFilterMetrics(registry: Registry, states: FilterStates): (retired: States) => void {
  const retires = [
    carriedCounter(
      registry,
      states,
      'mesh_sidecar_filter_refusals_total',
      'Requests a filter answered itself (rate limited, denied, bulkhead full, fault aborted), by stack and filter',
      ['stack', 'filter'],
      (totals, entries) => {
        for (const [stack, state, filter] of entries) if (state.refused !== undefined) totals.add(filter, `${stack}|${state.name}`, state.refused);
      },
    ),
    carriedCounter(registry, states, 'mesh_sidecar_faults_injected_total', 'Faults the fault filter injected, by stack and kind (delay, abort)', ['stack', 'kind'], (totals, entries) => {
      for (const [stack, state, filter] of entries) {
        if (state.injected === undefined) continue;
        totals.add(filter, `${stack}|delay`, state.injected.delays);
        totals.add(filter, `${stack}|abort`, state.injected.aborts);
      }
    }),
    carriedCounter(
      registry,
      states,
      'mesh_sidecar_rate_limit_keys_evicted_total',
      'Hot-parameter keys a rate limit forgot to stay within maxKeys, by stack and rule: a hot key forgotten starts again with a full bucket',
      ['stack', 'rule'],
      (totals, entries) => {
        for (const [stack, state, filter] of entries) for (const [rule, n] of Object.entries(state.keysEvictedByRule ?? {})) totals.add(filter, `${stack}|${label(rule)}`, n);
      },
    ),
    carriedCounter(
      registry,
      states,
      'mesh_sidecar_authz_denied_total',
      'Calls authz denied, by stack, rule and caller identity (unverified: a claimed application, none: no application named)',
      ['stack', 'rule', 'identity'],
      (totals, entries) => {
        for (const [stack, state, filter] of entries) for (const d of state.deniedBy ?? []) totals.add(filter, `${stack}|${label(d.rule)}|${d.identity}`, d.count);
      },
    ),
    carriedCounter(
      registry,
      states,
      'mesh_sidecar_degraded_total',
      'Fallback answers the degrade filter gave instead of the service, by stack, rule and reason (forced, circuit_open)',
      ['stack', 'rule', 'reason'],
      (totals, entries) => {
        for (const [stack, state, filter] of entries) for (const d of state.degraded ?? []) totals.add(filter, `${stack}|${label(d.rule)}|${d.reason}`, d.count);
      },
    ),
    carriedCounter(registry, states, 'mesh_sidecar_access_log_suppressed_total', 'Access log lines not written past maxLinesPerSecond, by stack', ['stack'], (totals, entries) => {
      for (const [stack, state, filter] of entries) if (state.logLinesSuppressed !== undefined) totals.add(filter, stack, state.logLinesSuppressed);
    }),
  ];
  new Gauge({
    name: 'mesh_sidecar_circuit_breakers',
    help: 'Circuit breakers by stack and state (closed, open, half_open)',
    labelNames: ['stack', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [stack, state] of states()) for (const b of state.breakers ?? []) this.inc({ stack, state: b.state });
    },
  });
  return (retired) => {
    for (const retire of retires) retire(retired);
  };
}
