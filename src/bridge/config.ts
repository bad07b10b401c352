// The bridge's configuration file (YAML): one schema, validated at start, so a bad file fails with
// the path of the bad key and what was expected. Inside, code trusts the typed result.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors';
import { EUREKA_CONFIG_DEFAULTS, eurekaConfigSchema } from '../eureka-sync/eureka-config';
import { DEFAULT_SECRET_KEYS } from '../telemetry/redact';
import { logOutputSchema } from '../telemetry/logger';

const DNS_NAME = /^(?=.{1,253}\.?$)[a-zA-Z0-9_](?:[a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?(?:\.[a-zA-Z0-9_](?:[a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?)*\.?$/;

/** An IP address (v4, or v6 with or without brackets) or a DNS name. */
export function isHostName(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return isIP(bare) !== 0 || (bare === host && DNS_NAME.test(host));
}

const host = z.string().refine(isHostName, 'expected an IP address or a host name');

/** `host:port` with a host as above and a port 1..65535 (`[v6]:port` for IPv6). */
export function parseHostPortStrict(value: string): { host: string; port: number } | null {
  const colon = value.lastIndexOf(':');
  if (colon <= 0) return null;
  const hostPart = value.slice(0, colon);
  const portPart = value.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portPart)) return null;
  const port = Number(portPart);
  if (port < 1 || port > 65535) return null;
  if (hostPart.includes(':') && !hostPart.startsWith('[')) return null; // IPv6 needs brackets here
  return isHostName(hostPart) ? { host: hostPart, port } : null;
}

const hostPort = z.string().refine((v) => parseHostPortStrict(v) !== null, 'expected host:port with a port 1..65535');
const port = z.number().int().min(0).max(65535);

/** An external Eureka server: http or https only. */
const eurekaServerUrl = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && isHostName(url.hostname);
  } catch {
    return false;
  }
}, 'expected an http:// or https:// URL');

const meshInstance = z
  .object({
    host,
    port: port.min(1),
    weight: z.number().int().min(0).max(100_000).default(100),
    version: z.string().default(''),
    group: z.string().default(''),
    labels: z.record(z.string(), z.string()).default({}),
  })
  .strict();

const meshService = z
  .object({
    /** The Dubbo interface name, or the HTTP application name. */
    name: z.string().min(1),
    protocol: z.enum(['dubbo', 'http']),
    instances: z.array(meshInstance).min(1),
  })
  .strict();

const weight = z.number().min(0).max(100);

const route = z
  .object({
    /** Dubbo interface (matched exactly) or Eureka app name (matched in any case). */
    service: z.string().min(1),
    /**
     * A route must name a service of `mesh.services`. `declared: true` accepts one that is not there
     * (yet): weights may then be set for it before it registers. `protocol` says how its name is matched.
     */
    declared: z.boolean().default(false),
    protocol: z.enum(['dubbo', 'http']).optional(),
    /** Percentage of requests sent to the mesh stack; the rest go to the legacy stack. */
    mesh: weight.default(0),
    /** Per-method weights (Dubbo), overriding `mesh` for those methods. */
    methods: z.record(z.string(), weight).default({}),
    /** Keep a caller on one stack by the value of a Dubbo attachment or an HTTP header. */
    sticky: z.object({ attachment: z.string().min(1).optional(), header: z.string().min(1).optional() }).strict().default({}),
    /** Methods safe to send again to another instance when their upstream fails mid-request. */
    idempotent: z.array(z.string()).default([]),
    retries: z.number().int().min(0).max(5).default(1),
    timeoutMs: z.number().int().min(1).optional(),
  })
  .strict();

export const bridgeConfigSchema = z
  .object({
    bridge: z
      .object({
        /** This bridge's identity in the ownership ledger: keep it stable across restarts. */
        id: z.string().min(1).default(hostname()),
      })
      .strict()
      .default({ id: hostname() }),
    admin: z
      .object({
        /** Loopback by default: anything else needs a token for changes. */
        host: host.default('127.0.0.1'),
        port: port.default(15000),
        /** A file holding the token mutating calls must send (`Authorization: Bearer ...`); else MESH_BRIDGE_ADMIN_TOKEN. */
        tokenFile: z.string().min(1).optional(),
        /** Host header names accepted besides IP addresses and localhost (the names clients dial the admin port by). */
        allowedHosts: z.array(host).default([]),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 15000, allowedHosts: [] }),
    /** Words marking a label, metadata key or URL parameter as secret: its value is masked in /catalog and logs. */
    redact: z
      .object({ keys: z.array(z.string().min(1)).default([...DEFAULT_SECRET_KEYS]) })
      .strict()
      .default({ keys: [...DEFAULT_SECRET_KEYS] }),
    zookeeper: z
      .object({
        connect: z.string().min(1),
        sessionTimeoutMs: z.number().int().min(1000).default(30_000),
        /** How long start waits to reach ZooKeeper; past it the bridge runs degraded and keeps trying. */
        startWaitMs: z.number().int().min(0).default(5000),
        /** Keep runtime weight changes in ZooKeeper, so every bridge replica applies them (and keeps them across restarts). */
        sharedWeights: z.boolean().default(true),
        export: z
          .object({
            /** Provider URLs written for mesh services point at the bridge's Dubbo listener or at the instance itself. */
            target: z.enum(['bridge', 'instance']).default('instance'),
            bridgeAddress: hostPort.optional(),
            /**
             * How consumers are steered while a service is migrated: overrides that `disable` the legacy
             * providers or `weight` them 0, or `slots`: no override, as many bridge URLs beside the legacy
             * ones as make a uniform picker's share reach the weight (see dubbo.slotPorts).
             */
            steering: z.enum(['disable', 'weight', 'slots']).default('disable'),
          })
          .strict()
          .default({ target: 'instance', steering: 'disable' }),
      })
      .strict()
      .optional(),
    eureka: eurekaConfigSchema.extend({ servers: z.array(eurekaServerUrl).default([]) }).default(EUREKA_CONFIG_DEFAULTS),
    mesh: z
      .object({
        /** Services that live on the mesh side, to be made visible to the legacy registries. */
        services: z.array(meshService).default([]),
      })
      .strict()
      .default({ services: [] }),
    dubbo: z
      .object({
        /** The bridge's Dubbo listener, facing legacy consumers. */
        enabled: z.boolean().default(true),
        host: host.default('127.0.0.1'),
        port: port.default(20880),
        /** Default time an upstream has to answer, per request. */
        timeoutMs: z.number().int().min(1).default(3000),
        /** Use the consumer's own `timeout` attachment, when it sends one, instead of timeoutMs. */
        honorConsumerTimeout: z.boolean().default(true),
        connectTimeoutMs: z.number().int().min(1).default(1000),
        /** Heartbeat idle upstream connections after this long. */
        heartbeatIdleMs: z.number().int().min(100).default(60_000),
        connectionsPerInstance: z.number().int().min(1).max(64).default(1),
        maxBodyBytes: z.number().int().min(1024).default(8 * 1024 * 1024),
        /**
         * Extra ports the Dubbo listener also accepts on (steering `slots`): each is one more provider
         * endpoint this bridge can be written at, so uniform pickers send it a larger share. Default none.
         */
        slotPorts: z.array(port.min(1)).max(64).default([]),
        /** Bounds of the Dubbo path; each defaults as README "The Dubbo data path" says. */
        maxConnections: z.number().int().min(1).optional(),
        maxInFlightPerConsumer: z.number().int().min(1).optional(),
        consumerHighWaterBytes: z.number().int().min(1024).optional(),
        consumerMaxBufferedBytes: z.number().int().min(1024).optional(),
        upstreamHighWaterBytes: z.number().int().min(1024).optional(),
        upstreamMaxBufferedBytes: z.number().int().min(1024).optional(),
        maxConsumerTimeoutMs: z.number().int().min(1).optional(),
        frameTimeoutMs: z.number().int().min(1).optional(),
        consumerIdleTimeoutMs: z.number().int().min(100).optional(),
      })
      .strict()
      .default({ enabled: true, host: '127.0.0.1', port: 20880, timeoutMs: 3000, honorConsumerTimeout: true, connectTimeoutMs: 1000, heartbeatIdleMs: 60_000, connectionsPerInstance: 1, maxBodyBytes: 8 * 1024 * 1024, slotPorts: [] }),
    http: z
      .object({
        /** The bridge's HTTP listener, facing Spring Cloud callers. */
        enabled: z.boolean().default(true),
        host: host.default('127.0.0.1'),
        port: port.default(18080),
        /** `host`: the Host header's first label names the app; `path`: the first path segment does (and is removed). */
        routeBy: z.enum(['host', 'path']).default('host'),
        timeoutMs: z.number().int().min(1).default(30_000),
        /** Bounds and deadlines of the HTTP path; each defaults as README "The HTTP data path" says. */
        connectTimeoutMs: z.number().int().min(1).optional(),
        headerTimeoutMs: z.number().int().min(1).optional(),
        bodyIdleTimeoutMs: z.number().int().min(1).optional(),
        keepAliveTimeoutMs: z.number().int().min(1).optional(),
        responseStallTimeoutMs: z.number().int().min(1).optional(),
        upstreamIdleTimeoutMs: z.number().int().min(1).optional(),
        maxIdlePerUpstream: z.number().int().min(0).optional(),
        maxPipelined: z.number().int().min(1).max(1024).optional(),
        maxConnections: z.number().int().min(1).optional(),
        /** Addresses whose X-Forwarded-* headers are kept (a load balancer in front); others' are replaced. */
        trustedForwarders: z.array(z.string().min(1)).optional(),
        maxHops: z.number().int().min(1).max(64).optional(),
      })
      .strict()
      .default({ enabled: true, host: '127.0.0.1', port: 18080, routeBy: 'host', timeoutMs: 30_000 }),
    /** Per service: the share sent to the mesh stack and how requests are treated. */
    routes: z.array(route).default([]),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'), ...logOutputSchema.shape })
      .strict()
      .prefault({}),
  })
  .strict()
  .strict();

export type BridgeConfig = z.infer<typeof bridgeConfigSchema>;
export type MeshServiceConfig = z.infer<typeof meshService>;
export type RouteConfig = z.infer<typeof route>;

/** How a registry spells a service: Dubbo interface names exactly, Eureka app names upper case. */
export function canonicalServiceName(name: string, protocol: 'dubbo' | 'http'): string {
  return protocol === 'http' ? name.toUpperCase() : name;
}

interface ConfigIssue {
  path: Array<string | number>;
  message: string;
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

const WILDCARD_HOSTS = ['0.0.0.0', '::', '[::]'];

/**
 * The checks that span several keys, run on whatever was given (defaults assumed where a key is
 * missing), so that `--check` reports them with the per-key errors, not after those are fixed.
 */
export function crossKeyIssues(input: unknown): ConfigIssue[] {
  const config = record(input);
  const issues: ConfigIssue[] = [];
  const zookeeper = config.zookeeper === undefined ? null : record(config.zookeeper);
  const exported = record(zookeeper?.export);
  const dubbo = record(config.dubbo);
  const dubboEnabled = dubbo.enabled !== false;
  const dubboHost = typeof dubbo.host === 'string' ? dubbo.host : '127.0.0.1';
  // Provider URLs written with target "bridge" carry the Dubbo listener's address unless told otherwise;
  // a wildcard listen address is no address a consumer can dial.
  if (zookeeper !== null && exported.target === 'bridge' && exported.bridgeAddress === undefined) {
    if (!dubboEnabled) {
      issues.push({ path: ['zookeeper', 'export', 'bridgeAddress'], message: 'required when zookeeper.export.target is "bridge" and the Dubbo listener is disabled' });
    } else if (WILDCARD_HOSTS.includes(dubboHost)) {
      issues.push({ path: ['zookeeper', 'export', 'bridgeAddress'], message: `required when dubbo.host is ${dubboHost}: the address consumers should dial, host:port` });
    }
  }

  // Two listeners on one port: the second would fail at start.
  const listeners: Array<[string, Record<string, unknown>, number, boolean]> = [
    ['admin', record(config.admin), 15000, true],
    ['dubbo', dubbo, 20880, dubboEnabled],
    ['http', record(config.http), 18080, record(config.http).enabled !== false],
  ];
  const ports = new Map<number, string>();
  for (const [name, section, defaultPort, enabled] of listeners) {
    const port = typeof section.port === 'number' ? section.port : defaultPort;
    if (!enabled || port === 0) continue;
    const other = ports.get(port);
    if (other !== undefined) issues.push({ path: [name, 'port'], message: `${port} is also ${other}.port: each listener needs its own port` });
    else ports.set(port, name);
  }
  const slotPorts = list(dubbo.slotPorts);
  slotPorts.forEach((slot, i) => {
    if (typeof slot !== 'number') return;
    const other = ports.get(slot);
    if (other !== undefined) issues.push({ path: ['dubbo', 'slotPorts', i], message: `${slot} is also ${other === 'dubbo.slotPorts' ? other : `${other}.port`}: each listener needs its own port` });
    else ports.set(slot, 'dubbo.slotPorts');
  });
  if (slotPorts.length > 0 && (exported.steering !== 'slots' || exported.target !== 'bridge' || !dubboEnabled)) {
    issues.push({ path: ['dubbo', 'slotPorts'], message: 'slot ports serve only zookeeper.export.steering "slots" with target "bridge" and the Dubbo listener enabled' });
  }
  if (exported.steering === 'slots' && exported.target !== 'bridge') {
    issues.push({ path: ['zookeeper', 'export', 'steering'], message: 'steering "slots" writes bridge URLs: it needs zookeeper.export.target "bridge"' });
  }

  // The same service twice: the last would silently win and an instance list would be dropped.
  const meshServices = list(record(config.mesh).services).map(record);
  const declaredAt = new Map<string, number>();
  meshServices.forEach((service, index) => {
    if (typeof service.name !== 'string') return;
    const protocol = service.protocol === 'http' ? 'http' : 'dubbo';
    const key = `${protocol}|${canonicalServiceName(service.name, protocol)}`;
    const first = declaredAt.get(key);
    if (first !== undefined) issues.push({ path: ['mesh', 'services', index, 'name'], message: `${JSON.stringify(service.name)} is already declared at mesh.services.${first}${protocol === 'http' ? ' (Eureka app names match in any case)' : ''}` });
    else declaredAt.set(key, index);
  });

  // A route names a service the bridge knows: one of mesh.services, matched as its registry
  // matches names, or one declared ahead of its registration.
  const routedAt = new Map<string, number>();
  list(config.routes).forEach((value, index) => {
    const route = record(value);
    if (typeof route.service !== 'string') return;
    const name = route.service;
    const wanted = route.protocol === 'http' || route.protocol === 'dubbo' ? route.protocol : undefined;
    const match = meshServices.find(
      (s) => typeof s.name === 'string' && (wanted === undefined || s.protocol === wanted) && (s.protocol === 'http' ? s.name.toUpperCase() === name.toUpperCase() : s.name === name),
    );
    if (match === undefined && route.declared !== true) {
      const nearly = meshServices.find((s) => typeof s.name === 'string' && s.name.toLowerCase() === name.toLowerCase());
      issues.push({
        path: ['routes', index, 'service'],
        message:
          nearly !== undefined
            ? `${JSON.stringify(name)} is no service of mesh.services: Dubbo interface names match exactly (did you mean ${JSON.stringify(nearly.name)}?)`
            : `${JSON.stringify(name)} is no service of mesh.services; to route a service that registers later, set declared: true (and protocol)`,
      });
    }
    const protocol = match?.protocol === 'http' || wanted === 'http' ? 'http' : 'dubbo';
    const key = canonicalServiceName(name, protocol);
    const first = routedAt.get(key);
    if (first !== undefined) issues.push({ path: ['routes', index, 'service'], message: `${JSON.stringify(name)} already has a route at routes.${first}` });
    else routedAt.set(key, index);
  });
  return issues;
}

/** Spells every service name as its registry does, so weights, routes and the catalog agree. */
function canonicalNames(config: BridgeConfig): BridgeConfig {
  const services = config.mesh.services.map((s) => ({ ...s, name: canonicalServiceName(s.name, s.protocol) }));
  const routes = config.routes.map((route) => {
    const match = services.find((s) => (route.protocol === undefined || s.protocol === route.protocol) && (s.protocol === 'http' ? s.name === route.service.toUpperCase() : s.name === route.service));
    const protocol = match?.protocol ?? route.protocol ?? 'dubbo';
    return { ...route, protocol, service: canonicalServiceName(route.service, protocol) };
  });
  return { ...config, mesh: { ...config.mesh, services }, routes };
}

/** Validates a parsed config object; throws a ConfigError naming every bad key. */
export function validateBridgeConfig(raw: unknown, file = '<config>'): BridgeConfig {
  const result = bridgeConfigSchema.safeParse(raw ?? {});
  const issues: ConfigIssue[] = result.success ? [] : result.error.issues.map((issue) => ({ path: issue.path as Array<string | number>, message: issue.message }));
  issues.push(...crossKeyIssues(result.success ? result.data : raw));
  if (result.success && issues.length === 0) return canonicalNames(result.data);
  const problems = issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(top level)'}: ${issue.message}`);
  throw new ConfigError(`invalid configuration in ${file}:\n  ${problems.join('\n  ')}`, {
    where: issues[0].path.join('.'),
    value: problems,
  });
}

/** Reads and validates a YAML (or JSON) config file. */
export function loadBridgeConfig(file: string): BridgeConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`, { where: file, cause: err });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`, { where: file, cause: err });
  }
  return validateBridgeConfig(raw, file);
}
