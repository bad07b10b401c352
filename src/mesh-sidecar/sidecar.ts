// The sidecar process: inbound stacks (callers -> filters -> the local app) and outbound ones (the
// app's calls -> filters -> legacy or mesh instances by weight), HTTP and Dubbo, each the data
// path's own listener over a ServiceRoutes fed by a catalog of the config's static instances
// (stack.ts), and an admin port (/metrics, /status, /healthz). A reload applies a valid config without dropping connections:
// the filter chain is swapped under the listener, instances and weights change in the catalog the
// routes read. Only a listener whose address (or routeBy) changed is replaced: a new one starts at
// the new address and the old one drains (its idle connections close, busy ones after their answer).
import { IncomingMessage, ServerResponse, Server as HttpServer, createServer } from 'node:http';
import { listenServer, listeningAddress } from '../bridge/socket-lifecycle';
import { TrafficStats } from '../bridge/stats/traffic-stats';
import { MeshBridgeError } from '../errors';
import { buildFilterChain, FilterChain, FilterSpec } from '../proxy/filters';
import type { Logger } from '../telemetry/logger';
import { Registry, counter } from '../telemetry/metrics';
import type { Counter } from 'prom-client';
import { STACK_NAMES, SidecarConfig, StackName, loadSidecarConfig, parseListenAddress, stackSection } from './config';
import { registerFilterMetrics } from './filter-metrics';
import { DEFAULT_SHADOW_CONFIG } from '../proxy/mirror/mirror-config';
import { Shadow } from '../proxy/mirror/shadow';
import { FilterState, filterState } from './filter-state';
import { ProxyStack, StackDeps, StackListener, StackPlan, changesOf, idempotentMethodsOf, registerStackMetrics, stackPlan } from './stack';

/** The filters a stack's config lists, in order. */
function filterSpecs(config: SidecarConfig, name: StackName): readonly FilterSpec[] {
  return stackSection<{ filters: FilterSpec[] }>(config, name)?.filters ?? [];
}

export type SidecarAddresses = { admin: string } & Partial<Record<StackName, string>>;

export interface ReloadResult {
  outcome: 'applied' | 'refused' | 'unchanged';
  /** What changed, or why it was refused (with key paths). */
  notes: string[];
}

export class Sidecar {
  readonly metrics: Registry;
  private readonly stats: StackDeps['stats'];
  private readonly stacks = new Map<StackName, ProxyStack>();
  private admin: HttpServer | null = null;
  private readonly reloads: Counter<'outcome'>;
  private lastReload: { at: string; outcome: string; notes: string[] } | null = null;
  private reloading: Promise<unknown> = Promise.resolve();
  private readonly startedAt = Date.now();
  /** The side-by-side run: its report outlives reloads. */
  readonly shadow: Shadow;
  /** Carries into the filter counters what the filters a reload replaces counted since the last scrape. */
  private readonly retireFilterMetrics: ReturnType<typeof registerFilterMetrics>;

  constructor(
    private config: SidecarConfig,
    private readonly logger: Logger,
    metrics: Registry = new Registry(),
    /** The file reloads read; none: reload() takes a config object. */
    private readonly file?: string,
  ) {
    this.metrics = metrics;
    this.stats = { http: new TrafficStats(metrics, 'http'), dubbo: new TrafficStats(metrics, 'dubbo') };
    this.reloads = counter(metrics, 'mesh_sidecar_reloads_total', 'Config reloads (SIGHUP), by outcome: applied, unchanged, refused (the old config kept)', ['outcome']);
    this.retireFilterMetrics = registerFilterMetrics(metrics, () => this.filterStates());
    registerStackMetrics(metrics, () => this.stacks.entries());
    this.shadow = new Shadow(metrics);
    this.configureShadow(config);
  }

  /** The mirror rules of a config; Dubbo methods are safe to copy when the service marks them idempotent. */
  private configureShadow(config: SidecarConfig): void {
    const idempotent = new Map((config.dubbo?.outbound?.services ?? []).map((s) => [s.name, idempotentMethodsOf(s)]));
    this.shadow.configure(config.shadow ?? DEFAULT_SHADOW_CONFIG, (service) => idempotent.get(service) ?? new Set());
  }

  /** Starts every configured stack and the admin port. A reload asked for meanwhile waits for it. */
  start(): Promise<SidecarAddresses> {
    const started = this.startAll();
    this.reloading = started.catch(() => undefined);
    return started;
  }

  private async startAll(): Promise<SidecarAddresses> {
    for (const name of STACK_NAMES) {
      const plan = stackPlan(this.config, name);
      if (plan === undefined) continue;
      const stack = new ProxyStack(name, plan, this.buildChain(name, this.config), this.stackDeps());
      this.stacks.set(name, stack);
      await stack.listener.start();
    }
    const { host, port } = parseListenAddress(this.config.admin.listen) as { host: string; port: number };
    const admin = createServer((req, res) => this.serveAdmin(req, res));
    await listenServer(admin, host, port, 'sidecar admin');
    this.admin = admin;
    return this.addresses();
  }

  get app(): string {
    return this.config.app;
  }

  private stackDeps(): StackDeps {
    return { app: this.config.app, stats: this.stats, metrics: this.metrics, logger: this.logger, shadow: this.shadow };
  }

  addresses(): SidecarAddresses {
    const { host, port } = listeningAddress(this.admin, 'admin');
    const addresses: SidecarAddresses = { admin: `${host}:${port}` };
    for (const [name, stack] of this.stacks) addresses[name] = stack.address;
    return addresses;
  }

  async stop(deadlineMs = 5000): Promise<void> {
    await Promise.all([...this.stacks.values()].map((s) => s.listener.stop(deadlineMs)));
    for (const stack of this.stacks.values()) stack.close();
    this.shadow.close();
    const admin = this.admin;
    if (admin !== null) {
      const closed = new Promise<void>((done) => admin.close(() => done()));
      admin.closeAllConnections();
      await closed;
    }
  }

  /** Re-reads the config file; a bad one is refused (logged with its key paths) and the old one kept. */
  reloadFromFile(): Promise<ReloadResult> {
    const file = this.file;
    if (file === undefined) return Promise.resolve({ outcome: 'refused', notes: ['the sidecar was started without a config file'] });
    return this.serialized(async () => {
      let next: SidecarConfig;
      try {
        next = loadSidecarConfig(file);
      } catch (err) {
        if (!(err instanceof MeshBridgeError)) throw err;
        return this.refuse(Array.isArray(err.value) ? (err.value as string[]) : [err.message]);
      }
      return this.apply(next);
    });
  }

  /** Applies a validated config (tests, or a caller that validated it). */
  reload(next: SidecarConfig): Promise<ReloadResult> {
    return this.serialized(() => this.apply(next));
  }

  private serialized(run: () => Promise<ReloadResult>): Promise<ReloadResult> {
    const result = this.reloading.then(run, run);
    this.reloading = result.catch(() => undefined);
    return result;
  }

  private refuse(notes: string[]): ReloadResult {
    this.reloads.inc({ outcome: 'refused' });
    this.lastReload = { at: new Date().toISOString(), outcome: 'refused', notes };
    this.logger.error({ reload: 'refused', errors: notes }, `config reload refused, the running config is kept:\n  ${notes.join('\n  ')}`);
    return { outcome: 'refused', notes };
  }

  private async apply(next: SidecarConfig): Promise<ReloadResult> {
    const before = JSON.stringify(this.config);
    if (JSON.stringify(next) === before) {
      this.reloads.inc({ outcome: 'unchanged' });
      this.lastReload = { at: new Date().toISOString(), outcome: 'unchanged', notes: [] };
      this.logger.info('config reload: nothing changed');
      return { outcome: 'unchanged', notes: [] };
    }
    const notes: string[] = [];
    if (next.app !== this.config.app) return this.refuse([`app: changed from ${JSON.stringify(this.config.app)} to ${JSON.stringify(next.app)}; the app a sidecar stands beside changes only with a restart`]);
    if (next.admin.listen !== this.config.admin.listen) notes.push(`admin.listen: changed to ${next.admin.listen}, applied at the next restart (the admin port stays ${this.config.admin.listen})`);
    // Pino's child loggers (one per listener) keep the level they were made with: a restart applies it.
    if (next.log.level !== this.config.log.level) notes.push(`log.level: changed to ${next.log.level}, applied at the next restart`);
    // Everything that can fail (building filters, binding a new address) happens before anything changes.
    const prepared: Array<{ name: StackName; plan?: StackPlan; chain?: FilterChain; listener?: StackListener; stack?: ProxyStack }> = [];
    try {
      for (const name of STACK_NAMES) {
        const plan = stackPlan(next, name);
        const current = this.stacks.get(name);
        if (plan === undefined) {
          if (current !== undefined) prepared.push({ name });
          continue;
        }
        const chain = this.buildChain(name, next);
        if (current === undefined) {
          const stack = new ProxyStack(name, plan, chain, this.stackDeps());
          prepared.push({ name, plan, chain, stack });
          await stack.listener.start();
        } else if (current.plan.listen !== plan.listen || current.plan.routeBy !== plan.routeBy) {
          const listener = current.makeListener(plan);
          prepared.push({ name, plan, chain, listener });
          await listener.start();
        } else prepared.push({ name, plan, chain });
      }
    } catch (err) {
      for (const p of prepared) {
        await p.listener?.stop(0);
        await p.stack?.listener.stop(0);
        p.stack?.close();
      }
      return this.refuse([`${err instanceof MeshBridgeError ? err.code + ': ' : ''}${(err as Error).message}`]);
    }
    // Every stack that stays gets a fresh chain and a removed one goes: their filters' counts are taken in now.
    this.retireFilterMetrics(this.filterStates());
    for (const p of prepared) {
      const current = this.stacks.get(p.name);
      if (p.plan === undefined) {
        if (current === undefined) continue;
        this.stacks.delete(p.name);
        notes.push(`${p.name}: removed; its listener at ${current.address} drains and closes`);
        this.drain(current.listener, current.address, () => current.close());
        continue;
      }
      if (p.stack !== undefined) {
        this.stacks.set(p.name, p.stack);
        notes.push(`${p.name}: added, listening at ${p.stack.address}`);
        continue;
      }
      if (current === undefined) continue;
      notes.push(...changesOf(p.name, this.config, next));
      current.chain.swap(p.chain as FilterChain);
      current.applyRoutes(p.plan);
      if (p.listener !== undefined) {
        const old = current.listener;
        const oldAddress = current.address;
        current.listener = p.listener;
        notes.push(`${p.name}: listener moved from ${oldAddress} to ${current.address}; connections to the old address are closed once their requests finish`);
        this.drain(old, oldAddress);
      }
    }
    if (JSON.stringify(next.shadow) !== JSON.stringify(this.config.shadow)) notes.push('shadow: the mirror rules changed (the report so far is kept)');
    this.config = next;
    this.configureShadow(next);
    this.reloads.inc({ outcome: 'applied' });
    this.lastReload = { at: new Date().toISOString(), outcome: 'applied', notes };
    this.logger.info({ reload: 'applied', notes }, `config reload applied${notes.length > 0 ? `: ${notes.join('; ')}` : ''}`);
    return { outcome: 'applied', notes };
  }

  /** Stops a listener a reload retired, in the background: its callers finish, then it closes. */
  private drain(listener: StackListener, address: string, then?: () => void): void {
    listener.stop().then(
      () => {
        then?.();
        this.logger.info(`the retired listener at ${address} is closed`);
      },
      (err: unknown) => this.logger.error({ err }, `the retired listener at ${address} did not stop cleanly`),
    );
  }

  private buildChain(name: StackName, config: SidecarConfig): FilterChain {
    return buildFilterChain(filterSpecs(config, name), { logger: this.logger.child({ part: `${name}-filters` }), metrics: this.metrics }, `${name}.filters`);
  }

  /** What /status shows. */
  status(): Record<string, unknown> {
    const now = Date.now();
    const stacks: Record<string, unknown> = {};
    for (const [name, stack] of this.stacks) {
      stacks[name] = {
        listen: stack.address,
        routeBy: name === 'outbound' ? stack.plan.routeBy : undefined,
        services: [...stack.plan.instances].map(([service, instances]) => ({
          name: service,
          meshWeight: stack.weights.meshWeight(service),
          instances: instances.map((i) => `${i.host}:${i.port} (${i.stack})`),
        })),
        ejected: stack.routes.outliers.ejected(now),
        ejectedByService: Object.fromEntries(stack.ejectedByService(now)),
        caps: stack.plan.inbound ? undefined : stack.caps.snapshot(),
        filters: stack.chain.active.filters.map((filter, i) => filterState(filter, filterSpecs(this.config, name)[i]?.config)),
      };
    }
    return {
      app: this.config.app,
      uptimeSeconds: Math.round((now - this.startedAt) / 1000),
      config: this.file,
      stacks,
      lastReload: this.lastReload,
      traffic: [...this.stats.http.summaries(now), ...this.stats.dubbo.summaries(now)],
    };
  }

  /**
   * Each active filter with its state. The active chain's filter i was built from
   * `config[stack].filters[i]`: a reload swaps the chains and sets `config` in one synchronous step.
   */
  private filterStates(): Array<[StackName, FilterState, object]> {
    const out: Array<[StackName, FilterState, object]> = [];
    for (const [name, stack] of this.stacks) stack.chain.active.filters.forEach((filter, i) => out.push([name, filterState(filter, filterSpecs(this.config, name)[i]?.config), filter]));
    return out;
  }

  private serveAdmin(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown): void => {
      const text = JSON.stringify(body, null, 2);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: { code: 'METHOD_NOT_ALLOWED', message: 'the sidecar admin API is read-only: GET /status, /shadow, /metrics, /healthz' } });
    if (path === '/healthz') return json(200, { status: 'ok', app: this.config.app });
    if (path === '/status') return json(200, this.status());
    if (path === '/shadow') return json(200, { ...this.shadow.report.toJSON(), config: this.config.shadow ?? null });
    if (path === '/metrics') {
      this.metrics.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': this.metrics.contentType });
          res.end(text);
        },
        (err: Error) => json(500, { error: { code: 'METRICS_FAILED', message: err.message } }),
      );
      return;
    }
    json(404, { error: { code: 'NOT_FOUND', message: `no ${path}: GET /status, /shadow, /metrics, /healthz` } });
  }
}
