// Caps per upstream service (Envoy's circuit-breaking thresholds) and its retry budget. Active
// requests are counted per service by the isolation bulkhead (filters/isolation.ts), one per
// service, unlimited unless `maxRequests` is set; retries are allowed while the retries in flight
// stay under the budget (a share of the active requests, with a floor) and under `maxRetries`, so
// retries cannot multiply an outage. It runs as the last step before routing and sees every
// request's end; the listener asks it before each retry.
import { IsolationFilter } from '../filters/isolation';
import type { Filter, FilterDecision, ProxyRequest } from '../filters/filter';

export interface RetryBudgetOptions {
  /** Retries in flight at most this share (percent) of the service's active requests ... */
  budgetPercent: number;
  /** ... but always this many may be. */
  minRetryConcurrency: number;
}

/** Envoy's retry_budget defaults. */
export const DEFAULT_RETRY_BUDGET: RetryBudgetOptions = { budgetPercent: 20, minRetryConcurrency: 3 };

export interface ServiceCaps {
  /** Requests routed and not yet answered; past it, refused (Dubbo 100 / HTTP 503). None by default. */
  maxRequests?: number;
  /** Retries in flight, whatever the budget allows. None by default. */
  maxRetries?: number;
  retryBudget: RetryBudgetOptions;
}

/** What a listener asks before sending a request again. */
export interface RetryGate {
  /** True when a retry of this request may go now (it then holds a retry slot until it ends). */
  tryRetry(request: ProxyRequest): boolean;
}

export type RetryRefusal = 'budget' | 'cap';

/** Pure: how many retries may be in flight for this many active requests. */
export function retriesAllowed(active: number, caps: ServiceCaps): { allowed: number; by: RetryRefusal } {
  const budget = Math.max(caps.retryBudget.minRetryConcurrency, Math.floor((active * caps.retryBudget.budgetPercent) / 100));
  return caps.maxRetries !== undefined && caps.maxRetries < budget ? { allowed: caps.maxRetries, by: 'cap' } : { allowed: budget, by: 'budget' };
}

export interface UpstreamCapsMetrics {
  retried(service: string): void;
  refused(service: string, reason: RetryRefusal): void;
}

interface ServiceState {
  caps: ServiceCaps & { where: string };
  bulkhead: IsolationFilter;
  retries: number;
}

interface Taken {
  state: ServiceState;
  /** The bulkhead that admitted it (a reload may have replaced the service's since). */
  bulkhead: IsolationFilter;
  retrying: boolean;
}

const UNLIMITED = Number.MAX_SAFE_INTEGER;

/** The service's bulkhead: its refusal names the cap (`dubbo.outbound.services[0].caps.maxRequests`). */
function bulkheadFor(caps: ServiceCaps & { where: string }): IsolationFilter {
  return new IsolationFilter({ rules: [{ name: `${caps.where}.maxRequests`, maxConcurrent: caps.maxRequests ?? UNLIMITED }], maxServices: 1 });
}

export class UpstreamCaps implements Filter, RetryGate {
  readonly name = 'upstream-caps';
  private services = new Map<string, ServiceState>();
  private readonly taken = new WeakMap<ProxyRequest, Taken>();

  constructor(
    private readonly metrics: UpstreamCapsMetrics,
    /** `where` names the caps in refusals: `dubbo.outbound.services[0].caps`. */
    caps: ReadonlyMap<string, ServiceCaps & { where: string }> = new Map(),
  ) {
    this.configure(caps);
  }

  /**
   * Takes new caps. A service keeps its retry count, and its bulkhead while maxRequests is the same;
   * the requests a replaced bulkhead admitted still release it (each request remembers its own).
   */
  configure(caps: ReadonlyMap<string, ServiceCaps & { where: string }>): void {
    const next = new Map<string, ServiceState>();
    for (const [service, c] of caps) {
      const state = this.services.get(service) ?? { caps: c, bulkhead: bulkheadFor(c), retries: 0 };
      if (state.caps.maxRequests !== c.maxRequests || state.caps.where !== c.where) state.bulkhead = bulkheadFor(c);
      state.caps = c;
      next.set(service, state);
    }
    this.services = next;
  }

  onRequest(request: ProxyRequest): FilterDecision {
    const state = this.services.get(request.service);
    if (state === undefined) return undefined;
    const bulkhead = state.bulkhead;
    const refused = bulkhead.onRequest(request);
    if (refused !== undefined) return refused;
    this.taken.set(request, { state, bulkhead, retrying: false });
    return undefined;
  }

  tryRetry(request: ProxyRequest): boolean {
    const taken = this.taken.get(request);
    if (taken === undefined) return true; // a service without caps (none configured): retries as its policy says
    if (taken.retrying) {
      this.metrics.retried(request.service);
      return true; // it holds its slot already
    }
    const { state } = taken;
    const { allowed, by } = retriesAllowed(state.bulkhead.inFlight(request.service), state.caps);
    if (state.retries >= allowed) {
      this.metrics.refused(request.service, by);
      return false;
    }
    state.retries++;
    taken.retrying = true;
    this.metrics.retried(request.service);
    return true;
  }

  onComplete(request: ProxyRequest): void {
    const taken = this.taken.get(request);
    if (taken === undefined) return;
    this.taken.delete(request);
    taken.bulkhead.onComplete(request);
    if (taken.retrying) taken.state.retries--;
  }

  /** For /status: active requests and retries in flight per service with caps. */
  snapshot(): Array<{ service: string; active: number; retries: number; maxRequests?: number; maxRetries?: number; retriesAllowed: number }> {
    const out = [];
    for (const [service, state] of this.services) {
      const active = state.bulkhead.inFlight(service);
      out.push({ service, active, retries: state.retries, maxRequests: state.caps.maxRequests, maxRetries: state.caps.maxRetries, retriesAllowed: retriesAllowed(active, state.caps).allowed });
    }
    return out;
  }
}
