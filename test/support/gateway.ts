// The bridge's Dubbo and HTTP listeners wired to a catalog as the bridge process wires them (route
// sets over the catalog, least-pending counts from the listener itself), for tests and benchmarks
// that drive one listener without the whole process.
import type { Catalog } from '../../src/catalog';
import { DubboLimits, DubboListener, DubboServicePolicy } from '../../src/proxy/dubbo/dubbo-listener';
import type { FilterChain } from '../../src/proxy/filters/filter-chain';
import { HttpListener, HttpListenerOptions, HttpRouteBy, HttpServicePolicy } from '../../src/proxy/http/http-listener';
import { ServiceRoutes } from '../../src/proxy/router/service-routes';
import { StackWeights } from '../../src/proxy/router/stack-weights';
import { TrafficStats } from '../../src/bridge/stats/traffic-stats';
import { silentLogger } from '../../src/telemetry/logger';
import { Registry } from '../../src/telemetry/metrics';

export interface Gateway<L> {
  listener: L;
  routes: ServiceRoutes;
  /** Stops the listener (graceful, within the deadline) and its route sets. */
  stop(deadlineMs?: number): Promise<void>;
}

interface CommonOptions {
  weights?: StackWeights;
  metrics?: Registry;
}

export function dubboGateway(
  catalog: Catalog,
  options: CommonOptions & { policy: (service: string) => DubboServicePolicy; heartbeatIdleMs?: number; connectTimeoutMs?: number; limits?: Partial<DubboLimits>; filters?: FilterChain },
): Gateway<DubboListener> {
  const metrics = options.metrics ?? new Registry();
  const routes = new ServiceRoutes(catalog, options.weights ?? new StackWeights(), (address) => listener.pendingOf(address), 'dubbo');
  const listener: DubboListener = new DubboListener({
    host: '127.0.0.1',
    port: 0,
    routes,
    stats: new TrafficStats(metrics, 'dubbo'),
    metrics,
    logger: silentLogger(),
    heartbeatIdleMs: options.heartbeatIdleMs,
    connectTimeoutMs: options.connectTimeoutMs,
    limits: options.limits,
    filters: options.filters,
    policy: options.policy,
  });
  return { listener, routes, stop: async (deadlineMs = 1000) => (await listener.stop(deadlineMs), routes.close()) };
}

export function httpGateway(
  catalog: Catalog,
  options: CommonOptions & { policy: (service: string) => HttpServicePolicy; routeBy?: HttpRouteBy; listener?: Partial<HttpListenerOptions> },
): Gateway<HttpListener> {
  const metrics = options.metrics ?? new Registry();
  const routes = new ServiceRoutes(catalog, options.weights ?? new StackWeights(), (address) => listener.pendingOf(address), 'http');
  const listener: HttpListener = new HttpListener({
    host: '127.0.0.1',
    port: 0,
    routes,
    stats: new TrafficStats(metrics, 'http'),
    metrics,
    logger: silentLogger(),
    routeBy: options.routeBy ?? 'host',
    policy: options.policy,
    ...options.listener,
  });
  return { listener, routes, stop: async (deadlineMs = 1000) => (await listener.stop(deadlineMs), routes.close()) };
}
