// The catalog's data model: services and their instances, as every part of mesh-bridge sees them,
// whichever registry they came from.

export type Protocol = 'dubbo' | 'http';

/** Which side of the migration an instance belongs to. */
export type Stack = 'legacy' | 'mesh';

export type Health = 'up' | 'down' | 'starting' | 'out_of_service' | 'unknown';

/** Where an instance was learned: the registry (source) and, for writes, which bridge owns it. */
export interface Origin {
  /** e.g. `zookeeper`, `eureka`, `eureka-embedded`, `mesh`, `static`. */
  source: string;
  /** The registry's address or name, when a source has several. */
  registry?: string;
}

export interface Instance {
  /** Unique within its service: `host:port` for Dubbo, the Eureka instanceId for HTTP. */
  id: string;
  /** The interface name (Dubbo) or the application name (Eureka, upper case as Eureka keeps it). */
  service: string;
  protocol: Protocol;
  host: string;
  port: number;
  stack: Stack;
  /** Relative weight within its stack, as Dubbo's `weight` parameter (default 100). */
  weight: number;
  version: string;
  group: string;
  health: Health;
  /** Everything else the registry said: Dubbo URL parameters, Eureka metadata. */
  labels: Readonly<Record<string, string>>;
  origin: Origin;
  /** Set while its source registry is unreachable: last known state, kept, not trusted. */
  stale?: boolean;
}

/** What one change did to one service. Subscribers get these, never the whole catalog. */
export interface ServiceDelta {
  service: string;
  /** The catalog revision this delta brought the service to. */
  revision: number;
  added: Instance[];
  updated: Instance[];
  removed: Instance[];
}

/** Defaults for the fields a registry may not say. */
export function instanceDefaults(): Pick<Instance, 'weight' | 'version' | 'group' | 'health' | 'labels'> {
  return { weight: 100, version: '', group: '', health: 'up', labels: {} };
}

/** True when two instances carry the same information (so replacing one by the other is no change). */
export function sameInstance(a: Instance, b: Instance): boolean {
  if (
    a.id !== b.id ||
    a.service !== b.service ||
    a.protocol !== b.protocol ||
    a.host !== b.host ||
    a.port !== b.port ||
    a.stack !== b.stack ||
    a.weight !== b.weight ||
    a.version !== b.version ||
    a.group !== b.group ||
    a.health !== b.health ||
    (a.stale ?? false) !== (b.stale ?? false) ||
    a.origin.source !== b.origin.source ||
    a.origin.registry !== b.origin.registry
  ) {
    return false;
  }
  const aKeys = Object.keys(a.labels);
  if (aKeys.length !== Object.keys(b.labels).length) return false;
  for (const key of aKeys) if (a.labels[key] !== b.labels[key]) return false;
  return true;
}
