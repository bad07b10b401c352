// Fault injection: delay or abort a share of matching calls, to rehearse what a slow or failing
// dependency does to its callers before it happens. An abort answers with the configured outcome
// (Dubbo status / HTTP status through failure-class.ts); a delay holds the call and resumes it,
// unless the call ends first (its caller left): then the hold is dropped with its timer, so a caller
// that hangs up and calls again cannot pile up held requests for the length of the delay.
import { z } from 'zod';
import type { Filter, FilterContext, FilterDecision, ProxyRequest } from './filter';
import { registerFilter } from './filter';
import type { IdentitySource } from './identity';
import { matches, requestMatchSchema, ruleName } from './request-match';

const percent = z.number().min(0).max(100);

export const faultRuleSchema = z
  .object({
    name: z.string().min(1).optional(),
    match: requestMatchSchema.optional(),
    delay: z.object({ ms: z.number().int().positive().max(600_000), percent }).strict().optional(),
    abort: z.object({ percent, as: z.enum(['fault_injected', 'upstream_overloaded', 'response_timeout']).default('fault_injected') }).strict().optional(),
  })
  .strict()
  .refine((r) => r.delay !== undefined || r.abort !== undefined, { message: 'a fault rule needs a delay or an abort' });

export const faultConfigSchema = z.object({ rules: z.array(faultRuleSchema).min(1) }).strict();

export interface FaultClock {
  random(): number;
  /** Runs `run` in `ms`; returns a handle for `cancel`. */
  schedule(ms: number, run: () => void): unknown;
  cancel(handle: unknown): void;
}

const realClock: FaultClock = {
  random: Math.random,
  // A held call never keeps the process alive by itself: stopping closes its caller, which ends it.
  schedule: (ms, run) => setTimeout(run, ms).unref(),
  cancel: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export class FaultInjectionFilter implements Filter {
  readonly name = 'fault';
  readonly injected = { delays: 0, aborts: 0 };
  /** The calls a delay holds now, with their timers: as many as are in flight at most. */
  private readonly holding = new Map<ProxyRequest, unknown>();

  constructor(
    private readonly config: z.infer<typeof faultConfigSchema>,
    private readonly clock: FaultClock = realClock,
    private readonly identity?: IdentitySource,
  ) {}

  onRequest(request: ProxyRequest, _now: number, context: FilterContext): FilterDecision {
    const rules = this.config.rules;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i];
      if (!matches(rule.match, request, this.identity)) continue;
      const abort = rule.abort !== undefined && this.clock.random() * 100 < rule.abort.percent;
      const delay = rule.delay !== undefined && this.clock.random() * 100 < rule.delay.percent ? rule.delay.ms : 0;
      if (!abort && delay === 0) continue;
      const name = ruleName(this.name, i, rule.name);
      if (abort) this.injected.aborts++;
      const reply = abort
        ? rule.abort?.as === 'fault_injected' || rule.abort?.as === undefined
          ? { outcome: 'bridge_refusal' as const, refusal: 'fault_injected' as const, message: `fault injected by ${name}` }
          : { outcome: rule.abort.as, message: `fault injected by ${name}` }
        : undefined;
      if (delay === 0) return reply;
      this.injected.delays++;
      // The rules after this one still apply once the delay is over (the chain resumes past it).
      this.holding.set(
        request,
        this.clock.schedule(delay, () => {
          this.holding.delete(request);
          context.resume(reply);
        }),
      );
      return 'held';
    }
    return undefined;
  }

  /** A call that ended while held (its caller left) is never resumed. */
  onComplete(request: ProxyRequest): void {
    if (this.holding.size === 0) return;
    const handle = this.holding.get(request);
    if (handle === undefined) return;
    this.holding.delete(request);
    this.clock.cancel(handle);
  }

  /** Calls held by a delay now. */
  get held(): number {
    return this.holding.size;
  }
}

registerFilter('fault', (config, deps) => new FaultInjectionFilter(faultConfigSchema.parse(config), realClock, deps.identity));
