// The sidecar's `shadow:` config section: which outbound calls are copied to the other stack (a
// share per service, optionally per method), the bounds of the mirror (calls in flight, deadline,
// request and answer sizes), the diff report's bounds, and the ignore rules of the comparison.
import { z } from 'zod';
import { JsonPath } from './json-path';

const percent = z.number().min(0).max(100);
/** What the copies in flight may hold at most (requests and both answers). */
const MAX_IN_FLIGHT_BYTES = 1024 * 1024 * 1024;
/** What the report's mismatch samples may hold at most. */
const MAX_SAMPLE_CHARS = 64 * 1024 * 1024;

const jsonPath = z.string().superRefine((text, ctx) => {
  const parsed = JsonPath.parse(text);
  if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
});

const ignore = z
  .object({
    /** JSON paths left out of the comparison: `$.timestamp`, `$.items[*].id`, `$..traceId`. */
    paths: z.array(jsonPath).max(100).default([]),
    /** Response header names left out of the comparison (HTTP; case-insensitive). */
    headers: z
      .array(z.string().min(1).max(200))
      .max(100)
      .default([])
      .transform((names) => names.map((n) => n.toLowerCase())),
  })
  .strict()
  .prefault({});

const rule = {
  /** The outbound service: a Dubbo interface, or an HTTP service name. */
  service: z.string().min(1).max(253),
  /** Share of eligible calls copied, 0..100. */
  percent: percent.default(100),
  /** Per-method shares (Dubbo method names; HTTP methods such as GET), overriding `percent`. */
  methods: z.record(z.string().min(1).max(253), percent).optional(),
  /**
   * Copy calls that may change state too: Dubbo methods not listed in the service's
   * `idempotentMethods`, HTTP methods other than GET and HEAD. The other stack then performs the
   * write a second time.
   */
  mirrorWrites: z.boolean().default(false),
  ignore,
};

export const shadowConfigSchema = z
  .object({
    /** Mirror calls in flight at once, all services together; past it a copy is dropped (counted). */
    maxInFlight: z.number().int().min(1).max(10_000).default(64),
    /** Time the other stack has to answer a copy. */
    timeoutMs: z.number().int().min(1).max(120_000).default(5000),
    /** A request larger than this is not copied (counted). */
    maxRequestBytes: z.number().int().min(1).max(64 * 1024 * 1024).default(256 * 1024),
    /** An answer (either side's) larger than this is not compared (counted). */
    maxResponseBytes: z.number().int().min(1).max(64 * 1024 * 1024).default(1024 * 1024),
    /** Mismatch samples kept per service and method (0: none), each value cut to `sampleChars`. */
    samples: z.number().int().min(0).max(50).default(3),
    sampleChars: z.number().int().min(16).max(8192).default(256),
    /** Service+method pairs the report keeps; methods past it are counted as `(other)`. */
    maxMethods: z.number().int().min(1).max(100_000).default(500),
    dubbo: z.array(z.object(rule).strict()).max(10_000).default([]),
    http: z.array(z.object(rule).strict()).max(10_000).default([]),
  })
  .strict()
  // Each knob is bounded; together they must still make a bounded memory.
  .refine((c) => c.maxInFlight * (c.maxRequestBytes + 2 * c.maxResponseBytes) <= MAX_IN_FLIGHT_BYTES, {
    message: `maxInFlight x (maxRequestBytes + 2 x maxResponseBytes) is what copies in flight may hold: at most ${MAX_IN_FLIGHT_BYTES / 1024 / 1024} MiB`,
    path: ['maxInFlight'],
  })
  .refine((c) => c.maxMethods * c.samples * c.sampleChars * 2 <= MAX_SAMPLE_CHARS, {
    message: `maxMethods x samples x sampleChars x 2 is what the report's samples may hold: at most ${MAX_SAMPLE_CHARS / 1024 / 1024} Mi characters`,
    path: ['maxMethods'],
  });

export type ShadowConfig = z.infer<typeof shadowConfigSchema>;
export type ShadowRuleConfig = ShadowConfig['dubbo'][number];

/** The config with every default: no rules, nothing copied. */
export const DEFAULT_SHADOW_CONFIG: ShadowConfig = shadowConfigSchema.parse({});

/**
 * Problems between keys: a rule for a service the outbound stack does not declare, or one named
 * twice. HTTP names match in any case, Dubbo interfaces exactly.
 */
export function shadowIssues(shadow: ShadowConfig | undefined, dubboServices: readonly string[], httpServices: readonly string[]): string[] {
  if (shadow === undefined) return [];
  const issues: string[] = [];
  for (const [where, rules, declared, fold] of [
    ['shadow.dubbo', shadow.dubbo, dubboServices, false],
    ['shadow.http', shadow.http, httpServices, true],
  ] as const) {
    const known = new Set(declared.map((s) => (fold ? s.toLowerCase() : s)));
    const seen = new Map<string, number>();
    rules.forEach((r, i) => {
      const key = fold ? r.service.toLowerCase() : r.service;
      const stack = where === 'shadow.dubbo' ? 'dubbo.outbound' : 'outbound';
      if (!known.has(key)) issues.push(`${where}[${i}].service: ${JSON.stringify(r.service)} is not a service of ${stack}.services`);
      const first = seen.get(key);
      if (first !== undefined) issues.push(`${where}[${i}].service: ${JSON.stringify(r.service)} already has a rule at ${where}[${first}]`);
      else seen.set(key, i);
    });
  }
  return issues;
}
