// Circuit breaking: per service (or per method), a breaker opens when, over a sliding window with
// at least a minimum number of calls, the error ratio, the slow-call ratio or the error count
// passes its threshold. Open, it answers at once (Dubbo 100 / HTTP 503, naming the rule) for
// `openMs`; then half-open, it admits a configured number of probes: all succeed, it closes; one
// fails, it opens again. Only failures of the service count: the bridge's own refusals and callers
// that hung up do not. The state machine is pure (`now` passed in).
import { z } from 'zod';
import { Outcome, isError } from '../failure-class';
import { BucketedWindow } from '../stats/bucketed-window';
import { BoundedMap } from './bounded-map';
import { RequestSlot } from './request-slot';
import type { Filter, FilterDecision, ProxyRequest } from './filter';
import { registerFilter } from './filter';
import { matches, requestMatchSchema, ruleName } from './request-match';

export const breakerRuleSchema = z
  .object({
    name: z.string().min(1).optional(),
    match: requestMatchSchema.optional(),
    /** One breaker per service, or one per service and method. */
    per: z.enum(['service', 'method']).default('method'),
    windowMs: z.number().int().positive().default(10_000),
    buckets: z.number().int().min(1).max(600).default(10),
    /** Calls the window needs before any ratio is judged. */
    minimumCalls: z.number().int().min(1).default(20),
    errorRatio: z.number().gt(0).max(1).optional(),
    errorCount: z.number().int().positive().optional(),
    slowCallMs: z.number().positive().optional(),
    slowCallRatio: z.number().gt(0).max(1).optional(),
    openMs: z.number().int().positive().default(30_000),
    halfOpenProbes: z.number().int().positive().default(3),
  })
  .strict()
  .refine((r) => r.errorRatio !== undefined || r.errorCount !== undefined || (r.slowCallMs !== undefined && r.slowCallRatio !== undefined), {
    message: 'a breaker needs errorRatio, errorCount, or slowCallMs with slowCallRatio',
  });

export const circuitBreakerConfigSchema = z.object({ rules: z.array(breakerRuleSchema).min(1), maxBreakers: z.number().int().positive().default(10_000) }).strict();

export type BreakerRule = z.infer<typeof breakerRuleSchema>;
export type BreakerState = 'closed' | 'open' | 'half_open';

/** One breaker's state machine. */
export class Breaker {
  state: BreakerState = 'closed';
  private openedAt = 0;
  private probesAdmitted = 0;
  private probesSucceeded = 0;
  private readonly window: BucketedWindow;
  /** Times this breaker opened, for metrics. */
  opens = 0;

  /** Calls at least this long count as slow (Infinity: none). */
  readonly slowCallMs: number;

  constructor(private readonly rule: BreakerRule) {
    this.window = new BucketedWindow(rule.windowMs, rule.buckets);
    this.slowCallMs = rule.slowCallMs ?? Infinity;
  }

  /** May a call go ahead now? In half-open, true also marks it as a probe. */
  admit(now: number): 'yes' | 'probe' | 'no' {
    if (this.state === 'open') {
      if (now - this.openedAt < this.rule.openMs) return 'no';
      this.state = 'half_open';
      this.probesAdmitted = 0;
      this.probesSucceeded = 0;
    }
    if (this.state === 'half_open') {
      if (this.probesAdmitted >= this.rule.halfOpenProbes) return 'no';
      this.probesAdmitted++;
      return 'probe';
    }
    return 'yes';
  }

  /** How an admitted call ended. */
  complete(now: number, failed: boolean, slow: boolean, probe: boolean): void {
    if (probe) {
      if (this.state !== 'half_open') return;
      if (failed || slow) this.open(now);
      else if (++this.probesSucceeded >= this.rule.halfOpenProbes) {
        this.state = 'closed';
        this.window.reset();
      }
      return;
    }
    if (this.state !== 'closed') return;
    this.window.record(now, failed, slow);
    if (this.tripped(now)) this.open(now);
  }

  private tripped(now: number): boolean {
    const { calls, errors, slow } = this.window.totals(now);
    const r = this.rule;
    if (r.errorCount !== undefined && errors >= r.errorCount) return true;
    if (calls < r.minimumCalls) return false;
    if (r.errorRatio !== undefined && errors / calls >= r.errorRatio) return true;
    return r.slowCallRatio !== undefined && r.slowCallMs !== undefined && slow / calls >= r.slowCallRatio;
  }

  private open(now: number): void {
    this.state = 'open';
    this.openedAt = now;
    this.opens++;
  }
}

interface Admitted {
  breaker: Breaker;
  probe: boolean;
  slowCallMs: number;
}

/** A rule's last breaker and the names it was for: a run of calls to one method builds no key. */
interface LastBreaker {
  service: string;
  method: string;
  breaker: Breaker;
  /** The map's evictions then: once it evicted anything, the breaker may be gone from it. */
  evictions: number;
}

export class CircuitBreakerFilter implements Filter {
  readonly name = 'circuit-breaker';
  private readonly breakers: Array<BoundedMap<string, Breaker>>;
  /**
   * Which breakers admitted a request in flight, to report its end to the same ones: the breaker
   * itself in the common case (one rule matched, no probe), else a list.
   */
  private readonly admitted = new RequestSlot<Breaker | Admitted[]>('circuit-breaker admitted');
  private readonly last: Array<LastBreaker | undefined>;

  constructor(private readonly config: z.infer<typeof circuitBreakerConfigSchema>) {
    this.breakers = config.rules.map(() => new BoundedMap<string, Breaker>(config.maxBreakers));
    this.last = config.rules.map(() => undefined);
  }

  /** The breaker of a rule for a request's service (and method), made when first needed. */
  private breakerFor(i: number, rule: BreakerRule, request: ProxyRequest): Breaker {
    const map = this.breakers[i];
    const method = rule.per === 'method' ? request.method : '';
    const last = this.last[i];
    if (last !== undefined && last.service === request.service && last.method === method && last.evictions === map.evictions) return last.breaker;
    const key = rule.per === 'method' ? `${request.service}#${method}` : request.service;
    const breaker = map.touch(key) ?? map.add(key, new Breaker(rule));
    this.last[i] = { service: request.service, method, breaker, evictions: map.evictions };
    return breaker;
  }

  onRequest(request: ProxyRequest, now: number): FilterDecision {
    let one: Breaker | undefined;
    let admitted: Admitted[] | undefined;
    const rules = this.config.rules;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i];
      if (!matches(rule.match, request)) continue;
      const breaker = this.breakerFor(i, rule, request);
      const answer = breaker.admit(now);
      if (answer === 'no') {
        const key = rule.per === 'method' ? `${request.service}#${request.method}` : request.service;
        return { outcome: 'bridge_refusal', refusal: 'circuit_open', message: `circuit breaker ${ruleName(this.name, i, rule.name)} is open for ${key}` };
      }
      if (answer === 'yes' && one === undefined && admitted === undefined) {
        one = breaker;
        continue;
      }
      admitted ??= one === undefined ? [] : [{ breaker: one, probe: false, slowCallMs: one.slowCallMs }];
      one = undefined;
      admitted.push({ breaker, probe: answer === 'probe', slowCallMs: breaker.slowCallMs });
    }
    const kept = one ?? admitted;
    if (kept !== undefined) this.admitted.set(request, kept);
    return undefined;
  }

  onComplete(request: ProxyRequest, outcome: Outcome, latencyMicros: number, now: number): void {
    const admitted = this.admitted.take(request);
    if (admitted === undefined) return;
    // The bridge's own refusals and callers that hung up say nothing about the service.
    if (outcome === 'caller_gone' || outcome === 'bridge_refusal') return;
    const failed = isError(outcome);
    const latencyMs = latencyMicros / 1000;
    if (admitted instanceof Breaker) admitted.complete(now, failed, latencyMs >= admitted.slowCallMs, false);
    else for (const a of admitted) a.breaker.complete(now, failed, latencyMs >= a.slowCallMs, a.probe);
  }

  /** Breakers not closed, for the admin API and metrics. */
  states(): Array<{ rule: string; key: string; state: BreakerState; opens: number }> {
    const out: Array<{ rule: string; key: string; state: BreakerState; opens: number }> = [];
    this.breakers.forEach((map, i) => {
      for (const [key, breaker] of map.entries()) out.push({ rule: ruleName(this.name, i, this.config.rules[i].name), key, state: breaker.state, opens: breaker.opens });
    });
    return out;
  }
}

registerFilter('circuit-breaker', (config) => new CircuitBreakerFilter(circuitBreakerConfigSchema.parse(config)));
