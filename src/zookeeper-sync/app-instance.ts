// Dubbo 3 application-level instances (`/services/<app>/<host:port>`, the Curator service-discovery
// JSON) to catalog instances and back. Pure.
import { Instance, instanceDefaults } from '../catalog';
import { BRIDGE_TAG, Parsed, bad, good } from './bad-entry';

/** The JSON Curator's ServiceDiscovery keeps in each instance znode (Dubbo 3 writes its payload class). */
export interface CuratorServiceInstance {
  name: string;
  id: string;
  address: string;
  port: number | null;
  sslPort: number | null;
  payload: { '@class': string; id: string; name: string; metadata: Record<string, string> } | null;
  registrationTimeUTC: number;
  serviceType: 'DYNAMIC' | 'STATIC' | 'PERMANENT' | 'DYNAMIC_SEQUENTIAL';
  uriSpec: unknown;
}

export const DUBBO_INSTANCE_CLASS = 'org.apache.dubbo.registry.zookeeper.ZookeeperInstance';

export interface AppInstanceRead {
  instance: Instance;
  /** The owner id when a bridge stamped this instance. */
  bridgeTag?: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function validPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 && value < 65536;
}

/** The port of the `dubbo` endpoint Dubbo 3 lists in `dubbo.endpoints`, when there is one. */
function dubboEndpointPort(endpoints: string | undefined): number | undefined {
  if (endpoints === undefined) return undefined;
  try {
    const list: unknown = JSON.parse(endpoints);
    if (!Array.isArray(list)) return undefined;
    for (const entry of list) {
      if (isRecord(entry) && entry.protocol === 'dubbo' && validPort(entry.port)) return entry.port;
    }
  } catch {
    // An unreadable endpoint list only loses the port hint; the instance port stands.
  }
  return undefined;
}

/**
 * Reads one `/services/<app>/<id>` znode. Dubbo 3 instances (with `dubbo.*` metadata) become
 * protocol `dubbo`; anything else Curator-shaped (Spring Cloud Zookeeper, the bridge's HTTP
 * instances) becomes `http`. The metadata become the labels.
 */
export function readAppInstance(app: string, nodeName: string, data: Buffer): Parsed<AppInstanceRead> {
  const text = data.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return bad('malformed_instance', text, `instance ${app}/${nodeName} is not JSON: ${(err as Error).message}`);
  }
  if (!isRecord(json)) return bad('malformed_instance', text, `instance ${app}/${nodeName} is not a JSON object`);
  const address = json.address;
  if (typeof address !== 'string' || address.length === 0) return bad('malformed_instance', text, `instance ${app}/${nodeName} has no address`);
  const port = validPort(json.port) ? json.port : validPort(json.sslPort) ? json.sslPort : undefined;
  if (port === undefined) return bad('malformed_instance', text, `instance ${app}/${nodeName} has no valid port`);

  const payload = isRecord(json.payload) ? json.payload : {};
  const rawMetadata = isRecord(payload.metadata) ? payload.metadata : {};
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(rawMetadata)) {
    if (value === null || value === undefined) continue;
    labels[key] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  // Dubbo 3 always publishes `dubbo.*` metadata (endpoints, metadata revision); the payload class
  // alone does not tell, since HTTP instances are written with the same class.
  const isDubbo = Object.keys(labels).some((k) => k.startsWith('dubbo.'));
  const weight = Number.parseInt(labels.weight ?? '', 10);

  const instance: Instance = {
    ...instanceDefaults(),
    id: nodeName,
    service: app,
    protocol: isDubbo ? 'dubbo' : 'http',
    host: address,
    port: (isDubbo ? dubboEndpointPort(labels['dubbo.endpoints']) : undefined) ?? port,
    stack: 'legacy',
    weight: Number.isFinite(weight) && weight >= 0 ? weight : 100,
    version: labels.version ?? '',
    group: labels.group ?? '',
    labels,
    origin: { source: 'zookeeper' },
  };
  const tag = labels[BRIDGE_TAG];
  return good(tag === undefined ? { instance } : { instance, bridgeTag: tag });
}

/** The znode name an HTTP (or any app-level) instance is written under: `host:port`, as Dubbo 3 does. */
export function appInstanceNodeName(instance: Pick<Instance, 'host' | 'port'>): string {
  return `${instance.host}:${instance.port}`;
}

/**
 * The Curator JSON for an instance the bridge writes under `/services/<app>/`. The metadata carry
 * the instance's labels plus weight, version and group (so their changes propagate) and the owner tag.
 */
export function appInstanceJson(instance: Instance, owner: string, registrationTimeUTC: number): string {
  const id = appInstanceNodeName(instance);
  const metadata: Record<string, string> = { ...instance.labels };
  if (instance.weight !== 100) metadata.weight = String(instance.weight);
  if (instance.version !== '') metadata.version = instance.version;
  if (instance.group !== '') metadata.group = instance.group;
  metadata[BRIDGE_TAG] = owner;
  const body: CuratorServiceInstance = {
    name: instance.service,
    id,
    address: instance.host,
    port: instance.port,
    sslPort: null,
    payload: { '@class': DUBBO_INSTANCE_CLASS, id, name: instance.service, metadata },
    registrationTimeUTC,
    serviceType: 'DYNAMIC',
    uriSpec: null,
  };
  return JSON.stringify(body);
}
