// The catalog: every known instance of every service, a revision counter, and per-service
// subscriptions that deliver deltas. Pure: no I/O, no timers. Sources (ZooKeeper, Eureka, the
// mesh) replace what they know; subscribers learn only what changed in the services they follow.
import { MeshBridgeError } from '../errors';
import { Instance, ServiceDelta, sameInstance } from './model';

export type DeltaListener = (delta: ServiceDelta) => void;

export interface Subscription {
  unsubscribe(): void;
}

interface ServiceEntry {
  /** Keyed by `source|id`: two registries may report the same address without clobbering. */
  instances: Map<string, Instance>;
  revision: number;
  /** Null until the service's first subscriber: most services have none. */
  listeners: Set<DeltaListener> | null;
}

function keyOf(source: string, id: string): string {
  return `${source}|${id}`;
}

/**
 * keyOf as a flat string, for keys the catalog keeps: a concatenation is a rope, and hashing it
 * would add a flat copy next to the rope instead of replacing it.
 */
function storedKeyOf(source: string, id: string): string {
  return JSON.parse(JSON.stringify(keyOf(source, id))) as string;
}

export class Catalog {
  private readonly entries = new Map<string, ServiceEntry>();
  /** How many instances each source has in each service, so a source-wide change touches only those. */
  private readonly servicesBySource = new Map<string, Map<string, number>>();
  private readonly allListeners = new Set<DeltaListener>();
  private currentRevision = 0;

  /** Increases by one with every change to any service. */
  get revision(): number {
    return this.currentRevision;
  }

  serviceNames(): string[] {
    return [...this.entries.keys()].filter((name) => (this.entries.get(name) as ServiceEntry).instances.size > 0);
  }

  instances(service: string): Instance[] {
    const entry = this.entries.get(service);
    return entry === undefined ? [] : [...entry.instances.values()];
  }

  serviceRevision(service: string): number {
    return this.entries.get(service)?.revision ?? 0;
  }

  get instanceCount(): number {
    let count = 0;
    for (const entry of this.entries.values()) count += entry.instances.size;
    return count;
  }

  /**
   * Makes `instances` the complete set a source knows for a service: adds the new, updates the
   * changed, removes the missing. Returns the delta, or null when nothing changed.
   */
  replaceSource(source: string, service: string, instances: readonly Instance[]): ServiceDelta | null {
    const entry = this.entry(service);
    const added: Instance[] = [];
    const updated: Instance[] = [];
    const removed: Instance[] = [];
    const seen = new Set<string>();
    for (const instance of instances) {
      if (instance.origin.source !== source) {
        throw new MeshBridgeError('CATALOG_BAD_INSTANCE', `instance ${instance.id} of ${service} comes from ${instance.origin.source}, not ${source}`, {
          value: instance.origin.source,
          where: `${service}/${instance.id}`,
        });
      }
      const key = keyOf(source, instance.id);
      seen.add(key);
      const before = entry.instances.get(key);
      if (before === undefined) added.push(instance);
      else if (!sameInstance(before, instance)) updated.push(instance);
    }
    for (const [key, instance] of entry.instances) {
      if (instance.origin.source === source && !seen.has(key)) removed.push(instance);
    }
    return this.apply(source, entry, service, added, updated, removed);
  }

  /** Adds or replaces one instance. */
  upsert(instance: Instance): ServiceDelta | null {
    const entry = this.entry(instance.service);
    const before = entry.instances.get(keyOf(instance.origin.source, instance.id));
    if (before === undefined) return this.apply(instance.origin.source, entry, instance.service, [instance], [], []);
    if (sameInstance(before, instance)) return null;
    return this.apply(instance.origin.source, entry, instance.service, [], [instance], []);
  }

  /** Removes one instance a source reported. */
  remove(source: string, service: string, id: string): ServiceDelta | null {
    const entry = this.entries.get(service);
    const before = entry?.instances.get(keyOf(source, id));
    if (entry === undefined || before === undefined) return null;
    return this.apply(source, entry, service, [], [], [before]);
  }

  /** Removes everything a source reported, in every service. */
  removeSource(source: string): ServiceDelta[] {
    const deltas: ServiceDelta[] = [];
    for (const service of [...(this.servicesBySource.get(source)?.keys() ?? [])]) {
      const delta = this.replaceSource(source, service, []);
      if (delta !== null) deltas.push(delta);
    }
    return deltas;
  }

  /**
   * Marks every instance of a source stale (its registry is unreachable) or fresh again. Stale
   * instances stay: losing a registry must never look like every service going away.
   */
  setSourceStale(source: string, stale: boolean): ServiceDelta[] {
    const deltas: ServiceDelta[] = [];
    const services = this.servicesBySource.get(source);
    if (services === undefined) return deltas;
    for (const service of [...services.keys()]) {
      const entry = this.entries.get(service);
      if (entry === undefined) continue;
      // Only the flag changes: the delta is the source's instances whose flag flips, as `updated`.
      const updated: Instance[] = [];
      for (const instance of entry.instances.values()) {
        if (instance.origin.source === source && (instance.stale ?? false) !== stale) updated.push({ ...instance, stale });
      }
      const delta = this.apply(source, entry, service, [], updated, []);
      if (delta !== null) deltas.push(delta);
    }
    return deltas;
  }

  /** Counts the stale instances, per source. */
  staleCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const entry of this.entries.values()) {
      for (const instance of entry.instances.values()) {
        if (instance.stale) counts.set(instance.origin.source, (counts.get(instance.origin.source) ?? 0) + 1);
      }
    }
    return counts;
  }

  /**
   * Follows one service. The listener first receives the current instances as one `added`
   * delta (when there are any), then every later change to that service, and nothing else.
   */
  subscribe(service: string, listener: DeltaListener): Subscription {
    const entry = this.entry(service);
    (entry.listeners ??= new Set()).add(listener);
    if (entry.instances.size > 0) {
      listener({ service, revision: entry.revision, added: [...entry.instances.values()], updated: [], removed: [] });
    }
    return { unsubscribe: () => entry.listeners?.delete(listener) ?? false };
  }

  /** Follows every service: for registry writers and the admin API. No initial snapshot. */
  subscribeAll(listener: DeltaListener): Subscription {
    this.allListeners.add(listener);
    return { unsubscribe: () => this.allListeners.delete(listener) };
  }

  private entry(service: string): ServiceEntry {
    let entry = this.entries.get(service);
    if (entry === undefined) {
      entry = { instances: new Map(), revision: 0, listeners: null };
      this.entries.set(service, entry);
    }
    return entry;
  }

  private apply(source: string, entry: ServiceEntry, service: string, added: Instance[], updated: Instance[], removed: Instance[]): ServiceDelta | null {
    if (added.length === 0 && updated.length === 0 && removed.length === 0) return null;
    for (const instance of removed) entry.instances.delete(keyOf(instance.origin.source, instance.id));
    for (const instance of added) entry.instances.set(storedKeyOf(source, instance.id), instance);
    for (const instance of updated) entry.instances.set(keyOf(source, instance.id), instance);
    this.countSource(source, service, added.length - removed.length);
    this.currentRevision++;
    entry.revision = this.currentRevision;
    const delta: ServiceDelta = { service, revision: this.currentRevision, added, updated, removed };
    if (entry.listeners !== null) for (const listener of entry.listeners) listener(delta);
    for (const listener of this.allListeners) listener(delta);
    return delta;
  }

  private countSource(source: string, service: string, change: number): void {
    if (change === 0) return;
    let services = this.servicesBySource.get(source);
    if (services === undefined) this.servicesBySource.set(source, (services = new Map()));
    const count = (services.get(service) ?? 0) + change;
    if (count > 0) services.set(service, count);
    else services.delete(service);
  }
}
