// Routing by label: which labelled subset of a service's instances a request may go to. Route
// rules match a request (Dubbo method and attachments; HTTP method, path prefix and headers) and
// name a subset by labels; Dubbo tag routing (2.7 semantics) reads the `dubbo.tag` attachment.
// A request gets an ordered list of selectors: the first whose set has a routable instance serves
// it; the later ones are the fallbacks. Pure: no clocks, no sockets; ServiceRoutes applies it.
import type { ProxyRequest } from '../filters/filter';

/** A subset of instances by their labels. `key` names it in the route-set cache. */
export interface LabelSelector {
  readonly key: string;
  /** Readable form for errors: `tag=gray, zone=a`, `untagged`. */
  readonly text: string;
  test(labels: Readonly<Record<string, string>>): boolean;
}

/** The label Dubbo tag routing reads on instances (a provider URL's `dubbo.tag` parameter). */
export const TAG_LABEL = 'tag';
/** The attachments a Dubbo 2.7 consumer sends: the tag it wants, and whether a missing tag may fall back. */
export const TAG_ATTACHMENT = 'dubbo.tag';
export const FORCE_TAG_ATTACHMENT = 'dubbo.force.tag';
/** The rule name metrics and errors give Dubbo tag routing. */
export const TAG_RULE = 'dubbo.tag';

export const ANY: LabelSelector = { key: '', text: 'any labels', test: () => true };

/** Instances whose labels include every one given. */
export function labelsSelector(labels: Readonly<Record<string, string>>): LabelSelector {
  const pairs = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (pairs.length === 0) return ANY;
  const text = pairs.map(([k, v]) => `${k}=${v}`).join(', ');
  return {
    key: `{${text}}`,
    text,
    test: (l) => {
      for (const [k, v] of pairs) if (l[k] !== v) return false;
      return true;
    },
  };
}

const UNTAGGED: LabelSelector = { key: '{!tag}', text: 'untagged', test: (l) => l[TAG_LABEL] === undefined || l[TAG_LABEL] === '' };

function tagged(tag: string): LabelSelector {
  return { key: `{tag=${tag}}`, text: `tag=${tag}`, test: (l) => l[TAG_LABEL] === tag };
}

function both(a: LabelSelector, b: LabelSelector): LabelSelector {
  if (a === ANY) return b;
  if (b === ANY) return a;
  return { key: `${a.key}&${b.key}`, text: `${a.text}, ${b.text}`, test: (l) => a.test(l) && b.test(l) };
}

/** A route rule as validated config gives it. */
export interface LabelRuleConfig {
  name?: string;
  match: {
    /** Dubbo: the method name. HTTP: the request method (GET ...). */
    method?: string;
    /** HTTP only: the path (after the service prefix, with routeBy path) starts with this. */
    pathPrefix?: string;
    /** Dubbo attachments or HTTP headers (lower-case names) with exact values. */
    attributes?: Record<string, string>;
  };
  subset: Record<string, string>;
  /** When the subset has no routable instance: route as if no rule matched (true) or refuse (false). */
  fallback: boolean;
  /** The time a matching request's upstream has to answer, over the service's and method's. */
  timeoutMs?: number;
}

export interface ServiceLabelConfig {
  rules: LabelRuleConfig[];
  /** Dubbo tag routing: a tagged request whose tag no instance has goes to untagged instances unless false. */
  tagFallback: boolean;
}

interface CompiledRule {
  name: string;
  method: string | undefined;
  pathPrefix: string | undefined;
  attributes: Array<[string, string]>;
  subset: LabelSelector;
  fallback: boolean;
  timeoutMs: number | undefined;
}

/** What the router tries for one request, in order; `rule` names what chose the first step. */
export interface LabelPlan {
  rule: string;
  steps: LabelSelector[];
  /** Why the list ends where it does, for the no-instance error. */
  noFallback: string | undefined;
  /** The matching rule's timeout, if it has one. */
  timeoutMs: number | undefined;
}

export class ServiceLabelRoutes {
  private readonly rules: CompiledRule[];
  private readonly tagFallback: boolean;
  /** Tag selectors by tag value: values come from requests, so the map is bounded. */
  private readonly tags = new Map<string, LabelSelector>();

  constructor(
    readonly service: string,
    config: ServiceLabelConfig,
    private readonly protocol: 'dubbo' | 'http',
  ) {
    this.rules = config.rules.map((rule, i) => ({
      name: rule.name ?? `${service}.routes[${i}]`,
      method: rule.match.method,
      pathPrefix: rule.match.pathPrefix,
      attributes: Object.entries(rule.match.attributes ?? {}),
      subset: labelsSelector(rule.subset),
      fallback: rule.fallback,
      timeoutMs: rule.timeoutMs,
    }));
    this.tagFallback = config.tagFallback;
  }

  get ruleNames(): string[] {
    return this.rules.map((r) => r.name);
  }

  /** The first rule the request matches, or undefined. */
  private matching(request: ProxyRequest): CompiledRule | undefined {
    for (const rule of this.rules) if (this.matches(rule, request)) return rule;
    return undefined;
  }

  private matches(rule: CompiledRule, request: ProxyRequest): boolean {
    if (this.protocol === 'http') {
      // An HTTP request's method reads `GET /path`.
      const space = request.method.indexOf(' ');
      const verb = space < 0 ? request.method : request.method.slice(0, space);
      if (rule.method !== undefined && rule.method !== verb) return false;
      if (rule.pathPrefix !== undefined && !request.method.startsWith(rule.pathPrefix, space + 1)) return false;
    } else if (rule.method !== undefined && rule.method !== request.method) return false;
    for (const [name, value] of rule.attributes) if (request.attribute(name) !== value) return false;
    return true;
  }

  private tagSelector(tag: string): LabelSelector {
    let selector = this.tags.get(tag);
    if (selector === undefined) {
      if (this.tags.size >= MAX_TAGS) this.tags.clear();
      this.tags.set(tag, (selector = tagged(tag)));
    }
    return selector;
  }

  /**
   * The selectors to try for a request, or null when labels do not matter for it (no rule matches
   * and the service has no tagged instance). `tagged`: some instance of the service has a tag, so
   * Dubbo tag routing applies (untagged requests then go only to untagged instances).
   */
  plan(request: ProxyRequest, hasTaggedInstances: boolean): LabelPlan | null {
    const rule = this.matching(request);
    const useTags = hasTaggedInstances && this.protocol === 'dubbo';
    if (rule === undefined && !useTags) return null;
    let tagSteps: LabelSelector[] = [ANY];
    let noFallback: string | undefined;
    if (useTags) {
      const tag = request.attribute(TAG_ATTACHMENT);
      if (tag === undefined || tag === '') tagSteps = [UNTAGGED];
      else if (request.attribute(FORCE_TAG_ATTACHMENT) === 'true') {
        tagSteps = [this.tagSelector(tag)];
        noFallback = `${FORCE_TAG_ATTACHMENT}=true: no fallback to untagged instances`;
      } else if (!this.tagFallback) {
        tagSteps = [this.tagSelector(tag)];
        noFallback = `tag fallback is off for ${this.service}`;
      } else tagSteps = [this.tagSelector(tag), UNTAGGED];
    }
    const ruleSteps = rule === undefined || rule.subset === ANY ? [ANY] : rule.fallback ? [rule.subset, ANY] : [rule.subset];
    if (rule !== undefined && rule.subset !== ANY && !rule.fallback) noFallback = noFallback === undefined ? `rule ${rule.name} has fallback off` : `${noFallback}; rule ${rule.name} has fallback off`;
    const steps: LabelSelector[] = [];
    for (const r of ruleSteps) for (const t of tagSteps) steps.push(both(r, t));
    return { rule: rule?.name ?? TAG_RULE, steps, noFallback, timeoutMs: rule?.timeoutMs };
  }
}

/** Tag values remembered per service before the map starts over. */
const MAX_TAGS = 256;

/** What label routing counts: requests each rule routed, and those served by a fallback step. */
export interface LabelRouteMetrics {
  routed: { inc(labels: { rule: string }): void };
  fallbacks: { inc(labels: { rule: string }): void };
}
