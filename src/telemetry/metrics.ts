// Prometheus metrics: one registry per process (or per test), passed to every part that counts
// something, so tests can read what a part counted and two bridges in one test never share counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export { Registry };

/**
 * The process's own figures (prom-client's defaults): CPU, memory, heap, GC, event-loop lag, and
 * `process_open_fds` against `process_max_fds`. When descriptors run out, libuv accepts and closes
 * what it cannot keep without telling Node, so no accept error is ever counted: alert on open over
 * max instead (the listeners refuse callers past maxConnections, well before).
 */
export function collectProcessMetrics(registry: Registry): void {
  if (registry.getSingleMetric('process_open_fds') !== undefined || registry.getSingleMetric('process_cpu_seconds_total') !== undefined) return;
  collectDefaultMetrics({ register: registry });
}

/** Returns the named counter of a registry, creating it on first use (parts may share names). */
export function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return existing as Counter<L>;
  return new Counter<L>({ name, help, labelNames, registers: [registry] });
}

export function gauge<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return existing as Gauge<L>;
  return new Gauge<L>({ name, help, labelNames, registers: [registry] });
}

export function histogram<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  buckets: number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
): Histogram<L> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return existing as Histogram<L>;
  return new Histogram<L>({ name, help, labelNames, buckets, registers: [registry] });
}

/** Reads the current value of a counter or gauge (summed over labels matching `labels`), for tests and the admin API. */
export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return 0;
  const { values } = await metric.get();
  let total = 0;
  for (const value of values) {
    if (Object.entries(labels).every(([k, v]) => value.labels[k] === v)) total += value.value;
  }
  return total;
}
