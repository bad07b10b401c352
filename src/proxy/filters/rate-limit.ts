// Rate limiting with token buckets per rule, and hot-parameter limits: one bucket per value of a
// key the request carries (a Dubbo attachment, an HTTP header, or the value of argument N of a
// Dubbo method, read by skipping to it), so one hot user is held while others pass. Keys are chosen
// by callers, so their buckets live in a bounded LRU, and a long value is kept as its digest (a
// header can be 16 KiB, a Dubbo argument megabytes: maxKeys of them would not be small). Over the limit: Dubbo status 100 / HTTP 429,
// naming the limit. Pure: `now` is passed in.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { BoundedMap } from './bounded-map';
import type { Filter, FilterDecision, ProxyRequest } from './filter';
import { registerFilter } from './filter';
import type { IdentitySource } from './identity';
import { matches, requestMatchSchema, ruleName } from './request-match';

export const rateLimitRuleSchema = z
  .object({
    name: z.string().min(1).optional(),
    match: requestMatchSchema.optional(),
    /** Tokens added per second. */
    perSecond: z.number().positive(),
    /** Bucket size: the burst admitted after a quiet spell. Defaults to one second's worth (at least 1). Under 1, no call could ever pass. */
    burst: z.number().min(1).optional(),
    /**
     * Hot-parameter limit: one bucket per value of this attachment or header, or of Dubbo argument N
     * (from 0; read when it is a string or a number, by skipping the arguments before it).
     */
    key: z.union([z.object({ attribute: z.string().min(1) }).strict(), z.object({ argument: z.number().int().min(0).max(255) }).strict()]).optional(),
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

/** Key values longer than this are kept as their digest. */
const MAX_KEY_CHARS = 64;

/** The value a hot-parameter rule keys on: strings and numbers stay apart (1 is not "1"). */
function keyOf(key: NonNullable<RateLimitRule['key']>, request: ProxyRequest): string | number | undefined {
  return 'attribute' in key ? request.attribute(key.attribute) : request.argument(key.argument);
}

/** What the bucket map keeps for a key value: itself, or a digest when long (a digest starts with NUL, which no HTTP header value holds). */
function storedKey(value: string | number): string | number {
  if (typeof value !== 'string' || value.length <= MAX_KEY_CHARS) return value;
  return `\0${createHash('sha256').update(value).digest('base64')}`;
}

export class RateLimitFilter implements Filter {
  readonly name = 'rate-limit';
  private readonly buckets: Array<BoundedMap<string | number, TokenBucket>>;
  /** Requests refused, per rule, for metrics. */
  readonly refused: number[];

  constructor(
    private readonly config: z.infer<typeof rateLimitConfigSchema>,
    private readonly identity?: IdentitySource,
  ) {
    this.buckets = config.rules.map((rule) => new BoundedMap<string | number, TokenBucket>(rule.key === undefined ? 1 : rule.maxKeys));
    this.refused = config.rules.map(() => 0);
  }

  /** Hot-parameter keys forgotten to stay within maxKeys, per rule: many mean a hot key may slip past its limit. */
  evictions(): number[] {
    return this.buckets.map((b) => b.evictions);
  }

  onRequest(request: ProxyRequest, now: number): FilterDecision {
    const rules = this.config.rules;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i];
      if (!matches(rule.match, request, this.identity)) continue;
      const key = rule.key === undefined ? NO_KEY : (keyOf(rule.key, request) ?? NO_KEY);
      const stored = storedKey(key);
      const bucket = this.buckets[i].touch(stored) ?? this.buckets[i].add(stored, new TokenBucket(rule.perSecond, rule.burst ?? Math.max(1, rule.perSecond), now));
      if (bucket.take(now)) continue;
      this.refused[i]++;
      const what = rule.key === undefined ? '' : ` for ${'attribute' in rule.key ? rule.key.attribute : `argument ${rule.key.argument}`}=${JSON.stringify(key).slice(0, 66)}`;
      return { outcome: 'bridge_refusal', refusal: 'rate_limited', message: `rate limit ${ruleName(this.name, i, rule.name)} (${rule.perSecond}/s)${what} reached` };
    }
    return undefined;
  }
}

registerFilter('rate-limit', (config, deps) => new RateLimitFilter(rateLimitConfigSchema.parse(config), deps.identity));
