// Circuit breaking: per service (or per method), a breaker opens when, over a sliding window with
// at least a minimum number of calls, the error ratio, the slow-call ratio or the error count
// passes its threshold. Open, it answers at once (Dubbo 100 / HTTP 503, naming the rule) for
// `openMs`; then half-open, it admits a configured number of probes: all succeed, it closes; one
// fails, it opens again. Only failures of the service count: the bridge's own refusals and callers
// that hung up do not, and a probe that ended so gives its place back (else the breaker would stay
// half-open, refusing everything, for good). The state machine is pure (`now` passed in).
import { z } from 'zod';
import { Outcome, isError } from '../failure-class';
import { BucketedWindow } from '../stats/bucketed-window';
import { BoundedMap } from './bounded-map';
import type { Filter, FilterDecision, ProxyRequest } from './filter';
import { registerFilter } from './filter';
import type { IdentitySource } from './identity';
import { matches, requestMatchSchema, ruleName } from './request-match';
import { RequestSlot } from './request-slot';

export const breakerRuleSchema = z
  .object({
    name: z.string().min(1).optional(),
    match: requestMatchSchema.optional(),
    /**
     * One breaker per service, or one per service and method. HTTP: per the rule's match.method
     * prefix (`GET /orders/`), never per path, since paths carry ids and queries (a breaker per
     * path would never see enough calls to open, and would keep one per id).
     */
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
  })
  // One without the other would be ignored without a word.
  .refine((r) => (r.slowCallMs === undefined) === (r.slowCallRatio === undefined), { message: 'slowCallMs and slowCallRatio go together', path: ['slowCallRatio'] });

export const circuitBreakerConfigSchema = z.object({ rules: z.array(breakerRuleSchema).min(1), maxBreakers: z.number().int().positive().default(10_000) }).strict();

export type BreakerRule = z.infer<typeof breakerRuleSchema>;
export type BreakerState = 'closed' | 'open' | 'half_open';

/** One breaker's state machine. */
export class Breaker {
  state: BreakerState = 'closed';
  private openedAt = 0;
  private probesAdmitted = 0;
  private probesSucceeded = 0;
  /** Which half-open spell this is: a probe's end counts only in the spell that admitted it. */
  halfOpenSpell = 0;
  private readonly window: BucketedWindow;
  /** Times this breaker opened, for metrics. */
  opens = 0;
  /** A call this long or longer is slow (Infinity when the rule judges no slow calls). */
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
      this.halfOpenSpell++;
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

  /** How an admitted call ended; `spell` is halfOpenSpell when a probe was admitted. */
  complete(now: number, failed: boolean, slow: boolean, probe: boolean, spell = this.halfOpenSpell): void {
    if (probe) {
      if (this.state !== 'half_open' || spell !== this.halfOpenSpell) return;
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

  /** A probe that said nothing about the service (its caller left, the bridge refused it): its place is free again. */
  releaseProbe(spell: number): void {
    if (this.state === 'half_open' && spell === this.halfOpenSpell && this.probesAdmitted > 0) this.probesAdmitted--;
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

/** A half-open breaker's probe: its end counts only in the spell that admitted it. */
interface Probe {
  breaker: Breaker;
  spell: number;
}

/** How a breaker admitted a call: the breaker itself (closed, the common case: nothing allocated), or a probe. */
type Admitted = Breaker | Probe;

/**
 * A rule's breaker key (`service#method`, or the service) for the service and method last seen:
 * under steady traffic the same pair comes again and again, and a key made anew is a string built,
 * then flattened and hashed by the Map, per request.
 */
class BreakerKeys {
  private service = '';
  private method = '';
  private key = '';

  constructor(private readonly rule: BreakerRule) {}

  of(request: ProxyRequest): string {
    const rule = this.rule;
    if (rule.per === 'service') return request.service;
    const method = request.protocol === 'http' ? (rule.match?.method ?? '*') : request.method;
    if (request.service !== this.service || method !== this.method || this.key === '') {
      this.service = request.service;
      this.method = method;
      this.key = `${request.service}#${method}`;
    }
    return this.key;
  }
}

export class CircuitBreakerFilter implements Filter {
  readonly name = 'circuit-breaker';
  private readonly breakers: Array<BoundedMap<string, Breaker>>;
  private readonly keys: BreakerKeys[];
  /** Which breakers admitted a request in flight (one, or several when several rules matched), to report its end to the same ones. */
  private readonly admitted = new RequestSlot<Admitted | Admitted[]>('circuit breakers admitting');

  constructor(
    private readonly config: z.infer<typeof circuitBreakerConfigSchema>,
    private readonly identity?: IdentitySource,
  ) {
    // Past maxBreakers, closed breakers go first: an open one protects its service.
    this.breakers = config.rules.map(() => new BoundedMap<string, Breaker>(config.maxBreakers, (b) => b.state !== 'closed'));
    this.keys = config.rules.map((rule) => new BreakerKeys(rule));
  }

  onRequest(request: ProxyRequest, now: number): FilterDecision {
    let admitted: Admitted | Admitted[] | undefined;
    for (let i = 0; i < this.config.rules.length; i++) {
      const rule = this.config.rules[i];
      if (!matches(rule.match, request, this.identity)) continue;
      const key = this.keys[i].of(request);
      const breaker = this.breakers[i].touch(key) ?? this.breakers[i].add(key, new Breaker(rule));
      const answer = breaker.admit(now);
      if (answer === 'no') {
        return { outcome: 'bridge_refusal', refusal: 'circuit_open', message: `circuit breaker ${ruleName(this.name, i, rule.name)} is open for ${key}` };
      }
      const one: Admitted = answer === 'probe' ? { breaker, spell: breaker.halfOpenSpell } : breaker;
      admitted = admitted === undefined ? one : Array.isArray(admitted) ? (admitted.push(one), admitted) : [admitted, one];
    }
    if (admitted !== undefined) this.admitted.set(request, admitted);
    return undefined;
  }

  onComplete(request: ProxyRequest, outcome: Outcome, latencyMicros: number, now: number): void {
    const admitted = this.admitted.take(request);
    if (admitted === undefined) return;
    if (Array.isArray(admitted)) for (const a of admitted) completeOne(a, outcome, latencyMicros, now);
    else completeOne(admitted, outcome, latencyMicros, now);
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

/** An admitted call's end, told to the breaker that admitted it. */
function completeOne(a: Admitted, outcome: Outcome, latencyMicros: number, now: number): void {
  const probe = a instanceof Breaker ? undefined : a;
  const breaker = probe === undefined ? (a as Breaker) : probe.breaker;
  // The bridge's own refusals and callers that hung up say nothing about the service.
  if (outcome === 'caller_gone' || outcome === 'bridge_refusal') {
    if (probe !== undefined) breaker.releaseProbe(probe.spell);
    return;
  }
  breaker.complete(now, isError(outcome), latencyMicros / 1000 >= breaker.slowCallMs, probe !== undefined, probe?.spell);
}

registerFilter('circuit-breaker', (config, deps) => new CircuitBreakerFilter(circuitBreakerConfigSchema.parse(config), deps.identity));
