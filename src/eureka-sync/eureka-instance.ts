// A Eureka instance as the embedded server keeps it: parsed and validated from a client's JSON or
// XML registration, formatted back to Eureka's JSON and XML, and mapped to and from the catalog.
// Pure: no I/O, no clocks (callers pass `now`).
import { MeshBridgeError, preview } from '../errors';
import { Health, Instance, instanceDefaults } from '../catalog';
import { parseXml, xmlLeaf, xmlToJsonShape } from './eureka-xml';

export const EUREKA_STATUSES = ['UP', 'DOWN', 'STARTING', 'OUT_OF_SERVICE', 'UNKNOWN'] as const;
export type EurekaStatus = (typeof EUREKA_STATUSES)[number];
export type EurekaActionType = 'ADDED' | 'MODIFIED' | 'DELETED';

export const DEFAULT_DATA_CENTER_CLASS = 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo';
/** Eureka's defaults when a registration leaves them out. */
export const DEFAULT_RENEWAL_INTERVAL_SECS = 30;
export const DEFAULT_LEASE_DURATION_SECS = 90;

export interface EurekaPort {
  port: number;
  enabled: boolean;
}

/** What a client registered, validated. Lease times live in the registry, not here. */
export interface EurekaInstance {
  instanceId: string;
  /** Upper case, as Eureka keeps application names. */
  app: string;
  appGroupName?: string;
  hostName: string;
  ipAddr: string;
  status: EurekaStatus;
  overriddenStatus: EurekaStatus;
  port: EurekaPort;
  securePort: EurekaPort;
  countryId: number;
  dataCenterInfo: { className: string; name: string; metadata?: Record<string, string> };
  renewalIntervalInSecs: number;
  durationInSecs: number;
  metadata: Record<string, string>;
  homePageUrl?: string;
  statusPageUrl?: string;
  healthCheckUrl?: string;
  secureHealthCheckUrl?: string;
  vipAddress?: string;
  secureVipAddress?: string;
  lastDirtyTimestamp: number;
  lastUpdatedTimestamp: number;
}

/** The lease times the server reports with an instance. */
export interface EurekaLeaseTimes {
  registrationTimestamp: number;
  lastRenewalTimestamp: number;
  evictionTimestamp: number;
  serviceUpTimestamp: number;
}

function bad(field: string, message: string, value: unknown): MeshBridgeError {
  return new MeshBridgeError('EUREKA_BAD_PAYLOAD', `bad Eureka instance field ${field}: ${message}`, {
    value: preview(value),
    where: field,
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(raw: Record<string, unknown>, field: string, path = field): string | undefined {
  const value = raw[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw bad(path, 'expected a string', value);
}

function requiredString(raw: Record<string, unknown>, field: string, path = field): string {
  const value = optionalString(raw, field, path);
  if (value === undefined || value.trim() === '') throw bad(path, 'missing', raw[field]);
  return value;
}

function integer(value: unknown, field: string, min: number, max: number): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw bad(field, `expected an integer in [${min}, ${max}]`, value);
  return n;
}

function optionalInteger(raw: Record<string, unknown>, field: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER, path = field): number {
  const value = raw[field];
  return value === undefined || value === null || value === '' ? fallback : integer(value, path, min, max);
}

function flag(value: unknown, field: string): boolean {
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw bad(field, 'expected true or false', value);
}

/** Accepts `{"$": 8080, "@enabled": "true"}`, `8080` or `"8080"`. */
function parsePort(raw: Record<string, unknown>, field: string, fallback: EurekaPort): EurekaPort {
  const value = raw[field];
  if (value === undefined || value === null) return fallback;
  if (isObject(value)) {
    const enabled = value['@enabled'] === undefined ? fallback.enabled : flag(value['@enabled'], `${field}.@enabled`);
    return { port: integer(value.$, `${field}.$`, 0, 65535), enabled };
  }
  return { port: integer(value, field, 0, 65535), enabled: fallback.enabled };
}

function parseStatus(raw: Record<string, unknown>, field: string, fallback: EurekaStatus): EurekaStatus {
  const value = raw[field];
  if (value === undefined || value === null || value === '') return fallback;
  if (typeof value === 'string' && (EUREKA_STATUSES as readonly string[]).includes(value.toUpperCase())) return value.toUpperCase() as EurekaStatus;
  throw bad(field, `expected one of ${EUREKA_STATUSES.join(', ')}`, value);
}

/** Parses a status given as a query parameter (`?value=OUT_OF_SERVICE`). */
export function parseEurekaStatus(value: unknown, field = 'value'): EurekaStatus {
  return parseStatus({ [field]: value }, field, 'UNKNOWN');
}

function parseStringMap(value: unknown, field: string): Record<string, string> {
  if (value === undefined || value === null || value === '') return {};
  if (!isObject(value)) throw bad(field, 'expected a map of strings', value);
  const map: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value)) {
    // Java's Jackson writes an empty map as {"@class": "java.util.Collections$EmptyMap"}.
    if (key === '@class') continue;
    if (typeof entry === 'string') map[key] = entry;
    else if (typeof entry === 'number' || typeof entry === 'boolean') map[key] = String(entry);
    else if (entry === null) map[key] = '';
    else throw bad(`${field}.${key}`, 'expected a string', entry);
  }
  return map;
}

/**
 * Validates the body of a registration, `{"instance": {...}}` (or the bare instance), into an
 * EurekaInstance. `now` fills lastDirtyTimestamp when the client sent none. Throws
 * EUREKA_BAD_PAYLOAD naming the bad field.
 */
export function parseEurekaInstance(body: unknown, now: number): EurekaInstance {
  if (!isObject(body)) throw bad('instance', 'expected an object', body);
  const raw = body.instance === undefined ? body : body.instance;
  if (!isObject(raw)) throw bad('instance', 'expected an object', raw);

  const hostName = requiredString(raw, 'hostName');
  const dataCenter = raw.dataCenterInfo;
  if (!isObject(dataCenter)) throw bad('dataCenterInfo', 'missing', dataCenter);
  const dataCenterName = requiredString(dataCenter, 'name', 'dataCenterInfo.name');
  const dataCenterClass = optionalString(dataCenter, '@class', 'dataCenterInfo.@class') ?? DEFAULT_DATA_CENTER_CLASS;
  const dataCenterMetadata = dataCenter.metadata === undefined ? undefined : parseStringMap(dataCenter.metadata, 'dataCenterInfo.metadata');

  const lease = raw.leaseInfo === undefined || raw.leaseInfo === null || raw.leaseInfo === '' ? {} : raw.leaseInfo;
  if (!isObject(lease)) throw bad('leaseInfo', 'expected an object', lease);
  // Eureka falls back to its defaults for a zero duration or interval.
  const durationInSecs = optionalInteger(lease, 'durationInSecs', 0, 0, 31_536_000, 'leaseInfo.durationInSecs') || DEFAULT_LEASE_DURATION_SECS;
  const renewalIntervalInSecs = optionalInteger(lease, 'renewalIntervalInSecs', 0, 0, 31_536_000, 'leaseInfo.renewalIntervalInSecs') || DEFAULT_RENEWAL_INTERVAL_SECS;

  const lastDirtyTimestamp = optionalInteger(raw, 'lastDirtyTimestamp', now);
  const instance: EurekaInstance = {
    // Eureka's id for a non-Amazon instance: the instanceId, or the host name when there is none.
    instanceId: optionalString(raw, 'instanceId')?.trim() || hostName,
    app: requiredString(raw, 'app').toUpperCase(),
    hostName,
    ipAddr: requiredString(raw, 'ipAddr'),
    status: parseStatus(raw, 'status', 'UP'),
    overriddenStatus: parseStatus(raw, 'overriddenStatus', parseStatus(raw, 'overriddenstatus', 'UNKNOWN')),
    port: parsePort(raw, 'port', { port: 7001, enabled: true }),
    securePort: parsePort(raw, 'securePort', { port: 7002, enabled: false }),
    countryId: optionalInteger(raw, 'countryId', 1),
    dataCenterInfo: { className: dataCenterClass, name: dataCenterName, ...(dataCenterMetadata === undefined ? {} : { metadata: dataCenterMetadata }) },
    renewalIntervalInSecs,
    durationInSecs,
    metadata: parseStringMap(raw.metadata, 'metadata'),
    lastDirtyTimestamp,
    lastUpdatedTimestamp: optionalInteger(raw, 'lastUpdatedTimestamp', now),
  };
  for (const field of ['appGroupName', 'homePageUrl', 'statusPageUrl', 'healthCheckUrl', 'secureHealthCheckUrl', 'vipAddress', 'secureVipAddress'] as const) {
    const value = optionalString(raw, field);
    if (value !== undefined) instance[field] = value;
  }
  return instance;
}

/** Parses a JSON registration body. */
export function parseEurekaInstanceJson(text: string, now: number): EurekaInstance {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new MeshBridgeError('EUREKA_BAD_PAYLOAD', `registration body is not JSON: ${(err as Error).message}`, {
      value: preview(text),
      where: 'body',
      cause: err,
    });
  }
  return parseEurekaInstance(body, now);
}

/** Parses an XML registration body (`<instance>...</instance>`), as Eureka's XML codec writes it. */
export function parseEurekaInstanceXml(text: string, now: number): EurekaInstance {
  const root = parseXml(text);
  if (root.name !== 'instance') throw bad('instance', `expected an <instance> element, got <${root.name}>`, root.name);
  const shaped = xmlToJsonShape(root);
  // XML's attributes carry no @: `<dataCenterInfo class="...">` and `<port enabled="true">` are
  // the JSON codec's `@class` and `@enabled`, so the same validation serves both.
  return parseEurekaInstance({ instance: shaped }, now);
}

function portJson(port: EurekaPort): Record<string, unknown> {
  return { $: port.port, '@enabled': String(port.enabled) };
}

/** Formats an instance as Eureka's JSON codec does (lease times from the registry). */
export function formatInstanceJson(instance: EurekaInstance, lease: EurekaLeaseTimes, actionType?: EurekaActionType): Record<string, unknown> {
  const json: Record<string, unknown> = {
    instanceId: instance.instanceId,
    hostName: instance.hostName,
    app: instance.app,
    ipAddr: instance.ipAddr,
    status: instance.status,
    overriddenStatus: instance.overriddenStatus,
    port: portJson(instance.port),
    securePort: portJson(instance.securePort),
    countryId: instance.countryId,
    dataCenterInfo: {
      '@class': instance.dataCenterInfo.className,
      name: instance.dataCenterInfo.name,
      ...(instance.dataCenterInfo.metadata === undefined ? {} : { metadata: instance.dataCenterInfo.metadata }),
    },
    leaseInfo: {
      renewalIntervalInSecs: instance.renewalIntervalInSecs,
      durationInSecs: instance.durationInSecs,
      registrationTimestamp: lease.registrationTimestamp,
      lastRenewalTimestamp: lease.lastRenewalTimestamp,
      evictionTimestamp: lease.evictionTimestamp,
      serviceUpTimestamp: lease.serviceUpTimestamp,
    },
    metadata: Object.keys(instance.metadata).length === 0 ? { '@class': 'java.util.Collections$EmptyMap' } : instance.metadata,
  };
  if (instance.appGroupName !== undefined) json.appGroupName = instance.appGroupName;
  for (const field of ['homePageUrl', 'statusPageUrl', 'healthCheckUrl', 'secureHealthCheckUrl', 'vipAddress', 'secureVipAddress'] as const) {
    if (instance[field] !== undefined) json[field] = instance[field];
  }
  json.isCoordinatingDiscoveryServer = 'false';
  json.lastUpdatedTimestamp = String(instance.lastUpdatedTimestamp);
  json.lastDirtyTimestamp = String(instance.lastDirtyTimestamp);
  if (actionType !== undefined) json.actionType = actionType;
  return json;
}

/** Appends an instance as Eureka's XML codec writes it. */
export function formatInstanceXml(out: string[], instance: EurekaInstance, lease: EurekaLeaseTimes, actionType?: EurekaActionType): void {
  out.push('<instance>');
  xmlLeaf(out, 'instanceId', instance.instanceId);
  xmlLeaf(out, 'hostName', instance.hostName);
  xmlLeaf(out, 'app', instance.app);
  if (instance.appGroupName !== undefined) xmlLeaf(out, 'appGroupName', instance.appGroupName);
  xmlLeaf(out, 'ipAddr', instance.ipAddr);
  xmlLeaf(out, 'status', instance.status);
  xmlLeaf(out, 'overriddenstatus', instance.overriddenStatus);
  xmlLeaf(out, 'port', instance.port.port, { enabled: String(instance.port.enabled) });
  xmlLeaf(out, 'securePort', instance.securePort.port, { enabled: String(instance.securePort.enabled) });
  xmlLeaf(out, 'countryId', instance.countryId);
  out.push('<dataCenterInfo class="', instance.dataCenterInfo.className.replace(/&/g, '&amp;').replace(/"/g, '&quot;'), '">');
  xmlLeaf(out, 'name', instance.dataCenterInfo.name);
  if (instance.dataCenterInfo.metadata !== undefined) {
    out.push('<metadata>');
    for (const [key, value] of Object.entries(instance.dataCenterInfo.metadata)) xmlLeaf(out, key, value);
    out.push('</metadata>');
  }
  out.push('</dataCenterInfo><leaseInfo>');
  xmlLeaf(out, 'renewalIntervalInSecs', instance.renewalIntervalInSecs);
  xmlLeaf(out, 'durationInSecs', instance.durationInSecs);
  xmlLeaf(out, 'registrationTimestamp', lease.registrationTimestamp);
  xmlLeaf(out, 'lastRenewalTimestamp', lease.lastRenewalTimestamp);
  xmlLeaf(out, 'evictionTimestamp', lease.evictionTimestamp);
  xmlLeaf(out, 'serviceUpTimestamp', lease.serviceUpTimestamp);
  out.push('</leaseInfo>');
  const metadataKeys = Object.keys(instance.metadata);
  if (metadataKeys.length === 0) out.push('<metadata class="java.util.Collections$EmptyMap"/>');
  else {
    out.push('<metadata>');
    for (const key of metadataKeys) {
      // An XML element name cannot carry every string a JSON key can; such keys are left out.
      if (/^[A-Za-z_][-A-Za-z0-9_.]*$/.test(key)) xmlLeaf(out, key, instance.metadata[key] as string);
    }
    out.push('</metadata>');
  }
  for (const field of ['homePageUrl', 'statusPageUrl', 'healthCheckUrl', 'secureHealthCheckUrl', 'vipAddress', 'secureVipAddress'] as const) {
    const value = instance[field];
    if (value !== undefined) xmlLeaf(out, field, value);
  }
  xmlLeaf(out, 'isCoordinatingDiscoveryServer', 'false');
  xmlLeaf(out, 'lastUpdatedTimestamp', instance.lastUpdatedTimestamp);
  xmlLeaf(out, 'lastDirtyTimestamp', instance.lastDirtyTimestamp);
  if (actionType !== undefined) xmlLeaf(out, 'actionType', actionType);
  out.push('</instance>');
}

const HEALTH_BY_STATUS: Record<EurekaStatus, Health> = {
  UP: 'up',
  DOWN: 'down',
  STARTING: 'starting',
  OUT_OF_SERVICE: 'out_of_service',
  UNKNOWN: 'unknown',
};

/** Metadata keys that become catalog fields rather than labels. */
const MAPPED_METADATA = ['weight', 'version', 'group'];

/**
 * The catalog's view of a Eureka instance: service = the app name (upper case, as Eureka keeps
 * it), address = ipAddr and the enabled port (the secure port when only it is enabled).
 */
export function eurekaToCatalog(instance: EurekaInstance, origin: Instance['origin']): Instance {
  const defaults = instanceDefaults();
  const weightLabel = instance.metadata.weight;
  const weight = weightLabel !== undefined && /^\d+$/.test(weightLabel) ? Number(weightLabel) : defaults.weight;
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(instance.metadata)) if (!MAPPED_METADATA.includes(key)) labels[key] = value;
  const port = !instance.port.enabled && instance.securePort.enabled ? instance.securePort.port : instance.port.port;
  return {
    ...defaults,
    id: instance.instanceId,
    service: instance.app,
    // An instance another bridge served from its catalog keeps its protocol (a claim that can only
    // take an instance out of HTTP routing). Its stack is never taken from metadata: anyone may
    // register anything, so what Eureka holds is the legacy side; the mesh side is the config's.
    protocol: instance.metadata['mesh-bridge.protocol'] === 'dubbo' ? 'dubbo' : 'http',
    host: instance.ipAddr || instance.hostName,
    port,
    stack: 'legacy',
    weight,
    version: instance.metadata.version ?? defaults.version,
    group: instance.metadata.group ?? defaults.group,
    health: HEALTH_BY_STATUS[instance.status],
    labels,
    origin,
  };
}

/**
 * The Eureka view of an instance from another catalog source (a Dubbo provider, a mesh
 * service), so Eureka clients can find it: app = service name upper-cased, vipAddress = the
 * service name lower-cased, as Spring Cloud names them.
 */
export function catalogToEureka(instance: Instance, now: number): EurekaInstance {
  const status = (Object.keys(HEALTH_BY_STATUS) as EurekaStatus[]).find((s) => HEALTH_BY_STATUS[s] === instance.health) ?? 'UNKNOWN';
  const metadata: Record<string, string> = { ...instance.labels };
  const defaults = instanceDefaults();
  if (instance.weight !== defaults.weight) metadata.weight = String(instance.weight);
  if (instance.version !== '') metadata.version = instance.version;
  if (instance.group !== '') metadata.group = instance.group;
  metadata['mesh-bridge.source'] = instance.origin.source;
  metadata['mesh-bridge.protocol'] = instance.protocol;
  metadata['mesh-bridge.stack'] = instance.stack;
  return {
    instanceId: instance.id,
    app: instance.service.toUpperCase(),
    hostName: instance.host,
    ipAddr: instance.host,
    status,
    overriddenStatus: 'UNKNOWN',
    port: { port: instance.port, enabled: true },
    securePort: { port: 443, enabled: false },
    countryId: 1,
    dataCenterInfo: { className: DEFAULT_DATA_CENTER_CLASS, name: 'MyOwn' },
    renewalIntervalInSecs: DEFAULT_RENEWAL_INTERVAL_SECS,
    durationInSecs: DEFAULT_LEASE_DURATION_SECS,
    metadata,
    vipAddress: instance.service.toLowerCase(),
    secureVipAddress: instance.service.toLowerCase(),
    lastDirtyTimestamp: now,
    lastUpdatedTimestamp: now,
  };
}
