// Which calls the mirror copies: a rule per outbound service (from the `shadow:` config), a share
// per method, and the write-safety rule: by default only calls that change nothing are copied
// (Dubbo methods the service marks idempotent, HTTP GET and HEAD). Pure: the caller supplies the
// randomness.
import { JsonPath } from './json-path';
import type { ShadowRuleConfig } from './mirror-config';

export type MirrorProtocol = 'dubbo' | 'http';

/** HTTP methods that change nothing on the server (RFC 9110 9.2.1, less OPTIONS and TRACE). */
export const SAFE_HTTP_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);

export class MirrorRule {
  readonly service: string;
  readonly percent: number;
  readonly methods: ReadonlyMap<string, number>;
  readonly mirrorWrites: boolean;
  readonly ignorePaths: readonly JsonPath[];
  readonly ignoreHeaders: ReadonlySet<string>;

  constructor(
    config: ShadowRuleConfig,
    /** Methods safe to send twice. */
    readonly safeMethods: ReadonlySet<string>,
  ) {
    this.service = config.service;
    this.percent = config.percent;
    this.methods = new Map(Object.entries(config.methods ?? {}));
    this.mirrorWrites = config.mirrorWrites;
    this.ignorePaths = config.ignore.paths.map((p) => JsonPath.parse(p) as JsonPath);
    this.ignoreHeaders = new Set(config.ignore.headers);
  }

  /** The share of this method's calls to copy, 0..100. */
  percentFor(method: string): number {
    return this.methods.get(method) ?? this.percent;
  }
}

/** What the policy says about one call. */
export type MirrorDecision = 'no_rule' | 'not_sampled' | 'write' | MirrorRule;

export class MirrorPolicy {
  private readonly rules = new Map<string, MirrorRule>();

  constructor(
    readonly protocol: MirrorProtocol,
    rules: readonly ShadowRuleConfig[],
    /** The methods of a service safe to send twice (for HTTP: GET and HEAD). */
    safeMethods: (service: string) => ReadonlySet<string>,
  ) {
    for (const rule of rules) this.rules.set(this.key(rule.service), new MirrorRule(rule, safeMethods(rule.service)));
  }

  get empty(): boolean {
    return this.rules.size === 0;
  }

  /** HTTP service names match in any case; Dubbo interfaces exactly. */
  private key(service: string): string {
    return this.protocol === 'http' ? service.toLowerCase() : service;
  }

  rule(service: string): MirrorRule | undefined {
    return this.rules.size === 0 ? undefined : this.rules.get(this.key(service));
  }

  /** Whether to copy one call; `random` in [0, 1). A write is reported only when its share is not 0. */
  decide(service: string, method: string, random: number): MirrorDecision {
    const rule = this.rule(service);
    if (rule === undefined) return 'no_rule';
    const share = rule.percentFor(method);
    if (share <= 0) return 'not_sampled';
    if (!rule.mirrorWrites && !rule.safeMethods.has(method)) return 'write';
    return random * 100 < share ? rule : 'not_sampled';
  }
}
