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

/** One service's bulkhead under one rule: its calls in flight. */
class Bulkhead {
  inFlight = 0;

  constructor(private readonly set: Bulkheads) {}

  release(): void {
    if (--this.inFlight === 0) this.set.busy--;
  }
}

/**
 * A rule's bulkheads, by service. One with no call in flight stays (a service called one call at
 * a time would otherwise leave and re-enter the Map on every call), but only services with calls
 * in flight count against maxServices, and idle ones are dropped once they outnumber it.
 */
class Bulkheads {
  private readonly byService = new Map<string, Bulkhead>();
  /** Bulkheads with calls in flight. */
  busy = 0;

  constructor(private readonly maxServices: number) {}

  /** The bulkhead a call to `service` takes: its own, or past maxServices services with calls in flight, the shared `*` one. */
  of(service: string): Bulkhead {
    const own = this.byService.get(service);
    if (own !== undefined && (own.inFlight > 0 || this.busy < this.maxServices)) return own;
    const key = this.busy < this.maxServices ? service : '*';
    let bulkhead = key === service ? own : this.byService.get(key);
    if (bulkhead === undefined) {
      if (this.byService.size >= 2 * this.maxServices) this.dropIdle();
      this.byService.set(key, (bulkhead = new Bulkhead(this)));
    }
    return bulkhead;
  }

  take(bulkhead: Bulkhead): void {
    if (bulkhead.inFlight++ === 0) this.busy++;
  }

  inFlight(service: string): number {
    return this.byService.get(service)?.inFlight ?? 0;
  }

  private dropIdle(): void {
    for (const [key, bulkhead] of this.byService) if (bulkhead.inFlight === 0) this.byService.delete(key);
  }
}

export class IsolationFilter implements Filter {
  readonly name = 'isolation';
  /** Per rule, per service: its bulkhead. */
  private readonly active: Bulkheads[];
  /** The bulkheads a request in flight took (one, or several when several rules matched). */
  private readonly held = new RequestSlot<Bulkhead | Bulkhead[]>('bulkheads taken');
  refused = 0;

  constructor(
    private readonly config: z.infer<typeof isolationConfigSchema>,
    private readonly identity?: IdentitySource,
  ) {
    this.active = config.rules.map(() => new Bulkheads(config.maxServices));
  }

  onRequest(request: ProxyRequest): FilterDecision {
    let taken: Bulkhead | Bulkhead[] | undefined;
    for (let i = 0; i < this.config.rules.length; i++) {
      const rule = this.config.rules[i];
      if (!matches(rule.match, request, this.identity)) continue;
      const bulkheads = this.active[i];
      const bulkhead = bulkheads.of(request.service);
      if (bulkhead.inFlight >= rule.maxConcurrent) {
        if (taken !== undefined) releaseAll(taken);
        this.refused++;
        return { outcome: 'bridge_refusal', refusal: 'bulkhead_full', message: `bulkhead ${ruleName(this.name, i, rule.name)} for ${request.service} is full (${rule.maxConcurrent} in flight)` };
      }
      bulkheads.take(bulkhead);
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
    return this.active.reduce((n, bulkheads) => n + bulkheads.inFlight(service), 0);
  }
}

function releaseAll(taken: Bulkhead | Bulkhead[]): void {
  if (Array.isArray(taken)) for (const bulkhead of taken) bulkhead.release();
  else taken.release();
}

registerFilter('isolation', (config, deps) => new IsolationFilter(isolationConfigSchema.parse(config), deps.identity));
