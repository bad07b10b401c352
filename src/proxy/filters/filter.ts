// The contract every filter of the data path keeps, shared by the bridge and the sidecar. A filter
// sees a protocol-neutral view of a request (never its decoded arguments unless it must read one),
// and either lets it continue, answers it locally, or holds it and resumes it later. It may watch
// how the call ended. Filters are registered by name and built from validated config.
import type { Registry } from 'prom-client';
import type { Logger } from '../../telemetry/logger';
import type { BridgeRefusal, Outcome } from '../failure-class';
import type { IdentitySource } from './identity';

/** What a filter may read of a request. Lazy: reading an attachment or header may cost a scan. */
export interface ProxyRequest {
  readonly protocol: 'dubbo' | 'http';
  readonly service: string;
  readonly version: string;
  readonly group: string;
  /** The Dubbo method, or the HTTP method and path (`GET /orders`). */
  readonly method: string;
  /** Address of the caller's socket, `host:port`. */
  readonly remoteAddress: string;
  /** The caller's application as it claims it (Dubbo `application` attachment, a header): unverified. */
  callerApp(): string | undefined;
  /** A Dubbo attachment or an HTTP header (lower-case name). */
  attribute(name: string): string | undefined;
  /**
   * Dubbo: argument `index` (from 0) when it is a string or a number, read by skipping the arguments
   * before it (the others are never decoded); undefined when it is another type, absent or unreadable.
   * HTTP: always undefined.
   */
  argument(index: number): string | number | undefined;
}

/**
 * A fallback answer given in place of the call (degradation); the listener encodes it in its
 * protocol's form (src/proxy/dubbo/fallback-reply.ts, src/proxy/http/fallback-reply.ts).
 */
export type FallbackAnswer =
  /** Dubbo: a null result (RESPONSE_NULL_VALUE). HTTP: 204 with no body. */
  | { readonly kind: 'null' }
  /** Dubbo: `value` hessian2-encoded (RESPONSE_VALUE; Java-typed with java-value.ts). HTTP: 200 with `json` as body. */
  | { readonly kind: 'value'; readonly value: unknown; readonly json: string }
  /** Dubbo: a Throwable of `className` with `message` (RESPONSE_WITH_EXCEPTION). HTTP: `httpStatus` with a JSON error body. */
  | { readonly kind: 'exception'; readonly className: string; readonly message: string; readonly httpStatus: number }
  /** HTTP only: a static response. */
  | { readonly kind: 'http'; readonly status: number; readonly headers: Readonly<Record<string, string>>; readonly body: string };

/** A local answer: the listener maps it to the protocol's own form (failure-class.ts). */
export interface LocalReply {
  outcome: Extract<Outcome, 'bridge_refusal' | 'upstream_overloaded' | 'response_timeout'>;
  refusal?: BridgeRefusal;
  /** Names the rule or limit that answered, for the caller and the logs. */
  message: string;
  /** A fallback answer the caller gets instead of an error (degradation); the outcome stays a local reply's. */
  answer?: FallbackAnswer;
}

/** `undefined`: continue to the next filter. A LocalReply: answer now. `'held'`: the filter calls `resume` later. */
export type FilterDecision = undefined | LocalReply | 'held';

export interface FilterContext {
  /** Continue a held request (`reply` undefined) or answer it. Called exactly once after `'held'`. */
  resume(reply?: LocalReply): void;
}

export interface Filter {
  readonly name: string;
  /** Decide on a request. Synchronous on the hot path; hold and resume for anything that waits. */
  onRequest(request: ProxyRequest, now: number, context: FilterContext): FilterDecision;
  /**
   * How the call ended, with its latency: for breakers, bulkheads, stats. Called exactly once for
   * every request that entered the chain, whichever filter answered it and however it ended (a
   * one-way call when it is sent, a held one when its caller leaves: a filter holding it lets it go).
   * `refusal` says which kind of local answer it got when the outcome is bridge_refusal.
   */
  onComplete?(request: ProxyRequest, outcome: Outcome, latencyMicros: number, now: number, refusal?: BridgeRefusal): void;
  /**
   * A local reply some filter of the chain made for this request, before it goes out. Offered to
   * every filter that has this hook, in chain order, wherever it stands relative to the one that
   * answered: it may return a reply in its place (degradation turns a breaker's refusal into a
   * fallback answer) or undefined to leave it. Costs nothing on requests no filter answers.
   */
  onLocalReply?(request: ProxyRequest, reply: LocalReply): LocalReply | undefined;
}

/** What the composition (bridge, sidecar) hands every filter it builds. */
export interface FilterDependencies {
  logger: Logger;
  metrics: Registry;
  /**
   * Where every filter of the chain reads the caller's claimed application (authz's apps, every
   * rule's match.callerApp, the access log): one setting for the chain; the listener's default when absent.
   */
  identity?: IdentitySource;
}

/** Builds a filter from its config, validating it (a zod schema): a bad config throws with the key path. */
export type FilterFactory = (config: unknown, deps: FilterDependencies) => Filter;

const factories = new Map<string, FilterFactory>();

/** Registers a filter factory by name; a second registration of a name is a programming error. */
export function registerFilter(name: string, factory: FilterFactory): void {
  if (factories.has(name)) throw new Error(`filter ${name} registered twice`);
  factories.set(name, factory);
}

export function filterFactory(name: string): FilterFactory | undefined {
  return factories.get(name);
}

export function registeredFilters(): string[] {
  return [...factories.keys()];
}
