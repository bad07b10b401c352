// What the admin API and /metrics say about a stack's filters: refusals per filter, breaker states,
// injected faults. Read from the filter objects when asked (never counted per request here). The
// refusal counter stays monotonic across reloads: each scrape adds what a filter object counted since
// the last one, and a reload's fresh filters start from zero without taking the total down.
import type { Filter } from '../proxy/filters';
import { AccessLogFilter } from '../proxy/filters/access-log';
import { AuthzFilter } from '../proxy/filters/authz';
import { CircuitBreakerFilter } from '../proxy/filters/circuit-breaker';
import { DegradeFilter, DegradeReason } from '../proxy/filters/degrade';
import { FaultInjectionFilter } from '../proxy/filters/fault-injection';
import { IsolationFilter } from '../proxy/filters/isolation';
import { RateLimitFilter } from '../proxy/filters/rate-limit';
import { ruleName } from '../proxy/filters/request-match';
import type { BreakerState } from '../proxy/filters/circuit-breaker';

export interface FilterState {
  name: string;
  /** Requests this filter answered itself (refused, denied, aborted) since it was built; absent where the filter does not count them. */
  refused?: number;
  /** Rate limit: refusals per rule, by the rule's name (or `rate-limit[i]`). */
  refusedByRule?: Record<string, number>;
  /** Rate limit: hot-parameter keys forgotten past maxKeys, per rule (rules that had any). */
  keysEvictedByRule?: Record<string, number>;
  /** Circuit breaker: every breaker that exists, with its state. */
  breakers?: Array<{ rule: string; key: string; state: BreakerState; opens: number }>;
  /** Fault injection: delays and aborts injected. */
  injected?: { delays: number; aborts: number };
  /** Authz: denials per rule and identity kind (unverified: a claimed app; none: the caller named none). */
  deniedBy?: Array<{ rule: string; identity: string; count: number }>;
  /** Degradation: fallback answers given, per rule and reason. */
  degraded?: Array<{ rule: string; reason: DegradeReason; count: number }>;
  /** Access log: lines not written past maxLinesPerSecond. */
  logLinesSuppressed?: number;
}

/** The rule names a filter's config gave (the config it was built from, already validated). */
function ruleNames(filter: string, config: unknown): string[] {
  const rules = (config as { rules?: Array<{ name?: string }> } | undefined)?.rules ?? [];
  return rules.map((rule, i) => ruleName(filter, i, rule.name));
}

/** A filter's state; `config` is the config it was built from, for rule names. */
export function filterState(filter: Filter, config?: unknown): FilterState {
  if (filter instanceof RateLimitFilter) {
    const names = ruleNames(filter.name, config);
    const refusedByRule: Record<string, number> = {};
    filter.refused.forEach((n, i) => (refusedByRule[names[i] ?? ruleName(filter.name, i)] = n));
    const keysEvictedByRule: Record<string, number> = {};
    filter.evictions().forEach((n, i) => {
      if (n > 0) keysEvictedByRule[names[i] ?? ruleName(filter.name, i)] = n;
    });
    return { name: filter.name, refused: filter.refused.reduce((a, b) => a + b, 0), refusedByRule, keysEvictedByRule };
  }
  if (filter instanceof CircuitBreakerFilter) {
    return { name: filter.name, breakers: filter.states() };
  }
  if (filter instanceof AuthzFilter) {
    const deniedBy = [...filter.deniedBy].map(([key, count]) => {
      const at = key.lastIndexOf('|');
      return { rule: key.slice(0, at), identity: key.slice(at + 1), count };
    });
    return { name: filter.name, refused: filter.denied, deniedBy };
  }
  if (filter instanceof IsolationFilter) return { name: filter.name, refused: filter.refused };
  if (filter instanceof DegradeFilter) return { name: filter.name, degraded: filter.counts() };
  if (filter instanceof AccessLogFilter) return { name: filter.name, logLinesSuppressed: filter.suppressed };
  if (filter instanceof FaultInjectionFilter) return { name: filter.name, refused: filter.injected.aborts, injected: { ...filter.injected } };
  return { name: filter.name };
}
