// Per service and stack: requests, errors and latency over a sliding window (for the admin API
// and the cutover planner's gates) and the same as Prometheus counters. Recording is a map lookup
// and a few increments: it runs once per proxied request.
import type { Stack } from '../../catalog';
import { Registry, counter } from '../../telemetry/metrics';
import { SlidingWindow, WindowSummary } from './sliding-window';

interface Cell {
  service: string;
  stack: Stack;
  window: SlidingWindow;
  ok: { inc(): void };
  error: { inc(): void };
  latencySeconds: { inc(value: number): void };
}

export interface ServiceStackStats extends WindowSummary {
  service: string;
  stack: Stack;
}

export class TrafficStats {
  private readonly cells = new Map<string, Cell>();
  private readonly requests;
  private readonly latency;

  constructor(
    metrics: Registry,
    private readonly protocol: 'dubbo' | 'http',
    private readonly windowMs = 60_000,
  ) {
    this.requests = counter(metrics, 'mesh_bridge_requests_total', 'Requests proxied, by protocol, service, stack and outcome', [
      'protocol',
      'service',
      'stack',
      'outcome',
    ]);
    this.latency = counter(metrics, 'mesh_bridge_request_seconds_total', 'Sum of request latencies in seconds, by protocol, service and stack', [
      'protocol',
      'service',
      'stack',
    ]);
  }

  private cell(service: string, stack: Stack): Cell {
    const key = `${service}\u0000${stack}`;
    let cell = this.cells.get(key);
    if (cell === undefined) {
      const labels = { protocol: this.protocol, service, stack };
      cell = {
        service,
        stack,
        window: new SlidingWindow(this.windowMs),
        ok: this.requests.labels({ ...labels, outcome: 'ok' }),
        error: this.requests.labels({ ...labels, outcome: 'error' }),
        latencySeconds: this.latency.labels(labels),
      };
      this.cells.set(key, cell);
    }
    return cell;
  }

  record(service: string, stack: Stack, now: number, latencyMicros: number, error: boolean): void {
    const cell = this.cell(service, stack);
    cell.window.record(now, latencyMicros, error);
    (error ? cell.error : cell.ok).inc();
    cell.latencySeconds.inc(latencyMicros / 1e6);
  }

  summaries(now: number, service?: string): ServiceStackStats[] {
    const out: ServiceStackStats[] = [];
    for (const cell of this.cells.values()) {
      if (service !== undefined && cell.service !== service) continue;
      out.push({ service: cell.service, stack: cell.stack, ...cell.window.summary(now) });
    }
    return out.sort((a, b) => a.service.localeCompare(b.service) || a.stack.localeCompare(b.stack));
  }
}
