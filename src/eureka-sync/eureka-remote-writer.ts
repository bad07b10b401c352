// The writing half of the remote Eureka client: registers the catalog's mesh-side instances with
// external Eureka servers through eureka-js-client, one client per instance (it holds exactly one
// instance: POST register, PUT heartbeat every heartbeatIntervalMs re-registering on a 404,
// DELETE on stop). Writes are recorded in the ownership ledger before they are made and released
// after they are undone, so readers never take them for new instances and a restarted bridge can
// remove what it wrote earlier that is no longer true.
import { Catalog, Instance, OwnershipLedger, Subscription } from '../catalog';
import type { Logger } from '../telemetry/logger';
import { catalogToEureka, EurekaInstance } from './eureka-instance';

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
  onWrite: (op: 'register' | 'deregister') => void;
  onWriteError: (op: 'register' | 'deregister') => void;
}

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
  inSync: boolean;
}

export class EurekaRemoteWriter {
  private readonly registrations = new Map<string, Registration>();
  /** Ledger keys to deregister (no longer true), retried until the server confirms. */
  private readonly removals = new Set<string>();
  private desired = new Map<string, Record<string, unknown>>();
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

  /** Stops heartbeats; with `deregister` (default) withdraws every registration and releases it. */
  async stop(deregister = true): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    await this.chain.catch(() => undefined);
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
      inSync: registered === this.desired.size && this.removals.size === 0 && [...this.registrations.values()].every((r) => r.registered),
    };
  }

  private computeDesired(): Map<string, Record<string, unknown>> {
    const desired = new Map<string, Record<string, unknown>>();
    const now = this.options.now();
    for (const service of this.options.catalog.serviceNames()) {
      for (const instance of this.options.catalog.instances(service)) {
        if (!this.options.exportFilter(instance)) continue;
        const eureka = catalogToEureka(instance, now);
        const key = eurekaLedgerKey(eureka.app, eureka.instanceId);
        // Two sources with the same service and id: the first wins.
        if (!desired.has(key)) desired.set(key, registrationBody(eureka, this.options.owner));
      }
    }
    return desired;
  }

  private async reconcile(): Promise<void> {
    this.desired = this.computeDesired();
    // Written earlier (by this run or a previous one) and no longer true.
    for (const entry of this.options.ledger.ownedBy(this.options.owner, 'eureka')) {
      if (!this.desired.has(entry.key)) this.removals.add(entry.key);
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
    for (const [key, body] of this.desired) {
      if (!this.running) return;
      const existing = this.registrations.get(key);
      const print = fingerprint(body);
      if (existing !== undefined && existing.registered && existing.fingerprint === print) continue;
      await this.register(key, body, print, existing);
    }
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
