// Latency histograms of proxied calls per protocol, service, stack, method and outcome, exposed to
// Prometheus as one histogram so several bridge replicas can be aggregated (sum the buckets, then
// take quantiles). Recording runs once per call: a few map lookups and array increments, no label
// hashing; Prometheus gets the buckets when it scrapes. Label values come from bounded sets: past
// the caps, services and methods are folded into `other`, because callers choose these names.
import type { Registry } from 'prom-client';
import type { Stack } from '../../catalog';
import { OUTCOMES, Outcome } from '../failure-class';

/** Upper bounds in seconds, as Prometheus' `le`. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BUCKETS_MICROS = LATENCY_BUCKETS.map((s) => s * 1e6);
const OUTCOME_INDEX = new Map<Outcome, number>(OUTCOMES.map((o, i) => [o, i]));

/** The index of an outcome in OUTCOMES, as MethodRow.record takes it. */
export function outcomeIndex(outcome: Outcome): number {
  return OUTCOME_INDEX.get(outcome) as number;
}

export const OTHER = 'other';

export interface CallLatencyLimits {
  /** Distinct services with a series of their own; the rest are `other`. */
  maxServices: number;
  /** Distinct methods per service with a series of their own; the rest are `other`. */
  maxMethodsPerService: number;
}

const DEFAULT_LIMITS: CallLatencyLimits = { maxServices: 2000, maxMethodsPerService: 64 };

/** One (service, stack, method) row: per outcome, bucket counts (the last slot is +Inf), a sum and a count. */
export class MethodRow {
  readonly buckets: Float64Array[] = [];
  readonly sums = new Float64Array(OUTCOMES.length);
  readonly counts = new Float64Array(OUTCOMES.length);

  record(outcome: number, micros: number): void {
    let buckets = this.buckets[outcome];
    if (buckets === undefined) buckets = this.buckets[outcome] = new Float64Array(BUCKETS_MICROS.length + 1);
    let i = 0;
    while (i < BUCKETS_MICROS.length && micros > BUCKETS_MICROS[i]) i++;
    buckets[i]++;
    this.sums[outcome] += micros / 1e6;
    this.counts[outcome]++;
  }
}

type ServiceRows = Record<Stack, Map<string, MethodRow>>;

export class CallLatency {
  private readonly services = new Map<string, ServiceRows>();
  private readonly limits: CallLatencyLimits;

  constructor(
    readonly protocol: 'dubbo' | 'http',
    limits: Partial<CallLatencyLimits> = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  record(service: string, stack: Stack, method: string, latencyMicros: number, outcome: Outcome): void {
    this.row(service, stack, method).record(outcomeIndex(outcome), latencyMicros);
  }

  /**
   * Where a call of this service, stack and method is counted: its own row, or `other` past the
   * caps. Rows are never removed, so the answer for the same names never changes.
   */
  row(service: string, stack: Stack, method: string): MethodRow {
    let rows = this.services.get(service);
    if (rows === undefined) {
      if (this.services.size >= this.limits.maxServices) service = OTHER;
      rows = this.services.get(service);
      if (rows === undefined) this.services.set(service, (rows = { legacy: new Map(), mesh: new Map() }));
    }
    const methods = rows[stack];
    let row = methods.get(method);
    if (row === undefined) {
      if (methods.size >= this.limits.maxMethodsPerService) method = OTHER;
      row = methods.get(method);
      if (row === undefined) methods.set(method, (row = new MethodRow()));
    }
    return row;
  }

  /** @internal Every row, for the Prometheus collector and tests. */
  *rows(): IterableIterator<{ service: string; stack: Stack; method: string; row: MethodRow }> {
    for (const [service, rows] of this.services) {
      for (const stack of ['legacy', 'mesh'] as const) for (const [method, row] of rows[stack]) yield { service, stack, method, row };
    }
  }
}

interface PromValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

export const CALL_LATENCY_METRIC = 'mesh_bridge_request_duration_seconds';

const byRegistry = new WeakMap<Registry, Set<CallLatency>>();

/** Exposes `latency` through the registry's one `mesh_bridge_request_duration_seconds` histogram. */
export function registerCallLatency(registry: Registry, latency: CallLatency): void {
  let members = byRegistry.get(registry);
  if (members !== undefined) {
    members.add(latency);
    return;
  }
  members = new Set([latency]);
  byRegistry.set(registry, members);
  const all = members;
  const metric = {
    name: CALL_LATENCY_METRIC,
    help: 'Latency of proxied calls in seconds, by protocol, service, stack, method and outcome (failure classes)',
    type: 'histogram',
    aggregator: 'sum',
    reset(): void {},
    async get() {
      const values: PromValue[] = [];
      for (const member of all) {
        for (const { service, stack, method, row } of member.rows()) {
          for (let o = 0; o < OUTCOMES.length; o++) {
            const buckets = row.buckets[o];
            if (buckets === undefined) continue;
            const labels = { protocol: member.protocol, service, stack, method, outcome: OUTCOMES[o] };
            let cumulative = 0;
            for (let b = 0; b < buckets.length; b++) {
              cumulative += buckets[b];
              const le = b < LATENCY_BUCKETS.length ? LATENCY_BUCKETS[b] : '+Inf';
              values.push({ metricName: `${CALL_LATENCY_METRIC}_bucket`, labels: { ...labels, le }, value: cumulative });
            }
            values.push({ metricName: `${CALL_LATENCY_METRIC}_sum`, labels, value: row.sums[o] });
            values.push({ metricName: `${CALL_LATENCY_METRIC}_count`, labels, value: row.counts[o] });
          }
        }
      }
      return { name: CALL_LATENCY_METRIC, help: metric.help, type: 'histogram', values, aggregator: 'sum' };
    },
  };
  registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
}
