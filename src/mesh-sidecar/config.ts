// The sidecar's config: the app it stands beside, an inbound HTTP stack (callers -> filters -> the
// local app) and an outbound HTTP stack (the app's calls -> filters -> static instance lists per
// stack, legacy and mesh, split by weight), and the same two for Dubbo under `dubbo:`. Validated whole at start and on every reload: every
// problem is reported with its key path (`outbound.services[0].legacy[1]`), filter configs included,
// so a bad reload is refused with all its errors at once.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { isHostName, parseHostPortStrict } from '../bridge/config';
import { ConfigError, MeshBridgeError } from '../errors';
import { buildFilterChain, chainIdentity, filterSpecSchema } from '../proxy/filters';
import { shadowConfigSchema, shadowIssues } from '../proxy/mirror/mirror-config';
import { logOutputSchema, silentLogger } from '../telemetry/logger';
import { Registry } from '../telemetry/metrics';

/** `host:port` where the port may be 0 (any free port: tests). */
export function parseListenAddress(value: string): { host: string; port: number } | null {
  const colon = value.lastIndexOf(':');
  if (colon <= 0 || !/^\d{1,5}$/.test(value.slice(colon + 1))) return null;
  const port = Number(value.slice(colon + 1));
  const host = value.slice(0, colon);
  return port <= 65535 && isHostName(host) ? { host, port } : null;
}

const listen = z.string().refine((v) => parseListenAddress(v) !== null, 'expected host:port (port 0..65535; 0 picks a free one)');
const upstream = z.string().refine((v) => parseHostPortStrict(v) !== null, 'expected host:port with a port 1..65535');
const timeoutMs = z.number().int().positive().max(600_000).default(30_000);
const filters = z.array(filterSpecSchema).max(64).default([]);

/** Labels of an instance or a route's subset: a few short names and values. */
const labels = z
  .record(z.string().min(1).max(63), z.string().max(253))
  .refine((l) => Object.keys(l).length <= 32, 'at most 32 labels');

const instanceSchema = z.union([
  upstream,
  z
    .object({
      address: upstream,
      weight: z.number().int().min(1).max(10_000).default(100),
      /** For routing by label: `{tag: gray}` (Dubbo tag routing reads `tag`), `{version: v2}` ... */
      labels: labels.default({}),
    })
    .strict(),
]);

/** A route rule's common part: the labelled subset it sends matching requests to. */
const routeRuleBase = {
  /** Names the rule in metrics and errors; default `<service>.routes[i]`. */
  name: z.string().min(1).max(63).optional(),
  /** The labels of the instances it goes to; none: any instance (a rule for its timeout only). */
  subset: labels.default({}),
  /** When the subset has no routable instance: route as if no rule matched (true), or refuse with no-instance (false). */
  fallback: z.boolean().default(true),
  /** The time a matching request's upstream has to answer, over the service's (and Dubbo method's). */
  timeoutMs: z.number().int().positive().max(600_000).optional(),
};

const httpRouteRule = z
  .object({
    ...routeRuleBase,
    match: z
      .object({
        method: z.string().min(1).max(16).optional(),
        /** The path (after the service prefix with routeBy path) starts with this. */
        pathPrefix: z.string().startsWith('/').optional(),
        /** Headers with exact values (names in any case). */
        headers: z.record(z.string().min(1), z.string()).optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict();

const dubboRouteRule = z
  .object({
    ...routeRuleBase,
    match: z
      .object({
        method: z.string().min(1).optional(),
        attachments: z.record(z.string().min(1), z.string()).optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict();

/** Caps per upstream service (Envoy's circuit-breaking thresholds) and its retry budget. */
const caps = z
  .object({
    /** Requests routed to the service and not yet answered; past it, refused (Dubbo 100 / HTTP 503). Default: no cap. */
    maxRequests: z.number().int().positive().optional(),
    /** Retries in flight, whatever the budget allows. Default: no cap beyond the budget. */
    maxRetries: z.number().int().min(0).optional(),
    /** Requests waiting for an upstream connection to be made; past it, refused. Default: no cap. */
    maxPending: z.number().int().positive().optional(),
    /** HTTP: upstream connections open to the service (in use or idle); a request needing one more is refused. Default: no cap. */
    maxConnections: z.number().int().positive().optional(),
    /** Retries in flight at most budgetPercent of the active requests, and always minRetryConcurrency (Envoy's defaults: 20 %, 3). */
    retryBudget: z
      .object({ budgetPercent: z.number().min(0).max(100).default(20), minRetryConcurrency: z.number().int().min(0).max(10_000).default(3) })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

/** Outlier detection of an outbound stack's upstream sets (service x stack); Envoy's defaults. */
const outlierDetection = z
  .object({
    consecutiveGatewayFailures: z.number().int().min(1).max(1000).default(5),
    baseEjectionMs: z.number().int().min(1).max(3_600_000).default(30_000),
    maxEjectionMs: z.number().int().min(1).max(3_600_000).default(300_000),
    intervalMs: z.number().int().min(100).max(3_600_000).default(10_000),
    maxEjectedPercent: z.number().min(0).max(100).default(10),
    panicThresholdPercent: z.number().min(0).max(100).default(50),
    /** Success rate versus the set; null turns it off. */
    successRate: z
      .object({ minimumHosts: z.number().int().min(1).default(5), requestVolume: z.number().int().min(1).default(100), stdevFactor: z.number().positive().default(1.9) })
      .strict()
      .nullable()
      .prefault({}),
    countApplicationErrors: z.boolean().default(false),
  })
  .strict()
  .refine((o) => o.baseEjectionMs <= o.maxEjectionMs, { message: 'baseEjectionMs must not exceed maxEjectionMs', path: ['baseEjectionMs'] })
  .prefault({});

const outboundService = z
  .object({
    /** The name the app calls it by: the Host header's first label (or the first path segment with routeBy path). */
    name: z.string().min(1).max(253),
    timeoutMs,
    /** Percentage of calls sent to the mesh instances, the rest to the legacy ones. */
    meshWeight: z.number().min(0).max(100).default(0),
    /** A header whose value keeps a caller on one stack. */
    stickyHeader: z
      .string()
      .min(1)
      .transform((h) => h.toLowerCase())
      .optional(),
    /** Times a GET, HEAD, OPTIONS, PUT, DELETE or TRACE without a body is sent to another instance after its connection broke before any answer. */
    retries: z.number().int().min(0).max(5).default(0),
    caps,
    legacy: z.array(instanceSchema).max(1000).default([]),
    mesh: z.array(instanceSchema).max(1000).default([]),
    /** Route rules, first match wins: requests matching one go to its labelled subset. */
    routes: z.array(httpRouteRule).max(256).default([]),
  })
  .strict()
  .refine((s) => s.legacy.length + s.mesh.length > 0, { message: 'a service needs at least one legacy or mesh instance' });

const dubboOutboundService = z
  .object({
    /** The Dubbo interface the app calls. */
    name: z.string().min(1).max(253),
    timeoutMs,
    meshWeight: z.number().min(0).max(100).default(0),
    /** An attachment whose value keeps a caller on one stack. */
    stickyAttachment: z.string().min(1).optional(),
    /** Methods that may be sent again to another instance when their upstream connection fails. */
    idempotentMethods: z.array(z.string().min(1)).max(1000).default([]),
    /** Per method: its timeout, and whether it is idempotent (may be sent again when its connection breaks). */
    methods: z
      .record(z.string().min(1), z.object({ timeoutMs: z.number().int().positive().max(600_000).optional(), idempotent: z.boolean().default(false) }).strict())
      .refine((m) => Object.keys(m).length <= 1000, 'at most 1000 methods')
      .default({}),
    /** Times an idempotent call is sent again (to another instance) after its connection broke. */
    retries: z.number().int().min(0).max(5).default(1),
    caps,
    legacy: z.array(instanceSchema).max(1000).default([]),
    mesh: z.array(instanceSchema).max(1000).default([]),
    /** Route rules, first match wins: calls matching one (method, attachments) go to its labelled subset. */
    routes: z.array(dubboRouteRule).max(256).default([]),
    /**
     * Dubbo tag routing (`dubbo.tag` attachment): a tagged call whose tag no instance has goes to the
     * untagged instances, unless this is false or the call sends `dubbo.force.tag=true`.
     */
    tagFallback: z.boolean().default(true),
  })
  .strict()
  .refine((s) => s.legacy.length + s.mesh.length > 0, { message: 'a service needs at least one legacy or mesh instance' });

/** The inbound stack of either protocol: every call goes to the local app. */
const inboundStack = z
  .object({
    listen,
    /** The local app's address: the inbound stack's single upstream. */
    app: upstream,
    timeoutMs,
    filters,
  })
  .strict();

export const sidecarConfigSchema = z
  .object({
    /** The application this sidecar stands beside: the inbound stack's service name. */
    app: z.string().min(1).max(253),
    log: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'), ...logOutputSchema.shape }).strict().prefault({}),
    admin: z.object({ listen: listen.default('127.0.0.1:15000') }).strict().prefault({}),
    inbound: inboundStack.optional(),
    outbound: z
      .object({
        listen,
        routeBy: z.enum(['host', 'path']).default('host'),
        filters,
        outlierDetection,
        services: z.array(outboundService).max(10_000).default([]),
      })
      .strict()
      .optional(),
    /** Dubbo stacks: consumers -> filters -> the local app's Dubbo port; the app's Dubbo calls -> filters -> providers. */
    dubbo: z
      .object({
        inbound: inboundStack.optional(),
        outbound: z
          .object({
            listen,
            filters,
            outlierDetection,
            services: z.array(dubboOutboundService).max(10_000).default([]),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    /** The side-by-side run: copies of outbound calls to the other stack, answers compared (src/proxy/mirror). */
    shadow: shadowConfigSchema.optional(),
  })
  .strict()
  .refine((c) => c.inbound !== undefined || c.outbound !== undefined || c.dubbo?.inbound !== undefined || c.dubbo?.outbound !== undefined, {
    message: 'configure a stack: inbound, outbound, dubbo.inbound or dubbo.outbound',
  });

export type SidecarConfig = z.infer<typeof sidecarConfigSchema>;
export type OutboundServiceConfig = z.infer<typeof outboundService>;
export type DubboOutboundServiceConfig = z.infer<typeof dubboOutboundService>;

/** The four stacks, named by their key path in the config. */
export const STACK_NAMES = ['inbound', 'outbound', 'dubbo.inbound', 'dubbo.outbound'] as const;
export type StackName = (typeof STACK_NAMES)[number];

/** A stack's section of a config (raw or validated), by its key path. */
export function stackSection<T>(config: unknown, name: StackName): T | undefined {
  let node = config as Record<string, unknown> | undefined;
  for (const key of name.split('.')) node = node !== null && typeof node === 'object' ? (node[key] as Record<string, unknown> | undefined) : undefined;
  return node as T | undefined;
}
export type InstanceConfig = z.infer<typeof instanceSchema>;

/** A key path as the errors print it: `outbound.services[0].legacy[1]`. */
export function keyPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out === '' ? '' : '.'}${String(p)}`;
  return out === '' ? '(top level)' : out;
}

/**
 * Every filter that would not build (unknown name, bad config), each with its key path. Read from
 * the raw config, so they are reported with the other keys' problems, not only once those are fixed.
 */
function filterIssues(raw: unknown): string[] {
  const issues: string[] = [];
  const deps = { logger: silentLogger(), metrics: new Registry() };
  for (const stack of STACK_NAMES) {
    const specs: unknown = stackSection<{ filters?: unknown }>(raw, stack)?.filters;
    if (!Array.isArray(specs)) continue;
    specs.forEach((entry: unknown, i) => {
      const parsed = filterSpecSchema.safeParse(entry);
      if (!parsed.success) return; // the schema's own issues name it
      const spec = parsed.data;
      try {
        buildFilterChain([spec], deps, `${stack}.filters`);
      } catch (err) {
        if (!(err instanceof MeshBridgeError)) throw err;
        // Built one at a time so every bad filter is reported: put its own index back in the path.
        issues.push(err.message.replace(`${stack}.filters[0]`, `${stack}.filters[${i}]`));
      }
    });
    try {
      chainIdentity(specs, `${stack}.filters`); // filters naming different identity sources
    } catch (err) {
      if (!(err instanceof MeshBridgeError)) throw err;
      issues.push(err.message);
    }
  }
  return issues;
}

/** Problems between keys: two listeners on one port, a service named twice. */
function crossKeyIssues(config: SidecarConfig): string[] {
  const issues: string[] = [];
  const ports = new Map<number, string>();
  for (const [where, address] of [
    ['admin.listen', config.admin.listen],
    ['inbound.listen', config.inbound?.listen],
    ['outbound.listen', config.outbound?.listen],
    ['dubbo.inbound.listen', config.dubbo?.inbound?.listen],
    ['dubbo.outbound.listen', config.dubbo?.outbound?.listen],
  ] as const) {
    const port = address === undefined ? 0 : (parseListenAddress(address)?.port ?? 0);
    if (port === 0) continue;
    const other = ports.get(port);
    if (other !== undefined) issues.push(`${where}: port ${port} is also ${other}'s: each listener needs its own port`);
    else ports.set(port, where);
  }
  // HTTP names match in any case (as Eureka's); Dubbo interfaces are Java names, case-sensitive.
  for (const [where, services, fold] of [
    ['outbound', config.outbound?.services ?? [], true],
    ['dubbo.outbound', config.dubbo?.outbound?.services ?? [], false],
  ] as const) {
    const names = new Map<string, number>();
    services.forEach((service, i) => {
      const key = fold ? service.name.toLowerCase() : service.name;
      const first = names.get(key);
      if (first !== undefined) issues.push(`${where}.services[${i}].name: ${JSON.stringify(service.name)} is already declared at ${where}.services[${first}]`);
      else names.set(key, i);
      const rules = new Map<string, number>();
      service.routes.forEach((rule, r) => {
        if (rule.name === undefined) return;
        const other = rules.get(rule.name);
        if (other !== undefined) issues.push(`${where}.services[${i}].routes[${r}].name: ${JSON.stringify(rule.name)} is already the name of routes[${other}]: metrics tell rules apart by name`);
        else rules.set(rule.name, r);
      });
    });
  }
  issues.push(...shadowIssues(config.shadow, (config.dubbo?.outbound?.services ?? []).map((s) => s.name), (config.outbound?.services ?? []).map((s) => s.name)));
  return issues;
}

/** Every problem of a parsed config, with key paths; empty when it is valid. */
export function sidecarConfigIssues(raw: unknown): { config?: SidecarConfig; issues: string[] } {
  const result = sidecarConfigSchema.safeParse(raw ?? {});
  if (!result.success) return { issues: [...result.error.issues.map((issue) => `${keyPath(issue.path)}: ${issue.message}`), ...filterIssues(raw)] };
  return { config: result.data, issues: [...crossKeyIssues(result.data), ...filterIssues(raw)] };
}

/** Validates a parsed config; throws a ConfigError listing every problem. */
export function validateSidecarConfig(raw: unknown, file = '<config>'): SidecarConfig {
  const { config, issues } = sidecarConfigIssues(raw);
  if (config !== undefined && issues.length === 0) return config;
  throw new ConfigError(`invalid sidecar configuration in ${file}:\n  ${issues.join('\n  ')}`, { where: issues[0].split(':')[0], value: issues });
}

/** Reads a YAML (or JSON) file and validates it. */
export function loadSidecarConfig(file: string): SidecarConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read sidecar config file ${file}: ${(err as Error).message}`, { where: file, cause: err });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`sidecar config file ${file} is not valid YAML: ${(err as Error).message}`, { where: file, cause: err });
  }
  return validateSidecarConfig(raw, file);
}

/** `host:port`, weight and labels of an instance entry. */
export function instanceOf(entry: InstanceConfig): { host: string; port: number; weight: number; labels: Record<string, string> } {
  const address = typeof entry === 'string' ? entry : entry.address;
  const { host, port } = parseHostPortStrict(address) as { host: string; port: number };
  return typeof entry === 'string' ? { host, port, weight: 100, labels: {} } : { host, port, weight: entry.weight, labels: entry.labels };
}
