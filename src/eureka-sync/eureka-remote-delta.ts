// The pure half of the remote Eureka client: reading a server's `/apps` (full) and `/apps/delta`
// answers into a local copy of its registry, applying deltas to that copy, and the reconcile hash
// code Eureka clients compare after a delta. No I/O, no clock (callers pass `now`).
import { MeshBridgeError, preview } from '../errors';
import { Instance } from '../catalog';
import { EurekaActionType, EurekaInstance, eurekaToCatalog, parseEurekaInstance } from './eureka-instance';
import { appsHashcode } from './eureka-registry';
import type { EurekaStatus } from './eureka-instance';

/** One instance as the local copy keeps it: parsed, or only its status when it was malformed. */
export interface RemoteEntry {
  /** The status the server serialised, counted in the hash code even for a malformed instance. */
  status: string;
  /** Null when the instance could not be parsed: counted in the hash code, never published. */
  instance: EurekaInstance | null;
}

/** The local copy of a remote registry: app (upper case) -> instanceId -> entry. */
export type RemoteSnapshot = Map<string, Map<string, RemoteEntry>>;

/** An instance skipped because it could not be read. */
export interface RemoteBadInstance {
  app: string;
  /** The instance id when one could be read, else a position (`#3`). */
  id: string;
  /** The field at fault. */
  field: string;
  /** The offending value, short enough to log. */
  value: unknown;
  message: string;
}

export interface RawRemoteInstance {
  raw: unknown;
  actionType?: EurekaActionType;
}

/** An `applications` document, validated at the top level; instances are still raw. */
export interface RemoteApplications {
  versionsDelta: string;
  /** Empty when the server sent none. */
  appsHashcode: string;
  apps: Array<{ name: string; instances: unknown[] }>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function badResponse(message: string, value: unknown, where: string): MeshBridgeError {
  return new MeshBridgeError('EUREKA_BAD_PAYLOAD', `bad Eureka applications response: ${message}`, { value: preview(value), where });
}

/** Jackson writes a one-element list as the element itself and an empty one as `""` or nothing. */
function asList(value: unknown): unknown[] {
  if (value === undefined || value === null || value === '') return [];
  return Array.isArray(value) ? value : [value];
}

/**
 * Validates the top level of a `{"applications": {...}}` answer. Throws EUREKA_BAD_PAYLOAD when
 * the document as a whole is unusable (not JSON, no applications, an app without a name): the
 * caller keeps its last state. A malformed instance inside is left for `readInstance`.
 */
export function parseApplicationsJson(text: string): RemoteApplications {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new MeshBridgeError('EUREKA_BAD_PAYLOAD', `Eureka applications response is not JSON: ${(err as Error).message}`, { value: preview(text), where: 'body', cause: err });
  }
  return parseApplications(body);
}

export function parseApplications(body: unknown): RemoteApplications {
  if (!isObject(body) || !isObject(body.applications)) throw badResponse('expected {"applications": {...}}', body, 'applications');
  const applications = body.applications;
  const hash = applications.apps__hashcode;
  if (hash !== undefined && hash !== null && typeof hash !== 'string') throw badResponse('apps__hashcode is not a string', hash, 'apps__hashcode');
  const apps: RemoteApplications['apps'] = [];
  for (const [index, app] of asList(applications.application).entries()) {
    if (!isObject(app) || typeof app.name !== 'string' || app.name.trim() === '') throw badResponse('an application without a name', app, `application[${index}]`);
    apps.push({ name: app.name.toUpperCase(), instances: asList(app.instance) });
  }
  return { versionsDelta: String(applications.versions__delta ?? ''), appsHashcode: typeof hash === 'string' ? hash : '', apps };
}

/** What a malformed instance still tells: its id and status, to keep the hash code right. */
function salvage(raw: unknown): { id: string | undefined; status: string } {
  if (!isObject(raw)) return { id: undefined, status: 'UNKNOWN' };
  const id = typeof raw.instanceId === 'string' && raw.instanceId.trim() !== '' ? raw.instanceId.trim() : typeof raw.hostName === 'string' && raw.hostName !== '' ? raw.hostName : undefined;
  const status = typeof raw.status === 'string' && raw.status !== '' ? raw.status.toUpperCase() : 'UNKNOWN';
  return { id, status };
}

export type ReadInstance =
  | { ok: true; id: string; entry: RemoteEntry; actionType: EurekaActionType | undefined }
  | { ok: false; id: string | undefined; status: string; actionType: EurekaActionType | undefined; bad: RemoteBadInstance };

/** Reads one instance of an application; never throws. */
export function readInstance(app: string, raw: unknown, position: number, now: number): ReadInstance {
  const actionType = isObject(raw) && typeof raw.actionType === 'string' && ['ADDED', 'MODIFIED', 'DELETED'].includes(raw.actionType) ? (raw.actionType as EurekaActionType) : undefined;
  try {
    const instance = parseEurekaInstance(raw, now);
    if (instance.app !== app) {
      throw new MeshBridgeError('EUREKA_BAD_PAYLOAD', `instance of ${instance.app} listed under ${app}`, { value: instance.app, where: 'app' });
    }
    return { ok: true, id: instance.instanceId, entry: { status: instance.status, instance }, actionType };
  } catch (err) {
    const { id, status } = salvage(raw);
    const e = err instanceof MeshBridgeError ? err : new MeshBridgeError('EUREKA_BAD_PAYLOAD', String(err), { value: preview(raw) });
    return {
      ok: false,
      id,
      status,
      actionType,
      bad: { app, id: id ?? `#${position}`, field: typeof e.where === 'string' ? e.where : 'instance', value: e.value, message: e.message },
    };
  }
}

/** The local copy a full fetch gives, and the instances skipped. */
export function snapshotFromFull(apps: RemoteApplications, now: number): { snapshot: RemoteSnapshot; bad: RemoteBadInstance[] } {
  const snapshot: RemoteSnapshot = new Map();
  const bad: RemoteBadInstance[] = [];
  for (const app of apps.apps) {
    const entries = snapshot.get(app.name) ?? new Map<string, RemoteEntry>();
    app.instances.forEach((raw, position) => {
      const read = readInstance(app.name, raw, position, now);
      if (read.ok) entries.set(read.id, read.entry);
      else {
        bad.push(read.bad);
        // Kept (unpublished) so the hash code still counts it; an id-less one under its position.
        entries.set(read.id ?? `\u0000#${position}`, { status: read.status, instance: null });
      }
    });
    if (entries.size > 0) snapshot.set(app.name, entries);
  }
  return { snapshot, bad };
}

/**
 * Applies a delta to a copy of the local copy: ADDED and MODIFIED replace, DELETED removes (an
 * instance without an action type counts as MODIFIED). A malformed ADDED/MODIFIED instance with a
 * readable id replaces the entry by an unpublished one; without an id it is only reported.
 * Returns the new copy and the apps that changed.
 */
export function applyDelta(before: RemoteSnapshot, delta: RemoteApplications, now: number): { snapshot: RemoteSnapshot; changedApps: Set<string>; bad: RemoteBadInstance[] } {
  const snapshot: RemoteSnapshot = new Map(before);
  const changedApps = new Set<string>();
  const bad: RemoteBadInstance[] = [];
  const writable = (app: string): Map<string, RemoteEntry> => {
    if (!changedApps.has(app)) {
      snapshot.set(app, new Map(before.get(app) ?? []));
      changedApps.add(app);
    }
    return snapshot.get(app) as Map<string, RemoteEntry>;
  };
  for (const app of delta.apps) {
    app.instances.forEach((raw, position) => {
      const read = readInstance(app.name, raw, position, now);
      if (read.actionType === 'DELETED') {
        if (read.id !== undefined && snapshot.get(app.name)?.has(read.id) === true) writable(app.name).delete(read.id);
        return;
      }
      if (read.ok) writable(app.name).set(read.id, read.entry);
      else {
        bad.push(read.bad);
        if (read.id !== undefined) writable(app.name).set(read.id, { status: read.status, instance: null });
      }
    });
  }
  for (const app of changedApps) if ((snapshot.get(app)?.size ?? 0) === 0) snapshot.delete(app);
  return { snapshot, changedApps, bad };
}

/** The reconcile hash code of a local copy, as the server computes it over its registry. */
export function snapshotHashcode(snapshot: RemoteSnapshot): string {
  const statuses: string[] = [];
  for (const entries of snapshot.values()) for (const entry of entries.values()) statuses.push(entry.status);
  return appsHashcode(statuses as EurekaStatus[]);
}

/**
 * True when a delta may be trusted: the server's hash code of its whole registry equals ours
 * after applying it. An empty hash code (a server that sent none) is a mismatch.
 */
export function hashcodesMatch(local: RemoteSnapshot, remoteHashcode: string): boolean {
  return remoteHashcode !== '' && snapshotHashcode(local) === remoteHashcode;
}

/** The apps whose instances differ between two copies (added, removed or changed). */
export function changedAppsBetween(a: RemoteSnapshot, b: RemoteSnapshot): Set<string> {
  const changed = new Set<string>();
  for (const name of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(name);
    const y = b.get(name);
    if (x === undefined || y === undefined || x.size !== y.size) {
      changed.add(name);
      continue;
    }
    for (const [id, entry] of x) {
      const other = y.get(id);
      if (other === undefined || JSON.stringify(other) !== JSON.stringify(entry)) {
        changed.add(name);
        break;
      }
    }
  }
  return changed;
}

/**
 * The catalog instances of one app in the local copy: parsed instances only, minus those a
 * bridge wrote (`isOwned` is asked with `APP/instanceId`).
 */
export function appToCatalog(snapshot: RemoteSnapshot, app: string, origin: Instance['origin'], isOwned: (instance: EurekaInstance) => boolean): Instance[] {
  const out: Instance[] = [];
  for (const entry of snapshot.get(app)?.values() ?? []) {
    if (entry.instance === null || isOwned(entry.instance)) continue;
    out.push(eurekaToCatalog(entry.instance, origin));
  }
  return out;
}
