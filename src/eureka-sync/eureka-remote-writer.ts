// The writing half of the remote Eureka client: registers the catalog's mesh-side instances with
// external Eureka servers through eureka-js-client, one client per instance (it holds exactly one
// instance: POST register, PUT heartbeat every heartbeatIntervalMs re-registering on a 404,
// DELETE on stop). Writes are recorded in the ownership ledger before they are made and released
// after they are undone, so readers never take them for new instances and a restarted bridge can
// remove what it wrote earlier that is no longer true.
import { request } from 'undici';
import { Catalog, Instance, LedgerEntry, OwnershipLedger, Subscription } from '../catalog';
import type { Logger } from '../telemetry/logger';
import { appVisibility, BridgeHandout, countHttpStacks, handoutInstance } from './bridge-handout';
import { catalogToEureka, EurekaInstance, EurekaStatus } from './eureka-instance';

// eureka-js-client ships no types: the part of its API used here.
interface EurekaJsClient {
  config: { instance: Record<string, unknown> };
  register(cb: (err: Error | null) => void): void;
  deregister(cb: (err: Error | null) => void): void;
  startHeartbeats(): void;
  stop(cb: (err?: Error | null) => void): void;
  heartbeat?: NodeJS.Timeout;
  /** Ours: the status to register with (see requestMiddleware). */
  wantedStatus?: string;
}
type EurekaJsClientClass = new (config: Record<string, unknown>) => EurekaJsClient;
const { Eureka } = require('eureka-js-client') as { Eureka: EurekaJsClientClass };

/** The metadata key naming the bridge that registered an instance (second line after the ledger). */
export const EUREKA_OWNER_TAG = 'mesh-bridge.owner';

/** Catalog sources that are Eureka itself: never written back to Eureka. */
export const EUREKA_SOURCES = ['eureka', 'eureka-embedded'] as const;

/**
 * The default choice of what to register: HTTP instances of any other source (the mesh side,
 * static entries). Dubbo instances are left out: a Spring Cloud client finding one in Eureka would
 * send HTTP to a Dubbo port. Pass `exportFilter` to change it.
 */
export function defaultExportFilter(instance: Instance): boolean {
  return instance.protocol === 'http' && !(EUREKA_SOURCES as readonly string[]).includes(instance.origin.source);
}

/** Eureka's ledger key for an instance. */
export function eurekaLedgerKey(app: string, instanceId: string): string {
  return `${app.toUpperCase()}/${instanceId}`;
}

/** The ledger key of a status override this bridge put on a legacy instance (`status:APP/id`). */
export function overrideLedgerKey(app: string, instanceId: string): string {
  return `${OVERRIDE_PREFIX}${eurekaLedgerKey(app, instanceId)}`;
}
const OVERRIDE_PREFIX = 'status:';

function appOfOverride(ledgerKey: string): string {
  return ledgerKey.slice(OVERRIDE_PREFIX.length, ledgerKey.indexOf('/'));
}

/** Every ledger entry of a registry, any owner, where the ledger can list them (ZooKeeper's can). */
function allLedgerEntries(ledger: OwnershipLedger, owner: string): LedgerEntry[] {
  const withEntries = ledger as OwnershipLedger & { entries?: (registry: 'eureka') => LedgerEntry[] };
  return typeof withEntries.entries === 'function' ? withEntries.entries('eureka') : ledger.ownedBy(owner, 'eureka');
}

/** The registration body eureka-js-client posts (`{"instance": body}`). */
export function registrationBody(instance: EurekaInstance, owner: string): Record<string, unknown> {
  return {
    instanceId: instance.instanceId,
    app: instance.app,
    hostName: instance.hostName,
    ipAddr: instance.ipAddr,
    status: instance.status,
    overriddenStatus: 'UNKNOWN',
    port: { $: instance.port.port, '@enabled': String(instance.port.enabled) },
    securePort: { $: instance.securePort.port, '@enabled': String(instance.securePort.enabled) },
    countryId: instance.countryId,
    dataCenterInfo: { '@class': instance.dataCenterInfo.className, name: instance.dataCenterInfo.name },
    leaseInfo: { renewalIntervalInSecs: instance.renewalIntervalInSecs, durationInSecs: instance.durationInSecs },
    metadata: { ...instance.metadata, [EUREKA_OWNER_TAG]: owner },
    vipAddress: instance.vipAddress,
    secureVipAddress: instance.secureVipAddress,
    homePageUrl: `http://${instance.hostName}:${instance.port.port}/`,
    statusPageUrl: `http://${instance.hostName}:${instance.port.port}/info`,
    healthCheckUrl: `http://${instance.hostName}:${instance.port.port}/health`,
  };
}

/** What an instance is registered with, minus timestamps: a change here means re-registering. */
function fingerprint(body: Record<string, unknown>): string {
  return JSON.stringify(body);
}

export interface EurekaRemoteWriterOptions {
  /** Base URLs such as `http://host:8761/eureka/`, tried in order. */
  serviceUrls: string[];
  catalog: Catalog;
  ledger: OwnershipLedger;
  owner: string;
  logger: Logger;
  heartbeatIntervalMs: number;
  /** Per request: eureka-js-client's `request` has no timeout of its own. */
  requestTimeoutMs: number;
  exportFilter: (instance: Instance) => boolean;
  now: () => number;
  onWrite: (op: WriteOp) => void;
  onWriteError: (op: WriteOp) => void;
  /**
   * The bridge's HTTP listener to hand apps being migrated out at (null: none, and mesh HTTP
   * instances are registered as they are, the behaviour without a bridge listener).
   */
  handout?: () => BridgeHandout | null;
  /** The mesh share of an app (upper-case name). */
  meshWeightOf?: (app: string) => number;
  /** The catalog source of what the reader read from these servers: the legacy instances to override. */
  readSource?: string;
  /** The status the servers last showed for an instance (from the reader's copy). */
  remoteStatus?: (app: string, instanceId: string) => EurekaStatus | undefined;
  /** An override of one of the app's instances was put or removed: the reader publishes the app again. */
  overrideChanged?: (app: string) => void;
}

export type WriteOp = 'register' | 'deregister' | 'override' | 'clear_override';

interface Registration {
  key: string;
  app: string;
  instanceId: string;
  body: Record<string, unknown>;
  fingerprint: string;
  client: EurekaJsClient;
  /** True once the server accepted the current body. */
  registered: boolean;
}

export interface EurekaRemoteWriterStatus {
  enabled: boolean;
  /** Instances the catalog says should be registered. */
  desired: number;
  /** Of those, registered with their current data. */
  registered: number;
  /** Ledger entries of this owner waiting to be deregistered (server unreachable). */
  pendingRemovals: number;
  /** Legacy instances put OUT_OF_SERVICE so their callers go through the bridge. */
  overrides: number;
  inSync: boolean;
}

export class EurekaRemoteWriter {
  private readonly registrations = new Map<string, Registration>();
  /** Ledger keys to deregister (no longer true), retried until the server confirms. */
  private readonly removals = new Set<string>();
  private desired = new Map<string, Record<string, unknown>>();
  /** `APP/id` of the legacy instances that should be OUT_OF_SERVICE -> the bridge entry they wait for. */
  private desiredOverrides = new Map<string, string>();
  private subscription: Subscription | undefined;
  private running = false;
  private chain: Promise<void> = Promise.resolve();
  private queued = false;

  constructor(private readonly options: EurekaRemoteWriterOptions) {}

  /**
   * Follows the catalog and makes the first pass: registers what should be (re-registering what a
   * previous run left is harmless: Eureka keys by instance id) and deregisters what this owner's
   * ledger entries say was written earlier and is no longer in the catalog.
   */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.subscription = this.options.catalog.subscribeAll(() => this.schedule());
    this.schedule();
    await this.idle();
  }

  /** Like start(), without waiting for the first pass (when the server is known to be down). */
  startInBackground(): void {
    if (this.running) return;
    this.running = true;
    this.subscription = this.options.catalog.subscribeAll(() => this.schedule());
    this.schedule();
  }

  /**
   * Stops heartbeats; with `deregister` (default) first gives the legacy instances this bridge
   * put OUT_OF_SERVICE back (so callers reach them directly), then withdraws every registration,
   * releasing each from the ledger.
   */
  async stop(deregister = true): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    await this.chain.catch(() => undefined);
    if (deregister) {
      for (const entry of this.options.ledger.ownedBy(this.options.owner, 'eureka')) {
        if (entry.key.startsWith(OVERRIDE_PREFIX)) await this.clearOverride(entry.key);
      }
    }
    for (const registration of [...this.registrations.values()]) {
      if (registration.client.heartbeat !== undefined) clearInterval(registration.client.heartbeat);
      if (deregister) await this.deregister(registration.key, registration.client);
    }
    this.registrations.clear();
  }

  /** Runs a reconcile pass after the current one (coalesced); the reader's timer calls it to retry. */
  schedule(): void {
    if (!this.running || this.queued) return;
    this.queued = true;
    this.chain = this.chain.then(async () => {
      this.queued = false;
      if (this.running) await this.reconcile();
    });
  }

  /** Resolves when the queued passes are done. */
  async idle(): Promise<void> {
    let last: Promise<void> | undefined;
    while (last !== this.chain) {
      last = this.chain;
      await last.catch(() => undefined);
    }
  }

  /** Ledger keys registered with their current data. */
  registeredKeys(): string[] {
    return [...this.registrations.values()].filter((r) => r.registered).map((r) => r.key);
  }

  status(): EurekaRemoteWriterStatus {
    const registered = this.registeredKeys().length;
    return {
      enabled: true,
      desired: this.desired.size,
      registered,
      pendingRemovals: this.removals.size,
      overrides: this.desiredOverrides.size,
      inSync: registered === this.desired.size && this.removals.size === 0 && [...this.registrations.values()].every((r) => r.registered),
    };
  }

  /**
   * What should be in the servers: per app, by how it is handed out (bridge-handout.ts): the
   * bridge's entry and its legacy instances OUT_OF_SERVICE (`bridge`), nothing (`legacy`: weight 0,
   * the mesh twin gets no call), or the mesh instances themselves (`all`: no bridge listener).
   */
  private computeDesired(): { registrations: Map<string, Record<string, unknown>>; overrides: Map<string, string> } {
    const registrations = new Map<string, Record<string, unknown>>();
    const overrides = new Map<string, string>();
    const now = this.options.now();
    const handout = this.options.handout?.() ?? null;
    const byApp = new Map<string, Instance[]>();
    for (const service of this.options.catalog.serviceNames()) {
      const app = service.toUpperCase();
      const list = byApp.get(app);
      if (list === undefined) byApp.set(app, this.options.catalog.instances(service));
      else list.push(...this.options.catalog.instances(service));
    }
    for (const [app, instances] of byApp) {
      const visibility = appVisibility(countHttpStacks(instances), this.options.meshWeightOf?.(app) ?? 0, handout !== null);
      if (visibility === 'bridge' && handout !== null) {
        const entry = handoutInstance(app, handout, now);
        const bridgeKey = eurekaLedgerKey(app, entry.instanceId);
        registrations.set(bridgeKey, registrationBody(entry, this.options.owner));
        for (const instance of instances) {
          if (instance.protocol === 'http' && instance.stack === 'legacy' && instance.origin.source === this.options.readSource) overrides.set(eurekaLedgerKey(app, instance.id), bridgeKey);
        }
        continue;
      }
      if (visibility === 'legacy') continue;
      for (const instance of instances) {
        if (!this.options.exportFilter(instance)) continue;
        const eureka = catalogToEureka(instance, now);
        const key = eurekaLedgerKey(eureka.app, eureka.instanceId);
        // Two sources with the same service and id: the first wins.
        if (!registrations.has(key)) registrations.set(key, registrationBody(eureka, this.options.owner));
      }
    }
    return { registrations, overrides };
  }

  private async reconcile(): Promise<void> {
    const { registrations, overrides } = this.computeDesired();
    this.desired = registrations;
    this.desiredOverrides = overrides;
    // The bridge's entries first, then its legacy instances out of service: callers always have somewhere to go.
    for (const [key, body] of this.desired) {
      if (!this.running) return;
      const existing = this.registrations.get(key);
      const print = fingerprint(body);
      if (existing !== undefined && existing.registered && existing.fingerprint === print) continue;
      await this.register(key, body, print, existing);
    }
    for (const [key, bridgeKey] of this.desiredOverrides) {
      if (!this.running) return;
      // Never out of service while the bridge's own entry is not there to take the calls.
      if (this.registrations.get(bridgeKey)?.registered !== true) continue;
      const slash = key.indexOf('/');
      const ledgerKey = `${OVERRIDE_PREFIX}${key}`;
      if (this.options.ledger.isOwned('eureka', ledgerKey) && this.options.remoteStatus?.(key.slice(0, slash), key.slice(slash + 1)) === 'OUT_OF_SERVICE') continue;
      await this.putOverride(ledgerKey);
    }
    // Overrides no longer wanted, whichever bridge put them (a dead one's included): legacy instances back first.
    for (const entry of allLedgerEntries(this.options.ledger, this.options.owner)) {
      if (!this.running) return;
      if (entry.key.startsWith(OVERRIDE_PREFIX) && !this.desiredOverrides.has(entry.key.slice(OVERRIDE_PREFIX.length))) await this.clearOverride(entry.key);
    }
    // Written earlier (by this run or a previous one) and no longer true.
    for (const entry of this.options.ledger.ownedBy(this.options.owner, 'eureka')) {
      if (!entry.key.startsWith(OVERRIDE_PREFIX) && !this.desired.has(entry.key)) this.removals.add(entry.key);
    }
    for (const key of this.registrations.keys()) if (!this.desired.has(key)) this.removals.add(key);
    for (const key of [...this.removals]) {
      if (!this.running) return;
      if (this.desired.has(key)) {
        this.removals.delete(key);
        continue;
      }
      const registration = this.registrations.get(key);
      if (registration?.client.heartbeat !== undefined) clearInterval(registration.client.heartbeat);
      const client = registration?.client ?? this.newClient(this.bodyForKey(key));
      if (await this.deregister(key, client)) {
        this.registrations.delete(key);
        this.removals.delete(key);
      }
    }
  }

  /** Puts a legacy instance OUT_OF_SERVICE (Eureka's status override), recorded in the ledger first. */
  private async putOverride(ledgerKey: string): Promise<void> {
    if (!this.options.ledger.isOwned('eureka', ledgerKey) || !this.ownedByMe(ledgerKey)) await this.options.ledger.record('eureka', ledgerKey);
    if (!(await this.statusRequest('PUT', ledgerKey, 'OUT_OF_SERVICE'))) return;
    this.options.onWrite('override');
    this.options.overrideChanged?.(appOfOverride(ledgerKey));
  }

  /** Gives a legacy instance back (override removed, UP), then releases the ledger entry. */
  private async clearOverride(ledgerKey: string): Promise<void> {
    if (!(await this.statusRequest('DELETE', ledgerKey, 'UP'))) return;
    this.options.onWrite('clear_override');
    await this.options.ledger.release('eureka', ledgerKey);
    this.options.overrideChanged?.(appOfOverride(ledgerKey));
  }

  private ownedByMe(ledgerKey: string): boolean {
    return this.options.ledger.ownedBy(this.options.owner, 'eureka').some((e) => e.key === ledgerKey);
  }

  /** `PUT|DELETE {url}apps/{APP}/{id}/status?value=`, to the first server that answers; 404 (instance gone) counts as done. */
  private async statusRequest(method: 'PUT' | 'DELETE', ledgerKey: string, value: EurekaStatus): Promise<boolean> {
    const key = ledgerKey.slice(OVERRIDE_PREFIX.length);
    const slash = key.indexOf('/');
    const path = `apps/${encodeURIComponent(key.slice(0, slash))}/${encodeURIComponent(key.slice(slash + 1))}/status?value=${value}`;
    const op: WriteOp = method === 'PUT' ? 'override' : 'clear_override';
    for (const base of this.options.serviceUrls) {
      try {
        const response = await request(`${base}${path}`, { method, headersTimeout: this.options.requestTimeoutMs, bodyTimeout: this.options.requestTimeoutMs });
        await response.body.dump();
        if (response.statusCode < 300 || response.statusCode === 404) return true;
      } catch {
        // next server
      }
    }
    this.options.onWriteError(op);
    this.options.logger.warn({ key, method }, 'status override on the remote Eureka failed; will retry');
    return false;
  }

  private async register(key: string, body: Record<string, unknown>, print: string, existing: Registration | undefined): Promise<void> {
    // Recorded before the write: a crash in between leaves an owned entry, never an unowned one.
    if (!this.options.ledger.isOwned('eureka', key)) await this.options.ledger.record('eureka', key);
    const registration: Registration = existing ?? {
      key,
      app: String(body.app),
      instanceId: String(body.instanceId),
      body,
      fingerprint: print,
      client: this.newClient(body),
      registered: false,
    };
    // Heartbeats re-register on a 404 with whatever config.instance holds: keep it current.
    registration.body = body;
    registration.fingerprint = print;
    registration.registered = false;
    registration.client.config.instance = { ...body };
    registration.client.wantedStatus = typeof body.status === 'string' ? body.status : 'UP';
    this.registrations.set(key, registration);
    const err = await new Promise<Error | null>((resolve) => registration.client.register((e) => resolve(e ?? null)));
    if (err !== null) {
      this.options.onWriteError('register');
      this.options.logger.warn({ key, err: err.message }, 'registering with the remote Eureka failed; will retry');
      return;
    }
    this.options.onWrite('register');
    registration.registered = true;
    if (registration.client.heartbeat === undefined) registration.client.startHeartbeats();
    this.options.logger.debug({ key }, 'registered with the remote Eureka');
  }

  /** True when done (deregistered, or the server no longer knows it): the ledger entry is released. */
  private async deregister(key: string, client: EurekaJsClient): Promise<boolean> {
    const err = await new Promise<Error | null>((resolve) => client.deregister((e) => resolve(e ?? null)));
    // eureka-js-client reports a 404 (already gone: expired, or never registered) as an error.
    if (err !== null && !/status: 404\b/.test(err.message)) {
      this.options.onWriteError('deregister');
      this.options.logger.warn({ key, err: err.message }, 'deregistering from the remote Eureka failed; will retry');
      return false;
    }
    this.options.onWrite('deregister');
    await this.options.ledger.release('eureka', key);
    return true;
  }

  /** A minimal body for deregistering a ledger entry left by an earlier run (only app and id are used). */
  private bodyForKey(key: string): Record<string, unknown> {
    const slash = key.indexOf('/');
    const app = key.slice(0, slash);
    const instanceId = key.slice(slash + 1);
    return {
      instanceId,
      app,
      hostName: instanceId,
      ipAddr: '127.0.0.1',
      port: { $: 0, '@enabled': 'true' },
      vipAddress: app.toLowerCase(),
      dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
    };
  }

  private newClient(body: Record<string, unknown>): EurekaJsClient {
    const urls = this.options.serviceUrls.map((u) => `${u.endsWith('/') ? u : `${u}/`}apps/`);
    const client: EurekaJsClient = new Eureka({
      // No eureka-client.yml from the working directory: this client is configured here only.
      filename: 'mesh-bridge-eureka-remote-no-such-file',
      logger: quietLogger(this.options.logger),
      instance: { ...body },
      eureka: {
        serviceUrls: { default: urls },
        // Each failed request moves on to the next server: failover across the list.
        maxRetries: Math.max(0, urls.length - 1),
        requestRetryDelay: 100,
        heartbeatInterval: this.options.heartbeatIntervalMs,
        fetchRegistry: false,
        registerWithEureka: true,
      },
      // eureka-js-client registers every instance as UP (it sets config.instance.status before
      // posting); send the catalog's status, kept in wantedStatus, instead.
      requestMiddleware: (request: Record<string, unknown>, done: (r: Record<string, unknown>) => void) => {
        // eureka-js-client's `request` has no timeout: a silent server would hang the writer.
        request.timeout = this.options.requestTimeoutMs;
        const payload = request.body as { instance?: Record<string, unknown> } | undefined;
        if (String(request.method).toUpperCase() === 'POST' && payload?.instance !== undefined) payload.instance.status = client.wantedStatus ?? 'UP';
        done(request);
      },
    });
    client.wantedStatus = typeof body.status === 'string' ? body.status : 'UP';
    return client;
  }
}

function quietLogger(logger: Logger): Record<string, (...args: unknown[]) => void> {
  const text = (args: unknown[]): string => args.map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : JSON.stringify(a))).join(' ');
  return {
    debug: (...args) => logger.trace({ client: 'eureka-js-client' }, text(args)),
    info: (...args) => logger.debug({ client: 'eureka-js-client' }, text(args)),
    warn: (...args) => logger.debug({ client: 'eureka-js-client' }, text(args)),
    error: (...args) => logger.debug({ client: 'eureka-js-client' }, text(args)),
  };
}
