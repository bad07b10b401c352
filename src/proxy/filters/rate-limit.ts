// Rate limiting with token buckets per rule, and hot-parameter limits: one bucket per value of a
// key the request carries (a Dubbo attachment or an HTTP header), so one hot user is held while
// others pass. Keys are chosen by callers, so their buckets live in a bounded LRU. Over the limit:
// Dubbo status 100 / HTTP 429, naming the limit. Pure: `now` is passed in.
import { z } from 'zod';
import { BoundedMap } from './bounded-map';
import type { Filter, FilterDecision, ProxyRequest } from './filter';
import { registerFilter } from './filter';
import { matches, requestMatchSchema, ruleName } from './request-match';

export const rateLimitRuleSchema = z
  .object({
    name: z.string().min(1).optional(),
    match: requestMatchSchema.optional(),
    /** Tokens added per second. */
    perSecond: z.number().positive(),
    /** Bucket size: the burst admitted after a quiet spell. Defaults to one second's worth. */
    burst: z.number().positive().optional(),
    /** Hot-parameter limit: one bucket per value of this attachment or header. */
    key: z.object({ attribute: z.string().min(1) }).strict().optional(),
    /** Distinct key values tracked; the least recently seen are forgotten past it. */
    maxKeys: z.number().int().positive().default(10_000),
  })
  .strict();

export const rateLimitConfigSchema = z.object({ rules: z.array(rateLimitRuleSchema).min(1) }).strict();

export type RateLimitRule = z.infer<typeof rateLimitRuleSchema>;

/** A token bucket: `take(now)` is true while tokens remain. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly capacity: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.last = now;
  }

  take(now: number): boolean {
    if (now > this.last) {
      this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) * this.perSecond) / 1000);
      this.last = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Requests with no value for a hot-parameter key share this bucket. */
const NO_KEY = '';

export class RateLimitFilter implements Filter {
  readonly name = 'rate-limit';
  private readonly buckets: Array<BoundedMap<string, TokenBucket>>;
  /** Requests refused, per rule, for metrics. */
  readonly refused: number[];

  constructor(private readonly config: z.infer<typeof rateLimitConfigSchema>) {
    this.buckets = config.rules.map((rule) => new BoundedMap<string, TokenBucket>(rule.key === undefined ? 1 : rule.maxKeys));
    this.refused = config.rules.map(() => 0);
  }

  onRequest(request: ProxyRequest, now: number): FilterDecision {
    const rules = this.config.rules;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i];
      if (!matches(rule.match, request)) continue;
      const key = rule.key === undefined ? NO_KEY : (request.attribute(rule.key.attribute) ?? NO_KEY);
      const buckets = this.buckets[i];
      const bucket = buckets.touch(key) ?? buckets.add(key, new TokenBucket(rule.perSecond, rule.burst ?? Math.max(1, rule.perSecond), now));
      if (bucket.take(now)) continue;
      this.refused[i]++;
      const what = rule.key === undefined ? '' : ` for ${rule.key.attribute}=${JSON.stringify(key).slice(0, 66)}`;
      return { outcome: 'bridge_refusal', refusal: 'rate_limited', message: `rate limit ${ruleName(this.name, i, rule.name)} (${rule.perSecond}/s)${what} reached` };
    }
    return undefined;
  }
}

registerFilter('rate-limit', (config) => new RateLimitFilter(rateLimitConfigSchema.parse(config)));
