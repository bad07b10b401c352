// Fault injection: delay or abort a share of matching calls, to rehearse what a slow or failing
// dependency does to its callers before it happens. An abort answers with the configured outcome
// (Dubbo status / HTTP status through failure-class.ts); a delay holds the call and resumes it.
import { z } from 'zod';
import type { Filter, FilterContext, FilterDecision, ProxyRequest } from './filter';
import { registerFilter } from './filter';
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
  schedule(ms: number, run: () => void): void;
}

const realClock: FaultClock = {
  random: Math.random,
  schedule: (ms, run) => void setTimeout(run, ms),
};

export class FaultInjectionFilter implements Filter {
  readonly name = 'fault';
  readonly injected = { delays: 0, aborts: 0 };

  constructor(
    private readonly config: z.infer<typeof faultConfigSchema>,
    private readonly clock: FaultClock = realClock,
  ) {}

  onRequest(request: ProxyRequest, _now: number, context: FilterContext): FilterDecision {
    const rules = this.config.rules;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i];
      if (!matches(rule.match, request)) continue;
      // A rule at 0% never fires: no dice drawn for it.
      const abort = rule.abort !== undefined && rule.abort.percent > 0 && this.clock.random() * 100 < rule.abort.percent;
      const delay = rule.delay !== undefined && rule.delay.percent > 0 && this.clock.random() * 100 < rule.delay.percent ? rule.delay.ms : 0;
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
      this.clock.schedule(delay, () => context.resume(reply));
      return 'held';
    }
    return undefined;
  }
}

registerFilter('fault', (config) => new FaultInjectionFilter(faultConfigSchema.parse(config)));
