// The reading half of zookeeper-sync: mirrors Dubbo's interface-level tree (`/dubbo/<iface>/{providers,
// consumers,configurators,routers}`) and Dubbo 3's application-level tree (`/services/<app>/<id>`)
// through watches, and feeds the providers to the catalog under the `zookeeper` source.
import { Catalog, Instance, OwnershipLedger } from '../catalog';
import type { Logger } from '../telemetry/logger';
import { AppInstanceRead, readAppInstance } from './app-instance';
import { BadEntry, Parsed } from './bad-entry';
import { ConsumerRead, KeptProvider, ProviderRead, RuleRead, keepProvider, nameKey, providerInstances, providerRead, providerUrl, readConsumer, readProvider, readRule } from './provider-instance';
import { DUBBO_CATEGORIES, DubboCategory, ZkLayout, appPath, categoryPath, isValidNodeName, joinPath } from './zk-paths';
import { Watch, ZkSession } from './zk-session';

export const ZOOKEEPER_SOURCE = 'zookeeper';

export interface ReaderOptions {
  session: ZkSession;
  catalog: Catalog;
  ledger: OwnershipLedger;
  layout: ZkLayout;
  logger: Logger;
  /** Called once per bad entry as it appears (not again while it stays). */
  onBadEntry: (bad: BadEntry, path: string) => void;
  /** Called when an interface's consumers, configurators or routers change. */
  onCategoryChange?: (iface: string, category: Exclude<DubboCategory, 'providers'>) => void;
  /** Read Dubbo 3 application-level instances too (default true). */
  applicationLevel?: boolean;
  /** Called when the number of distinct bridge endpoints (host:port) among an interface's providers changed. */
  onBridgeEndpoints?: (iface: string, count: number) => void;
}

/** What the registry says about one interface, beyond its providers. */
export interface InterfaceView {
  interface: string;
  /** Provider URLs as decoded from their znode names, the bridges' own left out. */
  providers: string[];
  consumers: ConsumerRead[];
  configurators: RuleRead[];
  routers: RuleRead[];
}

interface InterfaceState {
  watches: Watch[];
  /**
   * The providers listed last, in listing order: a hash of each znode name (nameKey: the names
   * themselves would cost more than what is read from them) and what was read from it, so a change
   * re-parses only new names. Arrays, not a Map: a few hundred bytes less per interface.
   */
  providerKeys: number[];
  providerReads: Array<KeptProvider | BadEntry>;
  instances: Instance[];
  /** Distinct host:port of the bridges' provider URLs (what consumers see of the bridges). */
  bridgeEndpoints: number;
  /** Null while the category has no entries (most interfaces have none): no empty Map each. */
  consumers: Map<string, Parsed<ConsumerRead>> | null;
  configurators: Map<string, Parsed<RuleRead>> | null;
  routers: Map<string, Parsed<RuleRead>> | null;
}

interface AppState {
  watch: Watch;
  instanceWatches: Map<string, Watch>;
  instances: Map<string, Instance>;
}

export class ZookeeperReader {
  private readonly session: ZkSession;
  private readonly catalog: Catalog;
  private readonly ledger: OwnershipLedger;
  private readonly layout: ZkLayout;
  private readonly options: ReaderOptions;
  private readonly interfaces = new Map<string, InterfaceState>();
  private readonly apps = new Map<string, AppState>();
  private rootWatches: Watch[] = [];
  private started = false;

  constructor(options: ReaderOptions) {
    this.options = options;
    this.session = options.session;
    this.catalog = options.catalog;
    this.ledger = options.ledger;
    this.layout = options.layout;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.rootWatches.push(this.session.watchChildren(this.layout.dubboRoot, (names) => this.onInterfaces(names ?? [])));
    if (this.options.applicationLevel !== false) {
      this.rootWatches.push(this.session.watchChildren(this.layout.servicesRoot, (names) => this.onApps(names ?? [])));
    }
  }

  /** Stops watching. The catalog keeps what was read (the sync decides whether to drop it). */
  stop(): void {
    this.started = false;
    for (const watch of this.rootWatches) watch.close();
    this.rootWatches = [];
    for (const state of this.interfaces.values()) for (const watch of state.watches) watch.close();
    for (const state of this.apps.values()) {
      state.watch.close();
      for (const watch of state.instanceWatches.values()) watch.close();
    }
    this.interfaces.clear();
    this.apps.clear();
  }

  interfaceNames(): string[] {
    return [...this.interfaces.keys()];
  }

  applicationNames(): string[] {
    return [...this.apps.keys()];
  }

  view(iface: string): InterfaceView | null {
    const state = this.interfaces.get(iface);
    if (state === undefined) return null;
    return {
      interface: iface,
      providers: providerUrls(state.providerReads),
      consumers: goodValues(state.consumers),
      configurators: goodValues(state.configurators),
      routers: goodValues(state.routers),
    };
  }

  /** Distinct host:port of the bridges' provider URLs listed for an interface. */
  bridgeEndpoints(iface: string): number {
    return this.interfaces.get(iface)?.bridgeEndpoints ?? 0;
  }

  /** Who calls what, from the consumers' registrations: the estate's dependency graph. */
  dependencies(): Array<{ application: string; interface: string }> {
    const edges = new Map<string, { application: string; interface: string }>();
    for (const [iface, state] of this.interfaces) {
      for (const consumer of goodValues(state.consumers)) {
        const application = consumer.application;
        edges.set(`${application}\n${iface}`, { application, interface: iface });
      }
    }
    return [...edges.values()];
  }

  /** Instances read (not counting the bridges' own). */
  get instanceCount(): number {
    let count = 0;
    for (const state of this.interfaces.values()) count += state.instances.length;
    for (const state of this.apps.values()) count += state.instances.size;
    return count;
  }

  // ---- interface level ----

  private onInterfaces(names: string[]): void {
    const present = new Set(names.filter(isValidNodeName));
    for (const iface of present) {
      if (this.interfaces.has(iface)) continue;
      const state: InterfaceState = {
        watches: [],
        providerKeys: [],
        providerReads: [],
        instances: [],
        bridgeEndpoints: 0,
        consumers: null,
        configurators: null,
        routers: null,
      };
      this.interfaces.set(iface, state);
      for (const category of DUBBO_CATEGORIES) {
        state.watches.push(this.session.watchChildren(categoryPath(this.layout, iface, category), (children) => this.onCategory(iface, category, children ?? [])));
      }
    }
    for (const [iface, state] of this.interfaces) {
      if (present.has(iface)) continue;
      for (const watch of state.watches) watch.close();
      this.interfaces.delete(iface);
      this.publish(iface);
      if (state.bridgeEndpoints > 0) this.options.onBridgeEndpoints?.(iface, 0);
    }
  }

  private onCategory(iface: string, category: DubboCategory, names: string[]): void {
    const state = this.interfaces.get(iface);
    if (state === undefined) return;
    const dir = categoryPath(this.layout, iface, category);
    switch (category) {
      case 'providers':
        this.onProviders(iface, state, dir, names);
        return;
      case 'consumers':
        state.consumers = this.parseAll(dir, names, state.consumers, (name) => readConsumer(iface, name));
        break;
      case 'configurators':
        state.configurators = this.parseAll(dir, names, state.configurators, readRule);
        break;
      case 'routers':
        state.routers = this.parseAll(dir, names, state.routers, readRule);
        break;
    }
    this.options.onCategoryChange?.(iface, category);
  }

  private onProviders(iface: string, state: InterfaceState, dir: string, names: string[]): void {
    let previous: Map<number, KeptProvider | BadEntry> | null = null;
    if (state.providerKeys.length > 0) {
      previous = new Map();
      for (let i = 0; i < state.providerKeys.length; i++) previous.set(state.providerKeys[i], state.providerReads[i]);
    }
    const keys: number[] = [];
    const kept: Array<KeptProvider | BadEntry> = [];
    const reads: ProviderRead[] = [];
    const bridges = new Set<string>();
    for (const name of names) {
      // Ownership is asked each time, never cached: the ledger may learn of a write after its node.
      if (this.ledger.isOwned('zookeeper', joinPath(dir, name))) {
        const endpoint = endpointOfName(name);
        if (endpoint !== null) bridges.add(endpoint);
        continue;
      }
      const key = nameKey(name);
      let entry = previous?.get(key);
      if (entry === undefined) {
        const parsed = readProvider(iface, name);
        if (!parsed.ok) this.options.onBadEntry(parsed.bad, joinPath(dir, name));
        entry = parsed.ok ? keepProvider(parsed.value) : parsed.bad;
      }
      keys.push(key);
      kept.push(entry);
      if (isBadEntry(entry)) continue;
      const read = providerRead(entry);
      if (read.bridgeTag === undefined) reads.push(read);
      else bridges.add(`${read.instance.host}:${read.instance.port}`);
    }
    // Copies sized to fit: arrays grown by push keep spare room.
    state.providerKeys = keys.slice();
    state.providerReads = kept.slice();
    state.instances = providerInstances(reads);
    this.publish(iface);
    if (bridges.size !== state.bridgeEndpoints) {
      state.bridgeEndpoints = bridges.size;
      this.options.onBridgeEndpoints?.(iface, bridges.size);
    }
  }

  private parseAll<T>(dir: string, names: string[], previous: Map<string, Parsed<T>> | null, parse: (name: string) => Parsed<T>): Map<string, Parsed<T>> | null {
    if (names.length === 0) return null;
    const next = new Map<string, Parsed<T>>();
    for (const name of names) {
      let parsed = previous?.get(name);
      if (parsed === undefined) {
        parsed = parse(name);
        if (!parsed.ok) this.options.onBadEntry(parsed.bad, joinPath(dir, name));
      }
      next.set(name, parsed);
    }
    return next;
  }

  // ---- application level (Dubbo 3) ----

  private onApps(names: string[]): void {
    const present = new Set(names.filter(isValidNodeName));
    for (const app of present) {
      if (this.apps.has(app)) continue;
      // Answers arrive asynchronously, after the state is in place.
      const watch = this.session.watchChildren(appPath(this.layout, app), (ids) => this.onAppInstances(app, ids ?? []));
      this.apps.set(app, { watch, instanceWatches: new Map(), instances: new Map() });
    }
    for (const [app, state] of this.apps) {
      if (present.has(app)) continue;
      state.watch.close();
      for (const watch of state.instanceWatches.values()) watch.close();
      this.apps.delete(app);
      this.publish(app);
    }
  }

  private onAppInstances(app: string, ids: string[]): void {
    const state = this.apps.get(app);
    if (state === undefined) return;
    const present = new Set(ids);
    let changed = false;
    for (const id of present) {
      if (state.instanceWatches.has(id)) continue;
      const path = joinPath(appPath(this.layout, app), id);
      state.instanceWatches.set(id, this.session.watchData(path, (data) => this.onAppInstance(app, id, path, data)));
    }
    for (const [id, watch] of state.instanceWatches) {
      if (present.has(id)) continue;
      watch.close();
      state.instanceWatches.delete(id);
      changed = state.instances.delete(id) || changed;
    }
    if (changed) this.publish(app);
  }

  private onAppInstance(app: string, id: string, path: string, data: Buffer | null): void {
    const state = this.apps.get(app);
    if (state === undefined) return;
    let read: AppInstanceRead | null = null;
    if (data !== null && !this.ledger.isOwned('zookeeper', path)) {
      const parsed = readAppInstance(app, id, data);
      if (!parsed.ok) this.options.onBadEntry(parsed.bad, path);
      else if (parsed.value.bridgeTag === undefined) read = parsed.value;
    }
    const had = state.instances.delete(id);
    if (read !== null) state.instances.set(id, read.instance);
    if (had || read !== null) this.publish(app);
  }

  // ---- catalog ----

  /** Hands the catalog everything ZooKeeper says about one service, both levels merged. */
  private publish(service: string): void {
    const fromInterface = this.interfaces.get(service)?.instances ?? [];
    const fromApp = this.apps.get(service)?.instances;
    const instances = fromApp === undefined || fromApp.size === 0 ? fromInterface : [...fromInterface, ...fromApp.values()];
    try {
      this.catalog.replaceSource(ZOOKEEPER_SOURCE, service, instances);
    } catch (err) {
      // Never out of a watcher: a catalog refusal is logged and the next change retries.
      this.options.logger.error({ err, service }, 'catalog refused instances read from zookeeper');
    }
  }
}

function goodValues<T>(map: Map<string, Parsed<T>> | null): T[] {
  const values: T[] = [];
  if (map !== null) for (const parsed of map.values()) if (parsed.ok) values.push(parsed.value);
  return values;
}

/** Provider URLs as decoded from their znode names, in listing order, the bridges' own left out. */
function providerUrls(kept: ReadonlyArray<KeptProvider | BadEntry>): string[] {
  const urls: string[] = [];
  for (const entry of kept) {
    if (isBadEntry(entry)) continue;
    const read = providerRead(entry);
    if (read.bridgeTag === undefined) urls.push(providerUrl(read));
  }
  return urls;
}

/** `host:port` of a provider znode name (`dubbo%3A%2F%2Fhost%3Aport%2F...`), or null. */
function endpointOfName(name: string): string | null {
  try {
    const match = /^[a-z][a-z0-9+.-]*:\/\/([^/?]+)/i.exec(decodeURIComponent(name));
    return match === null ? null : match[1];
  } catch {
    return null;
  }
}

function isBadEntry(entry: KeptProvider | BadEntry): entry is BadEntry {
  return 'reason' in entry;
}
