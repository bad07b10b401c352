// Per service and stack: requests, errors and latency over a sliding window (for the admin API
// and the cutover planner's gates) and the same as Prometheus counters. Recording is a map lookup
// and a few increments of plain numbers: it runs once per proxied request, so prom-client (label
// hashing per call) is only handed the totals when metrics are scraped.
import { Counter } from 'prom-client';
import type { Stack } from '../../catalog';
import { Outcome, isError } from '../../proxy/failure-class';
import { CallLatency, MethodRow, OTHER, outcomeIndex, registerCallLatency } from '../../proxy/stats/call-latency';
import type { BoundedLabels } from '../../telemetry/bounded-labels';
import { Registry } from '../../telemetry/metrics';
import { SlidingWindow, WindowSummary } from './sliding-window';

interface Cell {
  protocol: 'dubbo' | 'http';
  service: string;
  stack: Stack;
  window: SlidingWindow;
  ok: number;
  errors: number;
  latencySeconds: number;
}

/** Where the last call was counted, for the next call of the same names. */
interface Recorded {
  service: string;
  stack: Stack;
  method: string;
  row: MethodRow;
  /** Found on the first call that counts in the window (a caller that went away does not). */
  cell: Cell | null;
}

/** Services with a window of their own, per stack. */
const MAX_SERVICES = 2000;

export interface ServiceStackStats extends WindowSummary {
  service: string;
  stack: Stack;
}

/** Every TrafficStats of a registry, so one scrape collects the Dubbo and the HTTP listener's. */
const statsByRegistry = new WeakMap<Registry, Set<TrafficStats>>();

function registerCounters(registry: Registry, stats: TrafficStats): void {
  let all = statsByRegistry.get(registry);
  if (all !== undefined) {
    all.add(stats);
    return;
  }
  all = new Set([stats]);
  statsByRegistry.set(registry, all);
  const members = all;
  new Counter({
    name: 'mesh_bridge_requests_total',
    help: 'Requests proxied, by protocol, service, stack and outcome',
    labelNames: ['protocol', 'service', 'stack', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const member of members) {
        for (const cell of member.cells()) {
          const labels = { protocol: cell.protocol, service: cell.service, stack: cell.stack };
          if (cell.ok > 0) this.inc({ ...labels, outcome: 'ok' }, cell.ok);
          if (cell.errors > 0) this.inc({ ...labels, outcome: 'error' }, cell.errors);
        }
      }
    },
  });
  new Counter({
    name: 'mesh_bridge_request_seconds_total',
    help: 'Sum of request latencies in seconds, by protocol, service and stack',
    labelNames: ['protocol', 'service', 'stack'],
    registers: [registry],
    collect() {
      this.reset();
      for (const member of members) {
        for (const cell of member.cells()) {
          if (cell.latencySeconds > 0) this.inc({ protocol: cell.protocol, service: cell.service, stack: cell.stack }, cell.latencySeconds);
        }
      }
    },
  });
}

export class TrafficStats {
  /** Per stack, then per service: no key string is built per request. */
  private readonly byStack: Record<Stack, Map<string, Cell>> = { legacy: new Map(), mesh: new Map() };
  /** Per method and outcome, for Prometheus' latency histogram. */
  readonly latency: CallLatency;
  /**
   * The last call's names and where it was counted: calls arrive in batches to one method, which
   * then skip the four map lookups. Kept only when no name was folded into `other`: a service
   * admitted to its own series stays admitted and cells and rows are never removed, so the same
   * names are counted in the same places for good.
   */
  private last: Recorded | null = null;

  constructor(
    metrics: Registry,
    private readonly protocol: 'dubbo' | 'http',
    private readonly windowMs = 60_000,
    /** Folds services nobody knows (names from requests) into one `other` cell and series. */
    private readonly serviceLabels?: BoundedLabels,
  ) {
    registerCounters(metrics, this);
    this.latency = new CallLatency(protocol);
    registerCallLatency(metrics, this.latency);
  }

  /** @internal For the Prometheus collector. */
  *cells(): IterableIterator<Cell> {
    yield* this.byStack.legacy.values();
    yield* this.byStack.mesh.values();
  }

  private cell(service: string, stack: Stack): Cell {
    const cells = this.byStack[stack];
    let cell = cells.get(service);
    if (cell === undefined && cells.size >= MAX_SERVICES) {
      // Callers choose service names: past the cap they share one cell, so memory and series stay bounded.
      service = OTHER;
      cell = cells.get(service);
    }
    if (cell === undefined) {
      const label = this.serviceLabels?.of(service) ?? service;
      if (label !== service) return this.cell(label, stack);
      cell = { protocol: this.protocol, service, stack, window: new SlidingWindow(this.windowMs), ok: 0, errors: 0, latencySeconds: 0 };
      cells.set(service, cell);
    }
    return cell;
  }

  /** `now` may be a coarse clock (the sliding window's slots are seconds wide). */
  record(service: string, stack: Stack, now: number, latencyMicros: number, error: boolean): void {
    this.count(this.cell(service, stack), now, latencyMicros, error);
  }

  private count(cell: Cell, now: number, latencyMicros: number, error: boolean): void {
    cell.window.record(now, latencyMicros, error);
    if (error) cell.errors++;
    else cell.ok++;
    cell.latencySeconds += latencyMicros / 1e6;
  }

  /**
   * One proxied call and how it ended (failure-class.ts). A caller that went away says nothing
   * about the service, so it is left out of the window that gates and /traffic read.
   */
  recordCall(service: string, stack: Stack, method: string, now: number, latencyMicros: number, outcome: Outcome): void {
    let last = this.last;
    if (last === null || last.service !== service || last.method !== method || last.stack !== stack) last = this.placesOf(service, stack, method);
    last.row.record(outcomeIndex(outcome), latencyMicros);
    if (outcome !== 'caller_gone') this.count((last.cell ??= this.cell(service, stack)), now, latencyMicros, isError(outcome));
  }

  private placesOf(service: string, stack: Stack, method: string): Recorded {
    const label = this.serviceLabels?.of(service) ?? service;
    const places: Recorded = { service, stack, method, row: this.latency.row(label, stack, method), cell: null };
    if (label === service) this.last = places;
    return places;
  }

  summaries(now: number, service?: string): ServiceStackStats[] {
    const out: ServiceStackStats[] = [];
    for (const cell of this.cells()) {
      if (service !== undefined && cell.service !== service) continue;
      out.push({ service: cell.service, stack: cell.stack, ...cell.window.summary(now) });
    }
    return out.sort((a, b) => a.service.localeCompare(b.service) || a.stack.localeCompare(b.stack));
  }
}
