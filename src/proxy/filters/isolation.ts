// Isolation: a concurrency bulkhead per upstream service, so one slow dependency cannot take all of
// an app's capacity. A call past the cap is answered at once (Dubbo 100 / HTTP 503) rather than
// queued behind the slow ones.
import { z } from 'zod';
import type { Filter, FilterDecision, ProxyRequest } from './filter';
import { registerFilter } from './filter';
import { RequestSlot } from './request-slot';
import { matches, requestMatchSchema, ruleName } from './request-match';

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

export class IsolationFilter implements Filter {
  readonly name = 'isolation';
  /** Per rule, per service: calls in flight. */
  private readonly active: Array<Map<string, number>>;
  /** What a request in flight took: the key (one rule: the usual case, nothing allocated) or [map, key] pairs. */
  private readonly held = new RequestSlot<string | Array<[Map<string, number>, string]>>('isolation held');
  refused = 0;

  constructor(private readonly config: z.infer<typeof isolationConfigSchema>) {
    this.active = config.rules.map(() => new Map());
  }

  onRequest(request: ProxyRequest): FilterDecision {
    if (this.config.rules.length === 1) return this.onRequestOneRule(request);
    const taken: Array<[Map<string, number>, string]> = [];
    for (let i = 0; i < this.config.rules.length; i++) {
      const rule = this.config.rules[i];
      if (!matches(rule.match, request)) continue;
      const active = this.active[i];
      const key = active.has(request.service) || active.size < this.config.maxServices ? request.service : '*';
      const n = active.get(key) ?? 0;
      if (n >= rule.maxConcurrent) {
        for (const [map, k] of taken) release(map, k);
        return this.full(i, request);
      }
      active.set(key, n + 1);
      taken.push([active, key]);
    }
    if (taken.length > 0) this.held.set(request, taken);
    return undefined;
  }

  /** One bulkhead rule (the common config): the key taken is all a request keeps. */
  private onRequestOneRule(request: ProxyRequest): FilterDecision {
    const rule = this.config.rules[0];
    if (!matches(rule.match, request)) return undefined;
    const active = this.active[0];
    const n = active.get(request.service);
    const key = n !== undefined || active.size < this.config.maxServices ? request.service : '*';
    const count = n ?? active.get(key) ?? 0;
    if (count >= rule.maxConcurrent) return this.full(0, request);
    active.set(key, count + 1);
    this.held.set(request, key);
    return undefined;
  }

  private full(i: number, request: ProxyRequest): FilterDecision {
    const rule = this.config.rules[i];
    this.refused++;
    return { outcome: 'bridge_refusal', refusal: 'bulkhead_full', message: `bulkhead ${ruleName(this.name, i, rule.name)} for ${request.service} is full (${rule.maxConcurrent} in flight)` };
  }

  onComplete(request: ProxyRequest): void {
    const taken = this.held.take(request);
    if (taken === undefined) return;
    if (typeof taken === 'string') release(this.active[0], taken);
    else for (const [map, key] of taken) release(map, key);
  }

  inFlight(service: string): number {
    return this.active.reduce((n, map) => n + (map.get(service) ?? 0), 0);
  }
}

function release(map: Map<string, number>, key: string): void {
  const n = (map.get(key) ?? 1) - 1;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}

registerFilter('isolation', (config) => new IsolationFilter(isolationConfigSchema.parse(config)));
