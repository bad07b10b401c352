// The bridge: registry sync (ZooKeeper, Eureka), the Dubbo and HTTP listeners facing the legacy
// side, and the admin API, in one process built from one validated config.
import { Server } from 'node:http';
import express from 'express';
import { Catalog, MemoryOwnershipLedger, OwnershipLedger } from '../catalog';
import { EmbeddedEureka, EurekaRemoteSync, createEurekaRouter } from '../eureka-sync';
import type { Logger } from '../telemetry/logger';
import { Registry } from '../telemetry/metrics';
import { ZookeeperSync } from '../zookeeper-sync/zookeeper-sync';
import { createAdminRouter, jsonErrorHandler } from './admin-api';
import { BridgeConfig, RouteConfig } from './config';
import { DubboListener, DubboServicePolicy } from './dubbo/dubbo-listener';
import { HttpListener, HttpServicePolicy } from './http/http-listener';
import { loadMeshServices } from './mesh-services';
import { ServiceRoutes } from './route/service-routes';
import { SharedWeights } from './route/shared-weights';
import { StackWeights } from './route/stack-weights';
import { WeightControl } from './route/weight-control';
import { TrafficStats } from './stats/traffic-stats';
import { createWeightsRouter } from './weights-api';

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
  private readonly ledger: OwnershipLedger;
  private readonly routesByService = new Map<string, RouteConfig>();
  private readonly serviceRoutes: ServiceRoutes[] = [];
  private readonly dubboStats: TrafficStats;
  private readonly httpStats: TrafficStats;
  private adminServer: Server | null = null;

  constructor(
    readonly config: BridgeConfig,
    private readonly logger: Logger,
    metrics: Registry = new Registry(),
  ) {
    this.metrics = metrics;
    this.dubboStats = new TrafficStats(metrics, 'dubbo');
    this.httpStats = new TrafficStats(metrics, 'http');
    for (const route of config.routes) this.routesByService.set(route.service, route);
    this.weightControl = new WeightControl(
      this.weights,
      config.routes.map((r) => ({ service: r.service, mesh: r.mesh, methods: r.methods })),
    );
    const owner = config.bridge.id;
    if (config.zookeeper) {
      const bridgeAddress = config.zookeeper.export.bridgeAddress ?? `${config.dubbo.host}:${config.dubbo.port}`;
      this.zookeeper = new ZookeeperSync({
        connectString: config.zookeeper.connect,
        catalog: this.catalog,
        owner,
        metrics,
        logger: logger.child({ part: 'zookeeper-sync' }),
        sessionTimeoutMs: config.zookeeper.sessionTimeoutMs,
        export: { target: config.zookeeper.export.target, bridgeAddress },
      });
      this.ledger = this.zookeeper.ledger;
      if (config.zookeeper.sharedWeights) {
        this.sharedWeights = new SharedWeights({ session: this.zookeeper.session, control: this.weightControl, metrics, logger: logger.child({ part: 'weights' }) });
      }
    } else {
      this.ledger = new MemoryOwnershipLedger(owner);
    }
    if (config.eureka.embedded) {
      this.eureka = new EmbeddedEureka({ catalog: this.catalog, metrics, logger: logger.child({ part: 'eureka' }), ledger: this.ledger });
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
      });
    }
    const self = new Set<string>();
    if (config.dubbo.enabled) {
      self.add(`${config.dubbo.host}:${config.dubbo.port}`);
      const routes = new ServiceRoutes(this.catalog, this.weights, (a) => this.dubbo?.pendingOf(a) ?? 0, 'dubbo', self);
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
      self.add(`${config.http.host}:${config.http.port}`);
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
      });
    }
  }

  private readonly dubboPolicies = new Map<string, DubboServicePolicy>();
  private dubboPolicy(service: string): DubboServicePolicy {
    let policy = this.dubboPolicies.get(service);
    if (policy === undefined) {
      const route = this.routesByService.get(service);
      policy = {
        stickyAttachment: route?.sticky.attachment,
        idempotentMethods: new Set(route?.idempotent ?? []),
        retries: route?.retries ?? 0,
        timeoutMs: route?.timeoutMs ?? this.config.dubbo.timeoutMs,
        // A timeout configured for the route wins over what consumers ask for.
        honorConsumerTimeout: route?.timeoutMs === undefined && this.config.dubbo.honorConsumerTimeout,
      };
      this.dubboPolicies.set(service, policy);
    }
    return policy;
  }

  private readonly httpPolicies = new Map<string, HttpServicePolicy>();
  private httpPolicy(service: string): HttpServicePolicy {
    let policy = this.httpPolicies.get(service);
    if (policy === undefined) {
      const route = this.routesByService.get(service) ?? this.routesByService.get(service.toLowerCase());
      policy = { stickyHeader: route?.sticky.header?.toLowerCase(), timeoutMs: route?.timeoutMs ?? this.config.http.timeoutMs };
      this.httpPolicies.set(service, policy);
    }
    return policy;
  }

  /** Starts every part; resolves when all listen and the registries had their first sync. */
  async start(): Promise<BridgeAddresses> {
    loadMeshServices(this.catalog, this.config.mesh.services);
    const app = express();
    app.disable('x-powered-by');
    app.use(
      createAdminRouter({
        catalog: this.catalog,
        metrics: this.metrics,
        status: () => ({
          bridge: this.config.bridge.id,
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
        shared: this.sharedWeights !== null,
        stats: { dubbo: this.dubboStats, http: this.httpStats },
        onChange: (change) => this.logger.info(change, `weight of ${change.service}${change.method ? '.' + change.method : ''} set to ${change.mesh ?? 'default'}`),
      }),
    );
    if (this.eureka) {
      app.use(createEurekaRouter(this.eureka));
      this.eureka.start();
    }
    app.use(jsonErrorHandler);
    const { host, port } = this.config.admin;
    this.adminServer = await new Promise<Server>((resolve, reject) => {
      const server = app.listen(port, host, () => resolve(server));
      server.once('error', reject);
    });
    await this.dubbo?.start();
    await this.http?.start();
    this.sharedWeights?.start();
    await this.zookeeper?.start();
    // Never rejects: an unreachable Eureka starts stale and is retried in the background.
    await this.eurekaRemote?.start();
    const adminPort = (this.adminServer.address() as { port: number }).port;
    const addresses: BridgeAddresses = { admin: `${host}:${adminPort}` };
    if (this.dubbo) addresses.dubbo = `${this.config.dubbo.host}:${this.dubbo.address.port}`;
    if (this.http) addresses.http = `${this.config.http.host}:${this.http.address.port}`;
    return addresses;
  }

  /** Graceful: listeners stop accepting and finish what is in flight, then registries close. */
  async stop(deadlineMs = 5000): Promise<void> {
    await Promise.all([this.dubbo?.stop(deadlineMs), this.http?.stop(deadlineMs)]);
    this.sharedWeights?.stop();
    await this.zookeeper?.stop();
    await this.eurekaRemote?.stop();
    this.eureka?.stop();
    for (const routes of this.serviceRoutes) routes.close();
    const admin = this.adminServer;
    if (admin) {
      admin.closeAllConnections();
      await new Promise<void>((resolve) => admin.close(() => resolve()));
    }
  }
}
