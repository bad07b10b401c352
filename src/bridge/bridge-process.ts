// The bridge: registry sync (ZooKeeper, Eureka), the Dubbo and HTTP listeners facing the legacy
// side, and the admin API, in one process built from one validated config.
import { Server, createServer } from 'node:http';
import type { AddressInfo, Server as TcpServer } from 'node:net';
import express from 'express';
import { Catalog, MemoryOwnershipLedger, OwnershipLedger } from '../catalog';
import { MeshBridgeError } from '../errors';
import { EmbeddedEureka, EurekaRemoteSync, createEurekaRouter } from '../eureka-sync';
import type { Logger } from '../telemetry/logger';
import { Registry, counter } from '../telemetry/metrics';
import { BoundedLabels } from '../telemetry/bounded-labels';
import { Redactor } from '../telemetry/redact';
import { ZookeeperSync } from '../zookeeper-sync/zookeeper-sync';
import { createAdminRouter, createJsonErrorHandler, jsonNotFound } from './admin-api';
import { adminGuard, loadAdminToken } from './admin-guard';
import { BridgeConfig, RouteConfig, parseHostPortStrict } from './config';
import { DubboListener, DubboServicePolicy } from './dubbo/dubbo-listener';
import { HttpListener, HttpServicePolicy } from '../proxy/http/http-listener';
import { loadMeshServices, migrationState } from './mesh-services';
import { ServiceNames } from './control/service-names';
import { SelfAddresses } from '../proxy/router/self-addresses';
import { ServiceRoutes } from '../proxy/router/service-routes';
import { SharedWeights } from './control/shared-weights';
import { StackWeights } from '../proxy/router/stack-weights';
import { ScaledWeights } from '../proxy/router/scaled-weights';
import { listenError, listenOn, listenServer, stopAccepting } from './socket-lifecycle';
import { WeightControl } from './control/weight-control';
import { TrafficStats } from './stats/traffic-stats';
import { WeightChange, createWeightsRouter } from './weights-api';
import { BridgeHandout, httpHandout } from '../eureka-sync/bridge-handout';
import { EurekaLeaseStore } from '../eureka-sync/eureka-lease-store';
import { registrationPolicyFromConfig } from '../eureka-sync/eureka-config';

export interface BridgeAddresses {
  admin: string;
  dubbo?: string;
  http?: string;
}

export class Bridge {
  readonly catalog = new Catalog();
  readonly weights = new StackWeights();
  readonly weightControl: WeightControl;
  private readonly sharedWeights: SharedWeights | null = null;
  readonly metrics: Registry;
  readonly zookeeper: ZookeeperSync | null = null;
  readonly eureka: EmbeddedEureka | null = null;
  readonly eurekaRemote: EurekaRemoteSync | null = null;
  readonly dubbo: DubboListener | null = null;
  readonly http: HttpListener | null = null;
  /** Steering `slots`: the extra ports whose connections the Dubbo listener serves. */
  private readonly slotServers: TcpServer[] = [];
  /** Steering `slots`: the weights the Dubbo listener routes by (the operator's, scaled). */
  private readonly slotWeights: ScaledWeights | null = null;
  private readonly ledger: OwnershipLedger;
  private readonly routesByService = new Map<string, RouteConfig>();
  private readonly serviceRoutes: ServiceRoutes[] = [];
  private readonly dubboStats: TrafficStats;
  private readonly httpStats: TrafficStats;
  private adminServer: Server | null = null;
  /** The HTTP listener as Eureka clients are given it, once it listens. */
  private handout: BridgeHandout | null = null;
  private starting: Promise<BridgeAddresses> | null = null;
  private stopRequested = false;
  private signalStopped!: () => void;
  private readonly stopped = new Promise<void>((resolve) => (this.signalStopped = resolve));
  private readonly serviceNames: ServiceNames;
  /** Where this bridge listens, in every form: never routed to (filled in as listeners start). */
  private readonly selfAddresses = new SelfAddresses();
  private readonly adminToken: string | null;
  private readonly redactor: Redactor;

  constructor(
    readonly config: BridgeConfig,
    private readonly logger: Logger,
    metrics: Registry = new Registry(),
  ) {
    this.metrics = metrics;
    // Read first: a bridge that cannot guard its admin port does not start.
    this.adminToken = loadAdminToken(config.admin);
    this.redactor = new Redactor(config.redact.keys);
    this.auditLogger = logger.child({ part: 'audit' });
    this.changes = counter(metrics, 'mesh_bridge_admin_changes_total', 'Changes made through the admin API', ['kind']);
    // Series per service only for services the catalog or the config knows: names in requests are anyone's.
    const serviceLabels = new BoundedLabels((service) => this.serviceNames.resolve(service) === service);
    this.dubboStats = new TrafficStats(metrics, 'dubbo', 60_000, serviceLabels);
    this.httpStats = new TrafficStats(metrics, 'http', 60_000, serviceLabels);
    for (const route of config.routes) this.routesByService.set(route.service, route);
    this.serviceNames = new ServiceNames(this.catalog, [
      ...config.routes.map((r) => ({ service: r.service, protocol: r.protocol ?? ('dubbo' as const) })),
      ...config.mesh.services.map((s) => ({ service: s.name, protocol: s.protocol })),
    ]);
    this.weightControl = new WeightControl(
      this.weights,
      config.routes.map((r) => ({ service: r.service, mesh: r.mesh, methods: r.methods })),
    );
    const owner = config.bridge.id;
    if (config.zookeeper) {
      const bridgeAddress = config.zookeeper.export.bridgeAddress ?? `${config.dubbo.host}:${config.dubbo.port}`;
      // Slot ports are written at the exported address's host.
      const bridgeHost = bridgeAddress.slice(0, bridgeAddress.lastIndexOf(':'));
      this.zookeeper = new ZookeeperSync({
        connectString: config.zookeeper.connect,
        catalog: this.catalog,
        owner,
        metrics,
        logger: logger.child({ part: 'zookeeper-sync' }),
        sessionTimeoutMs: config.zookeeper.sessionTimeoutMs,
        export: { target: config.zookeeper.export.target, bridgeAddress, steering: config.zookeeper.export.steering },
        migration: migrationState(this.weightControl),
        slotEndpoints: config.dubbo.slotPorts.map((port) => `${bridgeHost}:${port}`),
      });
      this.ledger = this.zookeeper.ledger;
      if (config.zookeeper.sharedWeights) {
        this.sharedWeights = new SharedWeights({ session: this.zookeeper.session, control: this.weightControl, metrics, owner, logger: logger.child({ part: 'weights' }) });
      }
    } else {
      this.ledger = new MemoryOwnershipLedger(owner);
    }
    if (config.eureka.embedded) {
      this.eureka = new EmbeddedEureka({
        catalog: this.catalog,
        metrics,
        logger: logger.child({ part: 'eureka' }),
        ledger: this.ledger,
        meshWeightOf: (app) => this.meshWeightOf(app),
        policy: registrationPolicyFromConfig(config.eureka, this.redactor),
      });
      const eureka = this.eureka;
      this.weightControl.onChange((service) => eureka.weightChanged(service));
    }
    if (config.eureka.servers.length > 0) {
      this.eurekaRemote = new EurekaRemoteSync({
        serviceUrls: config.eureka.servers,
        fetchIntervalMs: config.eureka.fetchIntervalMs,
        catalog: this.catalog,
        ledger: this.ledger,
        owner,
        metrics,
        logger: logger.child({ part: 'eureka-remote' }),
        handout: () => this.handout,
        meshWeightOf: (app) => this.meshWeightOf(app),
        redactor: this.redactor,
      });
      const remote = this.eurekaRemote;
      this.weightControl.onChange(() => void remote.weightChanged());
    }
    const self = this.selfAddresses;
    if (config.dubbo.enabled) {
      // With slots the Dubbo listener routes by the operator's weights times (B + L) / B: it receives only
      // the bridges' share of the calls of uniform pickers (zookeeper-sync/slot-plan.ts).
      const zookeeper = this.zookeeper;
      if (zookeeper !== null && config.zookeeper?.export.steering === 'slots') this.slotWeights = new ScaledWeights(this.weights, (service) => zookeeper.slotScale(service));
      const routes = new ServiceRoutes(this.catalog, this.slotWeights ?? this.weights, (a) => this.dubbo?.pendingOf(a) ?? 0, 'dubbo', self);
      this.serviceRoutes.push(routes);
      this.dubbo = new DubboListener({
        host: config.dubbo.host,
        port: config.dubbo.port,
        routes,
        stats: this.dubboStats,
        metrics,
        logger: logger.child({ part: 'dubbo' }),
        policy: (service) => this.dubboPolicy(service),
        connectTimeoutMs: config.dubbo.connectTimeoutMs,
        heartbeatIdleMs: config.dubbo.heartbeatIdleMs,
        maxBodyLength: config.dubbo.maxBodyBytes,
        connectionsPerInstance: config.dubbo.connectionsPerInstance,
        limits: config.dubbo,
      });
    }
    if (config.http.enabled) {
      const routes = new ServiceRoutes(this.catalog, this.weights, (a) => this.http?.pendingOf(a) ?? 0, 'http', self);
      this.serviceRoutes.push(routes);
      this.http = new HttpListener({
        host: config.http.host,
        port: config.http.port,
        routes,
        stats: this.httpStats,
        metrics,
        logger: logger.child({ part: 'http' }),
        routeBy: config.http.routeBy,
        policy: (service) => this.httpPolicy(service),
        connectTimeoutMs: config.http.connectTimeoutMs,
        headerTimeoutMs: config.http.headerTimeoutMs,
        bodyIdleTimeoutMs: config.http.bodyIdleTimeoutMs,
        keepAliveTimeoutMs: config.http.keepAliveTimeoutMs,
        responseStallTimeoutMs: config.http.responseStallTimeoutMs,
        upstreamIdleTimeoutMs: config.http.upstreamIdleTimeoutMs,
        maxIdlePerUpstream: config.http.maxIdlePerUpstream,
        maxPipelined: config.http.maxPipelined,
        maxConnections: config.http.maxConnections,
        trustedForwarders: config.http.trustedForwarders,
        maxHops: config.http.maxHops,
      });
    }
  }

  /** Steering `slots`: the weights the Dubbo listener routes a service by, beside the operator's, and why. */
  private routedBy(service: string): Record<string, unknown> | null {
    const view = this.zookeeper?.slotView(service) ?? null;
    if (this.slotWeights === null || view === null) return null;
    const methods = this.weights.list().filter((w) => w.service === service && w.method !== undefined);
    return {
      effective: { mesh: this.slotWeights.meshWeight(service), methods: methods.map((w) => ({ method: w.method, mesh: this.slotWeights?.meshWeight(service, w.method) })) },
      slots: view,
    };
  }

  /** The HTTP share of an app (any spelling of its name) sent to the mesh. */
  private meshWeightOf(app: string): number {
    let weight = 0;
    for (const setting of this.weights.list()) if (setting.method === undefined && setting.service.toUpperCase() === app) weight = Math.max(weight, setting.mesh);
    return weight;
  }

  // Policies per configured route, and one for every other service: service names come from
  // requests, so nothing is kept per name a caller may invent.
  private readonly dubboPolicies = new Map<string, DubboServicePolicy>();
  private defaultDubboPolicy: DubboServicePolicy | null = null;
  private dubboPolicy(service: string): DubboServicePolicy {
    const policy = this.dubboPolicies.get(service);
    if (policy !== undefined) return policy;
    const route = this.routesByService.get(service);
    if (route === undefined) return (this.defaultDubboPolicy ??= this.makeDubboPolicy(undefined));
    const made = this.makeDubboPolicy(route);
    this.dubboPolicies.set(service, made);
    return made;
  }

  private makeDubboPolicy(route: RouteConfig | undefined): DubboServicePolicy {
    return {
      stickyAttachment: route?.sticky.attachment,
      idempotentMethods: new Set(route?.idempotent ?? []),
      retries: route?.retries ?? 0,
      timeoutMs: route?.timeoutMs ?? this.config.dubbo.timeoutMs,
      // A timeout configured for the route wins over what consumers ask for.
      honorConsumerTimeout: route?.timeoutMs === undefined && this.config.dubbo.honorConsumerTimeout,
    };
  }

  private readonly httpPolicies = new Map<string, HttpServicePolicy>();
  private defaultHttpPolicy: HttpServicePolicy | null = null;
  private httpPolicy(service: string): HttpServicePolicy {
    const policy = this.httpPolicies.get(service);
    if (policy !== undefined) return policy;
    const route = this.routesByService.get(service);
    const made = { stickyHeader: route?.sticky.header?.toLowerCase(), timeoutMs: route?.timeoutMs ?? this.config.http.timeoutMs };
    if (route === undefined) return (this.defaultHttpPolicy ??= made);
    this.httpPolicies.set(service, made);
    return made;
  }

  private readonly auditLogger;
  private readonly changes;

  /** One line per change: who, when, what, old -> new. */
  private audit(change: WeightChange): void {
    this.changes.inc({ kind: change.mesh === null ? 'weight_cleared' : 'weight_set' });
    const what = `${change.service}${change.method ? '.' + change.method : ''}`;
    this.auditLogger.info(
      { audit: 'weight', at: new Date().toISOString(), service: change.service, method: change.method, before: change.before, after: change.after, cleared: change.mesh === null, who: change.who },
      `weight of ${what}: ${change.before} -> ${change.after}${change.mesh === null ? ' (back to configured)' : ''} by ${change.who.address} (${change.who.auth === 'token' ? 'admin token' : 'no token'})`,
    );
  }

  /** What is not working, for /healthz and /status: empty when all is well. */
  health(): BridgeHealth {
    const degraded: Array<{ part: string; reason: string }> = [];
    if (this.stopRequested) degraded.push({ part: 'bridge', reason: 'stopping' });
    const zookeeper = this.zookeeper?.status();
    if (zookeeper) {
      if (zookeeper.state !== 'connected') {
        degraded.push({
          part: 'zookeeper',
          reason: `ZooKeeper ${zookeeper.connectString} is ${zookeeper.state === 'connecting' && zookeeper.sessionId === null ? 'not reachable yet' : zookeeper.state}: registry sync and this bridge's provider URLs wait for it, weight changes are refused; retrying`,
        });
      } else if (zookeeper.lastSyncedAt === null || zookeeper.stale) {
        degraded.push({ part: 'zookeeper', reason: 'connected, first sync not complete' });
      }
    }
    const remote = this.eurekaRemote?.status();
    if (remote?.stale) degraded.push({ part: 'eureka-remote', reason: `external Eureka not reachable: ${remote.lastError ?? 'no fetch yet'}` });
    return { status: degraded.length === 0 ? 'ok' : 'degraded', degraded };
  }

  /**
   * Starts every part; resolves once all listen. ZooKeeper is waited for (up to
   * zookeeper.startWaitMs to connect, then its first sync): when it cannot be reached the bridge
   * starts degraded (see health()) and keeps trying. Rejects with LISTEN_FAILED when an address
   * cannot be had, with BRIDGE_STOPPED when stop() was called meanwhile.
   */
  start(): Promise<BridgeAddresses> {
    this.starting ??= this.startParts();
    return this.starting;
  }

  private checkNotStopped(): void {
    if (this.stopRequested) throw new MeshBridgeError('BRIDGE_STOPPED', 'the bridge was stopped while starting');
  }

  private async startParts(): Promise<BridgeAddresses> {
    loadMeshServices(this.catalog, this.config.mesh.services);
    const app = express();
    app.disable('x-powered-by');
    app.use(
      adminGuard({
        allowedHosts: this.config.admin.allowedHosts,
        token: this.adminToken,
        // Eureka clients send no token: who may register what is the embedded Eureka's to decide.
        tokenExempt: (path) => path.startsWith('/eureka/'),
        metrics: this.metrics,
      }),
    );
    app.use(
      createAdminRouter({
        catalog: this.catalog,
        metrics: this.metrics,
        redactor: this.redactor,
        health: () => this.health(),
        status: () => ({
          bridge: this.config.bridge.id,
          health: this.health(),
          zookeeper: this.zookeeper?.status() ?? null,
          eurekaRemote: this.eurekaRemote?.status() ?? null,
          dubbo: this.dubbo ? `${this.config.dubbo.host}:${this.dubbo.address.port}` : null,
          http: this.http ? `${this.config.http.host}:${this.http.address.port}` : null,
          // Instances left out of routing after repeated connection failures, with when they return.
          ejected: this.serviceRoutes.flatMap((routes) => routes.outliers.ejected(Date.now())),
        }),
      }),
    );
    app.use(
      createWeightsRouter({
        control: this.weightControl,
        resolve: (name) => this.serviceNames.resolve(name),
        shared: this.sharedWeights !== null,
        stats: { dubbo: this.dubboStats, http: this.httpStats },
        onChange: (change) => this.audit(change),
        routedBy: (service) => this.routedBy(service),
      }),
    );
    if (this.eureka) {
      // Registrations kept in ZooKeeper are read once it is connected: clients wait for them briefly.
      if (this.zookeeper) this.eureka.expectStore();
      app.use(createEurekaRouter(this.eureka));
      this.eureka.start();
    }
    app.use(jsonNotFound);
    app.use(createJsonErrorHandler((err, req) => this.logger.error({ err, method: req.method, path: req.path }, 'admin API request failed')));
    const { host, port } = this.config.admin;
    const admin = createServer(app);
    this.adminServer = admin;
    await listenServer(admin, host, port, 'admin API');
    this.checkNotStopped();
    await this.startListener(this.dubbo, 'Dubbo listener', this.config.dubbo);
    const dubbo = this.dubbo;
    if (dubbo !== null) {
      for (const port of this.config.dubbo.slotPorts) {
        try {
          this.slotServers.push(await listenOn(this.config.dubbo.host, port, (socket) => dubbo.adopt(socket), 'Dubbo slot listener'));
        } catch (err) {
          throw listenError(err instanceof MeshBridgeError && err.code === 'LISTEN_FAILED' ? err.cause : err, 'Dubbo slot listener', this.config.dubbo.host, port);
        }
        this.checkNotStopped();
      }
    }
    await this.startListener(this.http, 'HTTP listener', this.config.http);
    this.learnOwnAddresses(admin);
    if (this.http) {
      this.handout = httpHandout(this.config, this.http.address.port);
      this.eureka?.setHandout(this.handout);
    }
    this.sharedWeights?.start();
    if (this.zookeeper) await this.startZookeeper(this.zookeeper);
    this.checkNotStopped();
    if (this.eureka && this.zookeeper) {
      // Registrations survive restarts and are shared by replicas, as a Eureka cluster would:
      // loaded before start resolves when ZooKeeper is there, in the background once it is.
      const loaded = this.eureka.useStore(new EurekaLeaseStore({ session: this.zookeeper.session, bridgeId: this.config.bridge.id, metrics: this.metrics, logger: this.logger.child({ part: 'eureka-store' }) }));
      if (this.zookeeper.session.connected) await loaded;
      this.checkNotStopped();
    }
    // Never rejects: an unreachable Eureka starts stale and is retried in the background.
    await this.eurekaRemote?.start();
    this.checkNotStopped();
    const adminPort = (admin.address() as AddressInfo).port;
    const addresses: BridgeAddresses = { admin: `${host}:${adminPort}` };
    if (this.dubbo) addresses.dubbo = `${this.config.dubbo.host}:${this.dubbo.address.port}`;
    if (this.http) addresses.http = `${this.config.http.host}:${this.http.address.port}`;
    return addresses;
  }

  /** Every address this bridge answers at is one it must never route to (loops, the admin API through the data plane). */
  private learnOwnAddresses(admin: Server): void {
    this.selfAddresses.add(this.config.admin.host, (admin.address() as AddressInfo).port);
    if (this.dubbo) this.selfAddresses.add(this.config.dubbo.host, this.dubbo.address.port);
    for (const port of this.config.dubbo.slotPorts) this.selfAddresses.add(this.config.dubbo.host, port);
    if (this.http) this.selfAddresses.add(this.config.http.host, this.http.address.port);
    const exported = this.config.zookeeper?.export.bridgeAddress;
    const at = exported === undefined ? null : parseHostPortStrict(exported);
    if (at !== null) this.selfAddresses.add(at.host, at.port);
    if (at !== null) for (const port of this.config.dubbo.slotPorts) this.selfAddresses.add(at.host, port);
    for (const routes of this.serviceRoutes) routes.clearCache();
  }

  private async startListener(listener: { start(): Promise<void> } | null, what: string, at: { host: string; port: number }): Promise<void> {
    if (listener === null) return;
    try {
      await listener.start();
    } catch (err) {
      throw listenError(err instanceof MeshBridgeError && err.code === 'LISTEN_FAILED' ? err.cause : err, what, at.host, at.port);
    }
    this.checkNotStopped();
  }

  /**
   * Waits for ZooKeeper while it is reachable (its first sync), and not at all once it is not:
   * the sync goes on in the background, retrying, and health() says what waits for it.
   */
  private async startZookeeper(zookeeper: ZookeeperSync): Promise<void> {
    const firstSync = zookeeper.start();
    firstSync.then(
      () => this.logger.info({ connect: this.config.zookeeper?.connect }, 'zookeeper: first sync complete'),
      (err) => this.logger.warn({ err: (err as Error).message }, 'zookeeper: no first sync yet; running degraded and retrying'),
    );
    const waitMs = this.config.zookeeper?.startWaitMs ?? 5000;
    const reached = await Promise.race([zookeeper.session.whenConnected(waitMs).then(() => true, () => false), this.stopped.then(() => false)]);
    if (!reached) {
      if (!this.stopRequested) this.logger.warn({ connect: this.config.zookeeper?.connect, waitedMs: waitMs }, 'zookeeper not reachable: starting degraded, retrying in the background');
      return;
    }
    await Promise.race([firstSync.catch(() => undefined), this.stopped]);
  }

  /**
   * Graceful, callable at any moment (also while starting): this bridge's registrations are
   * withdrawn first (its ZooKeeper session closed, so its provider URLs vanish at once), then the
   * listeners stop accepting and finish what is in flight within the deadline.
   */
  async stop(deadlineMs = 5000): Promise<void> {
    this.stopRequested = true;
    this.signalStopped();
    await this.starting?.catch(() => undefined);
    this.sharedWeights?.stop();
    // Registrations written so far reach ZooKeeper before its session closes.
    await this.eureka?.storeFlushed();
    this.eureka?.stop();
    // Before ZooKeeper closes: giving back overrides releases their ledger entries there.
    await this.eurekaRemote?.stop();
    await this.zookeeper?.stop();
    // Slot ports stop accepting with the main port; their connections close with the Dubbo listener's.
    const slotsClosed = this.slotServers.map((server) => stopAccepting(server));
    await Promise.all([this.dubbo?.stop(deadlineMs), this.http?.stop(deadlineMs)]);
    await Promise.all(slotsClosed);
    for (const routes of this.serviceRoutes) routes.close();
    this.serviceNames.close();
    const admin = this.adminServer;
    if (admin?.listening) {
      admin.closeAllConnections();
      await new Promise<void>((resolve) => admin.close(() => resolve()));
    }
  }
}

export interface BridgeHealth {
  status: 'ok' | 'degraded';
  degraded: Array<{ part: string; reason: string }>;
}
