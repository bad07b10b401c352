// Isolation: a concurrency bulkhead per upstream service, so one slow dependency cannot take all of
// an app's capacity. A call past the cap is answered at once (Dubbo 100 / HTTP 503) rather than
// queued behind the slow ones.
import { z } from 'zod';
import type { Filter, FilterDecision, ProxyRequest } from './filter';
import { registerFilter } from './filter';
import type { IdentitySource } from './identity';
import { matches, requestMatchSchema, ruleName } from './request-match';
import { RequestSlot } from './request-slot';

export const isolationConfigSchema = z
  .object({
    rules: z
      .array(
        z
          .object({
            name: z.string().min(1).optional(),
            match: requestMatchSchema.optional(),
            /** Calls in flight per service (each service its own bulkhead). */
            maxConcurrent: z.number().int().positive(),
          })
          .strict(),
      )
      .min(1),
    /** Services with a bulkhead of their own; past it, services share the `*` bulkhead. */
    maxServices: z.number().int().positive().default(10_000),
  })
  .strict();

/** One service's bulkhead under one rule: its calls in flight; it leaves its rule's map when none are. */
class Bulkhead {
  inFlight = 0;

  constructor(
    private readonly owner: Map<string, Bulkhead>,
    private readonly key: string,
  ) {}

  release(): void {
    if (--this.inFlight <= 0) this.owner.delete(this.key);
  }
}

export class IsolationFilter implements Filter {
  readonly name = 'isolation';
  /** Per rule, per service: its bulkhead, while it has calls in flight. */
  private readonly active: Array<Map<string, Bulkhead>>;
  /** The bulkheads a request in flight took (one, or several when several rules matched). */
  private readonly held = new RequestSlot<Bulkhead | Bulkhead[]>('bulkheads taken');
  refused = 0;

  constructor(
    private readonly config: z.infer<typeof isolationConfigSchema>,
    private readonly identity?: IdentitySource,
  ) {
    this.active = config.rules.map(() => new Map());
  }

  onRequest(request: ProxyRequest): FilterDecision {
    let taken: Bulkhead | Bulkhead[] | undefined;
    for (let i = 0; i < this.config.rules.length; i++) {
      const rule = this.config.rules[i];
      if (!matches(rule.match, request, this.identity)) continue;
      const active = this.active[i];
      let bulkhead = active.get(request.service);
      if (bulkhead === undefined) {
        const key = active.size < this.config.maxServices ? request.service : '*';
        bulkhead = active.get(key);
        if (bulkhead === undefined) active.set(key, (bulkhead = new Bulkhead(active, key)));
      }
      if (bulkhead.inFlight >= rule.maxConcurrent) {
        if (taken !== undefined) releaseAll(taken);
        this.refused++;
        return { outcome: 'bridge_refusal', refusal: 'bulkhead_full', message: `bulkhead ${ruleName(this.name, i, rule.name)} for ${request.service} is full (${rule.maxConcurrent} in flight)` };
      }
      bulkhead.inFlight++;
      taken = taken === undefined ? bulkhead : Array.isArray(taken) ? (taken.push(bulkhead), taken) : [taken, bulkhead];
    }
    if (taken !== undefined) this.held.set(request, taken);
    return undefined;
  }

  onComplete(request: ProxyRequest): void {
    const taken = this.held.take(request);
    if (taken !== undefined) releaseAll(taken);
  }

  inFlight(service: string): number {
    return this.active.reduce((n, map) => n + (map.get(service)?.inFlight ?? 0), 0);
  }
}

function releaseAll(taken: Bulkhead | Bulkhead[]): void {
  if (Array.isArray(taken)) for (const bulkhead of taken) bulkhead.release();
  else taken.release();
}

registerFilter('isolation', (config, deps) => new IsolationFilter(isolationConfigSchema.parse(config), deps.identity));
