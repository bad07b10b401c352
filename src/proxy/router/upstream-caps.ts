// Caps per upstream service (Envoy's circuit-breaking thresholds) and its retry budget. Active
// requests are counted per service by the isolation bulkhead (filters/isolation.ts), one per
// service, unlimited unless `maxRequests` is set; retries are allowed while the retries in flight
// stay under the budget (a share of the active requests, with a floor) and under `maxRetries`, so
// retries cannot multiply an outage. It runs as the last step before routing and sees every
// request's end; the listener asks it before each retry.
import { IsolationFilter } from '../filters/isolation';
import type { Filter, FilterDecision, LocalReply, ProxyRequest } from '../filters/filter';

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
  /** Requests waiting for an upstream connection to be made; past it, refused. None by default. */
  maxPending?: number;
  /** HTTP: upstream connections open to the service's instances (in use or idle); past it, a request needing a new one is refused. */
  maxConnections?: number;
  retryBudget: RetryBudgetOptions;
}

/** What a listener asks before sending a request again. */
export interface RetryGate {
  /** True when a retry of this request may go now (it then holds a retry slot until it ends). */
  tryRetry(request: ProxyRequest): boolean;
}

export type RetryRefusal = 'budget' | 'cap';

/**
 * What a listener asks before a request waits on an upstream connection being made, or opens a new
 * one. A LocalReply refuses the request (Dubbo 100 / HTTP 503, naming the cap). Tracked only for
 * services with those caps; the entries are dropped lazily once `waiting` / `open` turn false.
 */
export interface ConnectionGate {
  /** HTTP, before opening a connection for the request: refused when the service's connections or pending requests are at their caps. */
  beforeConnect(request: ProxyRequest): LocalReply | undefined;
  /** HTTP, once opened: counted while `open()`, and the request as pending while `waiting()`. */
  connecting(request: ProxyRequest, open: () => boolean, waiting: () => boolean): void;
  /** Dubbo: the request waits for its (shared) connection to be made, while `waiting()`. */
  admitPending(request: ProxyRequest, waiting: () => boolean): LocalReply | undefined;
}

/** Pure: how many retries may be in flight for this many active requests. */
export function retriesAllowed(active: number, caps: ServiceCaps): { allowed: number; by: RetryRefusal } {
  const budget = Math.max(caps.retryBudget.minRetryConcurrency, Math.floor((active * caps.retryBudget.budgetPercent) / 100));
  return caps.maxRetries !== undefined && caps.maxRetries < budget ? { allowed: caps.maxRetries, by: 'cap' } : { allowed: budget, by: 'budget' };
}

export type CapName = 'maxRequests' | 'maxPending' | 'maxConnections';

export interface UpstreamCapsMetrics {
  retried(service: string): void;
  refused(service: string, reason: RetryRefusal): void;
  /** A request refused over one of the service's caps. */
  overCap(service: string, cap: CapName): void;
}

interface ServiceState {
  caps: ServiceCaps & { where: string };
  bulkhead: IsolationFilter;
  retries: number;
  /** Requests waiting for a connection, and connections open (HTTP): only with those caps, at most the cap long. */
  pending: Array<{ request: ProxyRequest; waiting: () => boolean }>;
  connections: Array<() => boolean>;
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

export class UpstreamCaps implements Filter, RetryGate, ConnectionGate {
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
      const state = this.services.get(service) ?? { caps: c, bulkhead: bulkheadFor(c), retries: 0, pending: [], connections: [] };
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
    if (refused !== undefined) {
      this.metrics.overCap(request.service, 'maxRequests');
      return refused;
    }
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

  beforeConnect(request: ProxyRequest): LocalReply | undefined {
    const state = this.taken.get(request)?.state;
    if (state === undefined) return undefined;
    const { maxConnections, maxPending } = state.caps;
    if (maxConnections !== undefined && this.openConnections(state) >= maxConnections) return this.overCap(request, state, 'maxConnections', 'upstream connections open');
    if (maxPending !== undefined && this.waiting(state) >= maxPending) return this.overCap(request, state, 'maxPending', 'requests waiting for a connection');
    return undefined;
  }

  connecting(request: ProxyRequest, open: () => boolean, waiting: () => boolean): void {
    const state = this.taken.get(request)?.state;
    if (state === undefined) return;
    if (state.caps.maxConnections !== undefined) state.connections.push(open);
    if (state.caps.maxPending !== undefined) state.pending.push({ request, waiting });
  }

  admitPending(request: ProxyRequest, waiting: () => boolean): LocalReply | undefined {
    const state = this.taken.get(request)?.state;
    const maxPending = state?.caps.maxPending;
    if (state === undefined || maxPending === undefined) return undefined;
    if (this.waiting(state) >= maxPending) return this.overCap(request, state, 'maxPending', 'requests waiting for a connection');
    state.pending.push({ request, waiting });
    return undefined;
  }

  /** The refusal of a request over one of the service's caps, naming it; counted. */
  private overCap(request: ProxyRequest, state: ServiceState, cap: 'maxConnections' | 'maxPending', what: string): LocalReply {
    this.metrics.overCap(request.service, cap);
    return { outcome: 'bridge_refusal', refusal: 'overloaded', message: `cap ${state.caps.where}.${cap} reached: ${state.caps[cap]} ${what} for ${request.service}` };
  }

  /** Requests still waiting for a connection (those whose connection was made, or that ended, are dropped). */
  private waiting(state: ServiceState): number {
    state.pending = state.pending.filter((p) => p.waiting() && this.taken.has(p.request));
    return state.pending.length;
  }

  private openConnections(state: ServiceState): number {
    state.connections = state.connections.filter((open) => open());
    return state.connections.length;
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
