// The one set of outcomes a proxied call can have, shared by outlier detection, breakers, stats,
// Prometheus and (later) the cutover planner's gates, so they all count the same things. Each
// failure is blamed on whoever caused it: the upstream's transport, the application, the caller,
// or the bridge itself. Local replies take each protocol's own form here and nowhere else.
import { DubboStatus } from '../dubbo-codec/status';

/** How a proxied call ended. `ok` is the only success. */
export type Outcome =
  | 'ok'
  /** The upstream refused or broke the connection before it was made (ECONNREFUSED, EHOSTUNREACH ...). */
  | 'connect_failure'
  /** The connection was not made within the connect timeout (SYNs dropped, backlog full). */
  | 'connect_timeout'
  /** An established upstream connection broke (RST, FIN mid-response, a malformed response). */
  | 'reset'
  /** The upstream did not answer within the call's deadline. */
  | 'response_timeout'
  /**
   * The upstream said it is overloaded (Dubbo status 100), or would not take more of what the
   * bridge sent it. An HTTP app's own 5xx, 503 included, is an application_exception.
   */
  | 'upstream_overloaded'
  /** The caller hung up or gave up before the answer: never the upstream's fault. */
  | 'caller_gone'
  /** The application answered with an error: a Dubbo exception result or error status, an HTTP 5xx. */
  | 'application_exception'
  /** The bridge answered itself: no instance, a cap reached, a malformed request, a filter's refusal. */
  | 'bridge_refusal';

export const OUTCOMES: readonly Outcome[] = [
  'ok',
  'connect_failure',
  'connect_timeout',
  'reset',
  'response_timeout',
  'upstream_overloaded',
  'caller_gone',
  'application_exception',
  'bridge_refusal',
];

/** The labels of each protocol's failure counter (`mesh_bridge_<protocol>_upstream_failures_total`). */
export const FAILURE_LABEL_NAMES = ['reason', 'refusal'] as const;

export interface FailureLabels {
  reason: Exclude<Outcome, 'ok'>;
  refusal?: BridgeRefusal;
}

/**
 * A failure's labels, the same names and values whatever the protocol: `reason` is its outcome,
 * and a bridge_refusal also carries `refusal`, the kind of the bridge's own answer. The kind is
 * ignored for other outcomes, so a caller may pass the kind it would answer with.
 */
export function failureLabels(outcome: Exclude<Outcome, 'ok'>, refusal?: BridgeRefusal): FailureLabels {
  return outcome === 'bridge_refusal' && refusal !== undefined ? { reason: outcome, refusal } : { reason: outcome };
}

/** Who an outcome is blamed on. */
export type Blame = 'none' | 'upstream' | 'application' | 'caller' | 'bridge';

export function blameOf(outcome: Outcome): Blame {
  switch (outcome) {
    case 'ok':
      return 'none';
    case 'connect_failure':
    case 'connect_timeout':
    case 'reset':
    case 'response_timeout':
    case 'upstream_overloaded':
      return 'upstream';
    case 'application_exception':
      return 'application';
    case 'caller_gone':
      return 'caller';
    case 'bridge_refusal':
      return 'bridge';
  }
}

/**
 * A gateway failure in Envoy's sense: the instance could not carry the call. These, and only
 * these, feed consecutive-failure ejection. A slow answer (response_timeout) and an application
 * error feed the error-ratio mode and the gates, never the consecutive streak.
 */
export function isGatewayFailure(outcome: Outcome): boolean {
  return outcome === 'connect_failure' || outcome === 'connect_timeout' || outcome === 'reset' || outcome === 'upstream_overloaded';
}

/** True when the call failed as far as the caller's service is concerned (stats, gates, breakers). */
export function isError(outcome: Outcome): boolean {
  return outcome !== 'ok' && outcome !== 'caller_gone';
}

/** The Dubbo status a local reply for this outcome carries. */
export function dubboStatusFor(outcome: Outcome, refusal?: BridgeRefusal): number {
  switch (outcome) {
    case 'response_timeout':
    case 'connect_timeout':
      return DubboStatus.SERVER_TIMEOUT;
    case 'upstream_overloaded':
      return DubboStatus.SERVER_THREADPOOL_EXHAUSTED_ERROR;
    case 'bridge_refusal':
      return refusal === undefined ? DubboStatus.SERVER_ERROR : DUBBO_REFUSAL_STATUS[refusal];
    default:
      return DubboStatus.SERVICE_ERROR;
  }
}

/** The HTTP status a local reply for this outcome carries. */
export function httpStatusFor(outcome: Outcome, refusal?: BridgeRefusal): number {
  switch (outcome) {
    case 'response_timeout':
    case 'connect_timeout':
      return 504;
    case 'upstream_overloaded':
      return 503;
    case 'bridge_refusal':
      return refusal === undefined ? 503 : HTTP_REFUSAL_STATUS[refusal];
    default:
      return 502;
  }
}

/** Why the bridge answered a call itself. */
export type BridgeRefusal =
  /** No instance of the service on either stack (or all ejected and the panic rule did not apply). */
  | 'no_instance'
  /** A cap was reached: in-flight requests per caller, connections, pipelining depth. */
  | 'overloaded'
  /** The request could not be read or names no service. */
  | 'bad_request'
  /** A filter (authz, rate limit, breaker ...) said no. */
  | 'denied'
  | 'rate_limited'
  /** The bridge is stopping. */
  | 'draining'
  /** The request would loop back into the bridge. */
  | 'loop'
  /** A circuit breaker is open for this service or method. */
  | 'circuit_open'
  /** A concurrency bulkhead for the upstream service is full. */
  | 'bulkhead_full'
  /** Fault injection aborted the call on purpose. */
  | 'fault_injected'
  /** A degradation rule answered with its fallback instead of the service (the answer says how). */
  | 'degraded';

const DUBBO_REFUSAL_STATUS: Record<BridgeRefusal, number> = {
  no_instance: DubboStatus.SERVICE_NOT_FOUND,
  overloaded: DubboStatus.SERVER_THREADPOOL_EXHAUSTED_ERROR,
  bad_request: DubboStatus.BAD_REQUEST,
  denied: DubboStatus.SERVICE_ERROR,
  rate_limited: DubboStatus.SERVER_THREADPOOL_EXHAUSTED_ERROR,
  // Every status but 20 is an error to each client; Java's failover retries all but 30/31 as a
  // provider's failure (30/31 as timeouts); apache-dubbo-js and sofa-rpc-node retry none. 100 says
  // what draining is, a refusal before any work, and a proxy in front counts it against this
  // instance (upstream_overloaded), where 80 would read as the application's error.
  draining: DubboStatus.SERVER_THREADPOOL_EXHAUSTED_ERROR,
  loop: DubboStatus.SERVICE_ERROR,
  circuit_open: DubboStatus.SERVER_THREADPOOL_EXHAUSTED_ERROR,
  bulkhead_full: DubboStatus.SERVER_THREADPOOL_EXHAUSTED_ERROR,
  fault_injected: DubboStatus.SERVICE_ERROR,
  degraded: DubboStatus.SERVICE_ERROR,
};

const HTTP_REFUSAL_STATUS: Record<BridgeRefusal, number> = {
  no_instance: 503,
  overloaded: 503,
  bad_request: 400,
  denied: 403,
  rate_limited: 429,
  draining: 503,
  loop: 508,
  circuit_open: 503,
  bulkhead_full: 503,
  fault_injected: 503,
  degraded: 503,
};
