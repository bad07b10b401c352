// One of the sidecar's stacks (HTTP or Dubbo, inbound or outbound): the data path's own listener
// over a ServiceRoutes fed by a catalog of the config's static instances, and the filter chain a
// reload swaps. A reload changes the catalog, weights and policies in place; only a new listen
// address (or HTTP routeBy) needs a new listener.
import { Catalog, Instance, Protocol } from '../catalog';
import { LabelRouteMetrics, LabelRuleConfig, ServiceLabelRoutes, TAG_LABEL } from '../proxy/router/label-routes';
import { OutlierDetector, OutlierOptions } from '../proxy/router/outlier-detector';
import { NOBODY } from '../proxy/router/self-addresses';
import { RouteSet, ServiceRoutes } from '../proxy/router/service-routes';
import { StackWeights } from '../proxy/router/stack-weights';
import type { TrafficStats } from '../bridge/stats/traffic-stats';
import { DubboListener, DubboServicePolicy } from '../proxy/dubbo/dubbo-listener';
import type { FilterChain, LocalReply, ProxyRequest } from '../proxy/filters';
import type { BridgeRefusal, Outcome } from '../proxy/failure-class';
import { DEFAULT_RETRY_BUDGET, ServiceCaps, UpstreamCaps } from '../proxy/router/upstream-caps';
import { HttpListener, HttpServicePolicy } from '../proxy/http/http-listener';
import type { Logger } from '../telemetry/logger';
import { Counter, Gauge } from 'prom-client';
import { Registry, counter } from '../telemetry/metrics';
import { DubboOutboundServiceConfig, InstanceConfig, OutboundServiceConfig, SidecarConfig, StackName, instanceOf, parseListenAddress, stackSection } from './config';
import { SwappableFilterChain } from './swappable-chain';
import { DubboMirror } from '../proxy/mirror/dubbo-mirror';
import { HttpMirror } from '../proxy/mirror/http-mirror';
import type { Shadow } from '../proxy/mirror/shadow';

/** Where the catalog says a static instance came from. */
const SOURCE = 'static';

/** A service's policy in both listeners' shapes. */
export type ServicePolicy = HttpServicePolicy & DubboServicePolicy;

/** What a stack needs from the config, compared between reloads. */
export interface StackPlan {
  protocol: Protocol;
  inbound: boolean;
  listen: string;
  routeBy: 'host' | 'path';
  instances: Map<string, Instance[]>;
  weights: Map<string, number>;
  policies: Map<string, ServicePolicy>;
  /** For names the config does not list (the inbound stacks: every name goes to the app). */
  defaultPolicy: ServicePolicy;
  /** Label routing of the services with route rules or tagged instances. */
  labelRoutes: Map<string, ServiceLabelRoutes>;
  /** Caps and retry budget per outbound service, with the key path that names them in refusals. */
  caps: Map<string, ServiceCaps & { where: string }>;
  /** Outlier detection of the stack's upstream sets (the detector's defaults inbound). */
  outliers: Partial<OutlierOptions>;
}

/** A service's route rules in the router's form (HTTP header names lower-cased, as the listener reads them). */
function labelRules(service: OutboundServiceConfig | DubboOutboundServiceConfig): LabelRuleConfig[] {
  return service.routes.map((rule) => {
    const match = rule.match as { method?: string; pathPrefix?: string; headers?: Record<string, string>; attachments?: Record<string, string> };
    const attributes = match.attachments ?? (match.headers === undefined ? undefined : Object.fromEntries(Object.entries(match.headers).map(([k, v]) => [k.toLowerCase(), v])));
    return { name: rule.name, match: { method: match.method, pathPrefix: match.pathPrefix, attributes }, subset: rule.subset, fallback: rule.fallback, timeoutMs: rule.timeoutMs };
  });
}

function policyOf(timeoutMs: number, more: Partial<ServicePolicy> = {}): ServicePolicy {
  return { timeoutMs, idempotentMethods: new Set(), retries: 0, ...more };
}

function httpPolicy(service: OutboundServiceConfig): ServicePolicy {
  return policyOf(service.timeoutMs, { stickyHeader: service.stickyHeader, retries: service.retries });
}

/** A Dubbo service's idempotent methods: `idempotentMethods` and `methods.<m>.idempotent`. */
export function idempotentMethodsOf(service: DubboOutboundServiceConfig): Set<string> {
  return new Set([...service.idempotentMethods, ...Object.entries(service.methods).flatMap(([name, m]) => (m.idempotent ? [name] : []))]);
}

function dubboPolicy(service: DubboOutboundServiceConfig): ServicePolicy {
  const methods = Object.entries(service.methods);
  const idempotentMethods = idempotentMethodsOf(service);
  const methodTimeoutsMs = new Map(methods.flatMap(([name, m]) => (m.timeoutMs === undefined ? [] : [[name, m.timeoutMs] as const])));
  return policyOf(service.timeoutMs, { stickyAttachment: service.stickyAttachment, idempotentMethods, retries: service.retries, methodTimeoutsMs });
}

export function stackPlan(config: SidecarConfig, name: StackName): StackPlan | undefined {
  const protocol: Protocol = name.startsWith('dubbo') ? 'dubbo' : 'http';
  const inbound = name.endsWith('inbound');
  const instances = new Map<string, Instance[]>();
  const weights = new Map<string, number>();
  const policies = new Map<string, ServicePolicy>();
  const make = (service: string, stack: 'legacy' | 'mesh', entry: InstanceConfig): Instance => {
    const { host, port, weight, labels } = instanceOf(entry);
    return { id: `${stack}/${host}:${port}`, service, protocol, host, port, stack, weight, version: '', group: '', health: 'up', labels, origin: { source: SOURCE } };
  };
  const labelRoutes = new Map<string, ServiceLabelRoutes>();
  const caps = new Map<string, ServiceCaps & { where: string }>();
  if (inbound) {
    const section = stackSection<{ listen: string; app: string; timeoutMs: number }>(config, name);
    if (section === undefined) return undefined;
    instances.set(config.app, [make(config.app, 'legacy', section.app)]);
    const policy = policyOf(section.timeoutMs);
    return { protocol, inbound, listen: section.listen, routeBy: 'host', instances, weights, policies, defaultPolicy: policy, labelRoutes, caps, outliers: {} };
  }
  const section = stackSection<{ listen: string; routeBy?: 'host' | 'path'; outlierDetection: OutlierOptions; services: Array<OutboundServiceConfig | DubboOutboundServiceConfig> }>(config, name);
  if (section === undefined) return undefined;
  section.services.forEach((service, i) => {
    caps.set(service.name, { ...service.caps, retryBudget: service.caps.retryBudget ?? DEFAULT_RETRY_BUDGET, where: `${name}.services[${i}].caps` });
    instances.set(service.name, [...service.legacy.map((e) => make(service.name, 'legacy', e)), ...service.mesh.map((e) => make(service.name, 'mesh', e))]);
    weights.set(service.name, service.meshWeight);
    policies.set(service.name, protocol === 'http' ? httpPolicy(service as OutboundServiceConfig) : dubboPolicy(service as DubboOutboundServiceConfig));
    const tagged = protocol === 'dubbo' && (instances.get(service.name) ?? []).some((i) => (i.labels[TAG_LABEL] ?? '') !== '');
    if (service.routes.length > 0 || tagged) {
      const tagFallback = (service as Partial<DubboOutboundServiceConfig>).tagFallback ?? true;
      labelRoutes.set(service.name, new ServiceLabelRoutes(service.name, { rules: labelRules(service), tagFallback }, protocol));
    }
  });
  return { protocol, inbound, listen: section.listen, routeBy: section.routeBy ?? 'host', instances, weights, policies, defaultPolicy: policyOf(30_000), labelRoutes, caps, outliers: section.outlierDetection };
}

/** What a reload changes in a stack that stays, for the reload's notes: filters, and services by name. */
export function changesOf(name: StackName, before: SidecarConfig, after: SidecarConfig): string[] {
  const notes: string[] = [];
  const was = stackSection<{ filters: unknown[]; app?: string; timeoutMs?: number; services?: Array<{ name: string }> }>(before, name);
  const is = stackSection<{ filters: unknown[]; app?: string; timeoutMs?: number; services?: Array<{ name: string }> }>(after, name);
  if (JSON.stringify(was?.filters ?? []) !== JSON.stringify(is?.filters ?? [])) {
    notes.push(`${name}.filters: replaced (${is?.filters.length ?? 0} filters; their counters, buckets and breakers start fresh)`);
  }
  if (is?.app !== undefined) {
    if (was?.app !== is.app || was?.timeoutMs !== is.timeoutMs) notes.push(`${name}: the app is now ${is.app} (timeout ${is.timeoutMs} ms)`);
    return notes;
  }
  const servicesBefore = new Map((was?.services ?? []).map((s) => [s.name, JSON.stringify(s)]));
  const servicesAfter = new Map((is?.services ?? []).map((s) => [s.name, JSON.stringify(s)]));
  const added = [...servicesAfter.keys()].filter((s) => !servicesBefore.has(s));
  const removed = [...servicesBefore.keys()].filter((s) => !servicesAfter.has(s));
  const changed = [...servicesAfter].filter(([s, text]) => servicesBefore.has(s) && servicesBefore.get(s) !== text).map(([s]) => s);
  for (const [what, list] of [
    ['added', added],
    ['removed', removed],
    ['changed', changed],
  ] as const) {
    if (list.length > 0) notes.push(`${name} services ${what}: ${list.slice(0, 20).join(', ')}${list.length > 20 ? ` and ${list.length - 20} more` : ''}`);
  }
  return notes;
}

/** Routes of a Dubbo inbound stack: every interface a consumer names is served by the local app. */
class LocalAppRoutes extends ServiceRoutes {
  constructor(
    private readonly app: string,
    ...args: ConstructorParameters<typeof ServiceRoutes>
  ) {
    super(...args);
  }

  override routeSet(): RouteSet {
    return super.routeSet(this.app, '', '');
  }
}

/** The config's filters, then the stack's caps: the last step before routing, told of every request's end. */
class CappedChain extends SwappableFilterChain {
  constructor(
    initial: FilterChain,
    private readonly caps: UpstreamCaps,
  ) {
    super(initial);
  }

  /** Never empty: the caps and the retry budget see every request, whatever filters the config has. */
  override get empty(): boolean {
    return false;
  }

  override run(request: ProxyRequest, now: number, done: (reply: LocalReply | undefined) => void, from = 0): void {
    super.run(request, now, (reply) => done(reply ?? (this.caps.onRequest(request) as LocalReply | undefined)), from);
  }

  override complete(request: ProxyRequest, outcome: Outcome, latencyMicros: number, now: number, refusal?: BridgeRefusal): void {
    super.complete(request, outcome, latencyMicros, now, refusal);
    this.caps.onComplete(request);
  }
}

export interface StackDeps {
  app: string;
  stats: Record<Protocol, TrafficStats>;
  metrics: Registry;
  logger: Logger;
  /** The side-by-side run; outbound stacks copy calls through it. */
  shadow?: Shadow;
}

export type StackListener = HttpListener | DubboListener;

/** One stack: its listener, the routes and filters it reads, which a reload changes in place. */
export class ProxyStack {
  readonly catalog = new Catalog();
  readonly weights = new StackWeights();
  readonly routes: ServiceRoutes;
  readonly chain: SwappableFilterChain;
  readonly caps: UpstreamCaps;
  listener: StackListener;
  plan: StackPlan;
  /** Outbound stacks copy calls to the other stack through it (the side-by-side run). */
  private readonly mirror: DubboMirror | HttpMirror | undefined;
  private readonly labelMetrics: LabelRouteMetrics;

  constructor(
    readonly name: StackName,
    plan: StackPlan,
    chain: FilterChain,
    private readonly deps: StackDeps,
  ) {
    this.plan = plan;
    const retried = counter(deps.metrics, 'mesh_sidecar_retries_total', 'Requests sent again to another instance (idempotent after a broken connection, or never delivered), by stack and service', ['stack', 'service']);
    const refused = counter(deps.metrics, 'mesh_sidecar_retries_refused_total', 'Retries not made: the retry budget or the maxRetries cap was reached, by stack, service and reason (budget, cap)', ['stack', 'service', 'reason']);
    const overCap = counter(deps.metrics, 'mesh_sidecar_cap_refusals_total', 'Requests refused over a cap of their upstream service (maxRequests, maxPending, maxConnections), by stack, service and cap', ['stack', 'service', 'cap']);
    this.caps = new UpstreamCaps({
      retried: (service) => retried.inc({ stack: name, service }),
      refused: (service, reason) => refused.inc({ stack: name, service, reason }),
      overCap: (service, cap) => overCap.inc({ stack: name, service, cap }),
    });
    this.chain = new CappedChain(chain, this.caps);
    const routed = counter(deps.metrics, 'mesh_sidecar_route_rule_requests_total', 'Requests routed by a label rule (route rules by name; dubbo.tag for Dubbo tag routing), by stack and rule', ['stack', 'rule']);
    const fallbacks = counter(deps.metrics, 'mesh_sidecar_route_fallbacks_total', "Requests a label rule's subset could not serve, sent to its fallback (untagged or any instance), by stack and rule", ['stack', 'rule']);
    this.labelMetrics = { routed: { inc: ({ rule }) => routed.inc({ stack: name, rule }) }, fallbacks: { inc: ({ rule }) => fallbacks.inc({ stack: name, rule }) } };
    const pendingOf = (address: string): number => this.listener.pendingOf(address);
    // HTTP inbound names its service through the listener (every Host is the app); Dubbo through its routes.
    const outliers = new OutlierDetector(plan.outliers);
    this.routes =
      plan.protocol === 'dubbo' && plan.inbound
        ? new LocalAppRoutes(deps.app, this.catalog, this.weights, pendingOf, 'dubbo', NOBODY, outliers)
        : new ServiceRoutes(this.catalog, this.weights, pendingOf, plan.protocol, NOBODY, outliers);
    this.applyRoutes(plan);
    if (deps.shadow !== undefined && !plan.inbound) this.mirror = plan.protocol === 'dubbo' ? new DubboMirror(deps.shadow, this.routes) : new HttpMirror(deps.shadow, this.routes);
    this.listener = this.makeListener(plan);
  }

  makeListener(plan: StackPlan): StackListener {
    const { host, port } = parseListenAddress(plan.listen) as { host: string; port: number };
    const common = {
      host,
      port,
      routes: this.routes,
      stats: this.deps.stats[plan.protocol],
      metrics: this.deps.metrics,
      logger: this.deps.logger.child({ part: this.name }),
      policy: (service: string) => this.plan.policies.get(service) ?? this.plan.defaultPolicy,
      filters: this.chain,
    };
    if (plan.protocol === 'dubbo') return new DubboListener({ ...common, mirror: this.mirror as DubboMirror | undefined });
    return new HttpListener({ ...common, mirror: this.mirror as HttpMirror | undefined, routeBy: plan.routeBy, service: plan.inbound ? this.deps.app : undefined });
  }

  /** Makes the catalog, weights and label routes what the plan says (deltas drop the routes' cached sets). */
  applyRoutes(plan: StackPlan): void {
    this.routes.setLabelRoutes(plan.labelRoutes, this.labelMetrics);
    this.caps.configure(plan.caps);
    if (JSON.stringify(plan.outliers) !== JSON.stringify(this.plan.outliers)) this.routes.outliers.reconfigure(plan.outliers);
    for (const policy of plan.policies.values()) {
      policy.retryGate = this.caps;
      policy.connectionGate = this.caps;
    }
    for (const [service, instances] of plan.instances) this.catalog.replaceSource(SOURCE, service, instances);
    for (const service of this.catalog.serviceNames()) if (!plan.instances.has(service)) this.catalog.replaceSource(SOURCE, service, []);
    for (const [service, mesh] of plan.weights) if (this.weights.meshWeight(service) !== mesh) this.weights.set({ service, mesh });
    for (const setting of this.weights.list()) if (!plan.weights.has(setting.service)) this.weights.clear(setting.service);
    this.plan = plan;
  }

  /**
   * Per service with an ejected instance, now: the instances ejected, and those actually routed
   * around (at most maxEjectedPercent of each set, none in panic). An instance listed under several
   * services counts in each.
   */
  ejectedByService(now: number): Map<string, { ejected: string[]; routedAround: string[] }> {
    const ejected = new Set(this.routes.outliers.ejected(now).map((e) => e.address));
    const out = new Map<string, { ejected: string[]; routedAround: string[] }>();
    if (ejected.size === 0) return out;
    for (const service of this.plan.instances.keys()) {
      const set = this.routes.routeSet(service, '', '');
      const routedAround: string[] = [];
      const addresses: string[] = [];
      for (const candidates of [set.legacy, set.mesh]) {
        const kept = new Set(this.routes.outliers.filter(candidates, now).map((c) => c.address));
        for (const c of candidates) {
          if (ejected.has(c.address)) addresses.push(c.address);
          if (!kept.has(c.address)) routedAround.push(c.address);
        }
      }
      if (addresses.length > 0) out.set(service, { ejected: addresses, routedAround });
    }
    return out;
  }

  get address(): string {
    const { host, port } = this.listener.address;
    return `${host}:${port}`;
  }

  close(): void {
    this.mirror?.close();
    this.routes.close();
  }
}

/** The stacks' outlier detection in /metrics, read from the detectors when scraped. */
export function registerStackMetrics(registry: Registry, stacks: () => Iterable<[string, ProxyStack]>): void {
  new Gauge({
    name: 'mesh_sidecar_outlier_ejected_instances',
    help: 'Upstream instances outlier detection ejected, now, by stack and service (/status says which are routed around: at most maxEjectedPercent of a set)',
    labelNames: ['stack', 'service'],
    registers: [registry],
    collect() {
      this.reset();
      const now = Date.now();
      for (const [name, stack] of stacks()) for (const [service, { ejected }] of stack.ejectedByService(now)) this.set({ stack: name, service }, ejected.length);
    },
  });
  new Counter({
    name: 'mesh_sidecar_outlier_ejections_total',
    help: 'Ejections by outlier detection (consecutive gateway failures or success rate), by stack',
    labelNames: ['stack'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, stack] of stacks()) this.inc({ stack: name }, stack.routes.outliers.revision);
    },
  });
}
