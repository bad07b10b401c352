// Degradation: per service and method, a fallback answer the caller gets instead of the service's
// (null, a configured value, a configured exception, or for HTTP a static response), given always
// (`mode: force`: the dependency is switched off on purpose) or only while a circuit breaker refuses
// the call (`mode: on-breaker-open`: the breaker's refusal is turned into the fallback, whichever
// position the breaker has in the chain). A degraded answer is a local reply: outcome
// bridge_refusal with refusal `degraded`, blamed on the bridge, so it never counts as the service's
// success nor against it (breakers and outlier detection ignore it).
import { z } from 'zod';
import type { Filter, FallbackAnswer, FilterDecision, LocalReply, ProxyRequest } from './filter';
import { registerFilter } from './filter';
import { fallbackValueSchema } from './fallback-value';
import type { IdentitySource } from './identity';
import { RequestMatch, matches, requestMatchSchema, ruleName } from './request-match';

const javaClass = z.string().regex(/^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)+$/, 'expected a Java class name such as com.example.PriceUnavailableException');
/** Headers the listener writes itself for a static response. */
const FRAMING_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection']);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const headerValue = z.string().regex(/^[\t\x20-\x7e\x80-\xff]*$/, 'a header value may not hold control characters');
const headers = z.record(z.string(), headerValue).superRefine((h, ctx) => {
  for (const name of Object.keys(h)) {
    if (!HEADER_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'expected an HTTP header name' });
    else if (FRAMING_HEADERS.has(name.toLowerCase())) ctx.addIssue({ code: 'custom', path: [name], message: 'content-length, transfer-encoding and connection are set by the sidecar' });
  }
});

export const fallbackAnswerSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('null') }).strict(),
  z.object({ type: z.literal('value'), value: fallbackValueSchema }).strict(),
  z
    .object({
      type: z.literal('exception'),
      /** Java consumers need the class on their classpath; hessian.js makes an Error of a class ending in Exception. */
      class: javaClass,
      message: z.string().max(4096),
      /** The status an HTTP caller gets, with a JSON error body. */
      httpStatus: z.number().int().min(400).max(599).default(503),
    })
    .strict(),
  z
    .object({
      type: z.literal('http'),
      status: z.number().int().min(200).max(599),
      headers: headers.default({}),
      body: z.string().max(1024 * 1024).default(''),
    })
    .strict()
    // A 204 or 304 never carries a body: one configured would be dropped without a word.
    .refine((a) => a.body === '' || (a.status !== 204 && a.status !== 304), { message: 'a 204 or 304 answer has no body', path: ['body'] }),
]);

export const degradeRuleSchema = z
  .object({
    name: z.string().min(1).optional(),
    match: requestMatchSchema.optional(),
    /** force: every matching call gets the fallback; on-breaker-open: only calls a circuit breaker refuses. */
    mode: z.enum(['force', 'on-breaker-open']).default('on-breaker-open'),
    answer: fallbackAnswerSchema,
  })
  .strict();

export const degradeConfigSchema = z.object({ rules: z.array(degradeRuleSchema).min(1).max(1000) }).strict();

/** Why a fallback was given, for metrics. */
export type DegradeReason = 'forced' | 'circuit_open';

interface Rule {
  name: string;
  match: RequestMatch | undefined;
  answer: FallbackAnswer;
  /** A static HTTP response applies to HTTP requests only. */
  httpOnly: boolean;
  forced: number;
  onBreakerOpen: number;
}

function answerOf(spec: z.infer<typeof fallbackAnswerSchema>): FallbackAnswer {
  switch (spec.type) {
    case 'null':
      return { kind: 'null' };
    case 'value':
      return { kind: 'value', value: spec.value.java, json: JSON.stringify(spec.value.plain) };
    case 'exception':
      return { kind: 'exception', className: spec.class, message: spec.message, httpStatus: spec.httpStatus };
    case 'http':
      return { kind: 'http', status: spec.status, headers: spec.headers, body: spec.body };
  }
}

export class DegradeFilter implements Filter {
  readonly name = 'degrade';
  private readonly forced: Rule[] = [];
  private readonly onBreakerOpen: Rule[] = [];

  constructor(
    config: z.infer<typeof degradeConfigSchema>,
    private readonly identity?: IdentitySource,
  ) {
    config.rules.forEach((r, i) => {
      const rule: Rule = { name: ruleName(this.name, i, r.name), match: r.match, answer: answerOf(r.answer), httpOnly: r.answer.type === 'http', forced: 0, onBreakerOpen: 0 };
      (r.mode === 'force' ? this.forced : this.onBreakerOpen).push(rule);
    });
  }

  onRequest(request: ProxyRequest): FilterDecision {
    if (this.forced.length === 0) return undefined;
    const rule = this.find(this.forced, request);
    if (rule === undefined) return undefined;
    rule.forced++;
    return { outcome: 'bridge_refusal', refusal: 'degraded', message: `degraded by ${rule.name} (forced)`, answer: rule.answer };
  }

  onLocalReply(request: ProxyRequest, reply: LocalReply): LocalReply | undefined {
    if (reply.refusal !== 'circuit_open' || this.onBreakerOpen.length === 0) return undefined;
    const rule = this.find(this.onBreakerOpen, request);
    if (rule === undefined) return undefined;
    rule.onBreakerOpen++;
    return { outcome: 'bridge_refusal', refusal: 'degraded', message: `degraded by ${rule.name}: ${reply.message}`, answer: rule.answer };
  }

  private find(rules: readonly Rule[], request: ProxyRequest): Rule | undefined {
    for (const rule of rules) if ((!rule.httpOnly || request.protocol === 'http') && matches(rule.match, request, this.identity)) return rule;
    return undefined;
  }

  /** Fallbacks given per rule and reason, for metrics and the admin API. */
  counts(): Array<{ rule: string; reason: DegradeReason; count: number }> {
    const out: Array<{ rule: string; reason: DegradeReason; count: number }> = [];
    for (const rule of this.forced) out.push({ rule: rule.name, reason: 'forced', count: rule.forced });
    for (const rule of this.onBreakerOpen) out.push({ rule: rule.name, reason: 'circuit_open', count: rule.onBreakerOpen });
    return out;
  }
}

registerFilter('degrade', (config, deps) => new DegradeFilter(degradeConfigSchema.parse(config), deps.identity));
