// The bridge's configuration file (YAML): one schema, validated at start, so a bad file fails with
// the path of the bad key and what was expected. Inside, code trusts the typed result.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors';

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:.]+\]:\d{1,5}$/, 'expected host:port');
const port = z.number().int().min(0).max(65535);

const meshInstance = z
  .object({
    host: z.string().min(1),
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
    /** Dubbo interface or Eureka app name. */
    service: z.string().min(1),
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
        host: z.string().default('127.0.0.1'),
        port: port.default(15000),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 15000 }),
    zookeeper: z
      .object({
        connect: z.string().min(1),
        sessionTimeoutMs: z.number().int().min(1000).default(30_000),
        /** Keep runtime weight changes in ZooKeeper, so every bridge replica applies them (and keeps them across restarts). */
        sharedWeights: z.boolean().default(true),
        export: z
          .object({
            /** Provider URLs written for mesh services point at the bridge's Dubbo listener or at the instance itself. */
            target: z.enum(['bridge', 'instance']).default('instance'),
            bridgeAddress: hostPort.optional(),
          })
          .strict()
          .default({ target: 'instance' }),
      })
      .strict()
      .optional(),
    eureka: z
      .object({
        /** Serve a Eureka-compatible registry at /eureka/apps and /eureka/v2/apps on the admin port. */
        embedded: z.boolean().default(true),
        /** External Eureka servers to sync with, e.g. http://127.0.0.1:8761/eureka/ */
        servers: z.array(z.string().url()).default([]),
        fetchIntervalMs: z.number().int().min(100).default(30_000),
      })
      .strict()
      .default({ embedded: true, servers: [], fetchIntervalMs: 30_000 }),
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
        host: z.string().default('127.0.0.1'),
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
      .default({ enabled: true, host: '127.0.0.1', port: 20880, timeoutMs: 3000, honorConsumerTimeout: true, connectTimeoutMs: 1000, heartbeatIdleMs: 60_000, connectionsPerInstance: 1, maxBodyBytes: 8 * 1024 * 1024 }),
    http: z
      .object({
        /** The bridge's HTTP listener, facing Spring Cloud callers. */
        enabled: z.boolean().default(true),
        host: z.string().default('127.0.0.1'),
        port: port.default(18080),
        /** `host`: the Host header's first label names the app; `path`: the first path segment does (and is removed). */
        routeBy: z.enum(['host', 'path']).default('host'),
        timeoutMs: z.number().int().min(1).default(30_000),
      })
      .strict()
      .default({ enabled: true, host: '127.0.0.1', port: 18080, routeBy: 'host', timeoutMs: 30_000 }),
    /** Per service: the share sent to the mesh stack and how requests are treated. */
    routes: z.array(route).default([]),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .strict()
      .default({ level: 'info' }),
  })
  .strict()
  .superRefine((config, ctx) => {
    // Provider URLs written with target "bridge" carry the Dubbo listener's address unless told otherwise;
    // a wildcard listen address is no address a consumer can dial.
    if (config.zookeeper?.export.target === 'bridge' && config.zookeeper.export.bridgeAddress === undefined) {
      if (!config.dubbo.enabled) {
        ctx.addIssue({ code: 'custom', path: ['zookeeper', 'export', 'bridgeAddress'], message: 'required when zookeeper.export.target is "bridge" and the Dubbo listener is disabled' });
      } else if (['0.0.0.0', '::', '[::]'].includes(config.dubbo.host)) {
        ctx.addIssue({ code: 'custom', path: ['zookeeper', 'export', 'bridgeAddress'], message: `required when dubbo.host is ${config.dubbo.host}: the address consumers should dial, host:port` });
      }
    }
  });

export type BridgeConfig = z.infer<typeof bridgeConfigSchema>;
export type MeshServiceConfig = z.infer<typeof meshService>;
export type RouteConfig = z.infer<typeof route>;

/** Validates a parsed config object; throws a ConfigError naming every bad key. */
export function validateBridgeConfig(raw: unknown, file = '<config>'): BridgeConfig {
  const result = bridgeConfigSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    return `${path}: ${issue.message}`;
  });
  const first = result.error.issues[0];
  throw new ConfigError(`invalid configuration in ${file}:\n  ${problems.join('\n  ')}`, {
    where: first.path.join('.'),
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
