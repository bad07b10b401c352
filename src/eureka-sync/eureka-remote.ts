// A client of external Eureka servers, both ways. Reads: a full fetch of `{url}apps`, then
// `{url}apps/delta` every fetchIntervalMs, checked against the server's reconcile hash code (a
// mismatch means a full fetch, as Eureka clients do), published to the catalog per changed app
// minus what the bridges registered themselves. Writes: the catalog's mesh-side HTTP instances,
// registered with heartbeats through eureka-js-client (see eureka-remote-writer.ts).
// Self-preservation: an unreachable server keeps its last known state in the catalog, marked stale.
import { request } from 'undici';
import { Catalog, Instance, OwnershipLedger } from '../catalog';
import { MeshBridgeError } from '../errors';
import type { Logger } from '../telemetry/logger';
import { LogOnce } from '../telemetry/logger';
import { Registry, counter, gauge } from '../telemetry/metrics';
import { EurekaInstance } from './eureka-instance';
import {
  RemoteApplications,
  RemoteBadInstance,
  RemoteSnapshot,
  appToCatalog,
  applyDelta,
  changedAppsBetween,
  hashcodesMatch,
  parseApplicationsJson,
  snapshotFromFull,
  snapshotHashcode,
} from './eureka-remote-delta';
import { EUREKA_OWNER_TAG, EurekaRemoteWriter, EurekaRemoteWriterStatus, defaultExportFilter, eurekaLedgerKey, overrideLedgerKey } from './eureka-remote-writer';
import { BridgeHandout, HANDOUT_TAG } from './bridge-handout';
import { Redactor } from '../telemetry/redact';

export interface EurekaRemoteSyncOptions {
  /** Eureka base URLs, e.g. `http://127.0.0.1:8761/eureka/` (Spring Cloud's `defaultZone`), tried in order. */
  serviceUrls: string[];
  catalog: Catalog;
  /** Shared with the other syncs: what any bridge wrote is never read back. */
  ledger: OwnershipLedger;
  /** This bridge's id: stable across restarts. */
  owner: string;
  metrics: Registry;
  logger: Logger;
  /** How often deltas are fetched (and failed writes retried). Default 30 s, as Eureka clients. */
  fetchIntervalMs?: number;
  /** Heartbeat interval of the registrations. Default 30 s, as Eureka clients. */
  heartbeatIntervalMs?: number;
  /** The catalog source the remote's instances are published as. Default `eureka`. */
  source?: string;
  /** Register the catalog's mesh-side instances with the remote servers. Default true. */
  register?: boolean;
  /** Which catalog instances to register. Default: HTTP instances of non-Eureka sources. */
  exportFilter?: (instance: Instance) => boolean;
  /** Per request. Default 10 s. */
  requestTimeoutMs?: number;
  /** The bridge's HTTP listener, to hand apps being migrated out at (see bridge-handout.ts); none by default. */
  handout?: () => BridgeHandout | null;
  /** The mesh share of an app (upper-case name). */
  meshWeightOf?: (app: string) => number;
  /** Masks secret-looking metadata on its way into the catalog (the process's `redact.keys`). */
  redactor?: Redactor;
  now?: () => number;
}

export interface EurekaRemoteSyncStatus {
  serviceUrls: string[];
  /** The URL the last successful fetch used. */
  currentUrl: string | null;
  source: string;
  owner: string;
  stale: boolean;
  lastFetchAt: number | null;
  lastFullFetchAt: number | null;
  lastError: string | null;
  reader: {
    apps: number;
    instances: number;
    published: number;
    /** Instances skipped because a bridge wrote them. */
    own: number;
    badEntries: number;
    fullFetches: number;
    deltaFetches: number;
    hashMismatches: number;
    appsHashcode: string;
  };
  writer: EurekaRemoteWriterStatus;
}

const REGISTRY = 'eureka';

type FetchKind = 'full' | 'delta';

/** Thrown inside a fetch when no server answered; the sync goes stale and retries. */
class Unreachable extends Error {}

export class EurekaRemoteSync {
  private readonly options: EurekaRemoteSyncOptions;
  private readonly logger: Logger;
  private readonly source: string;
  private readonly serviceUrls: string[];
  private readonly fetchIntervalMs: number;
  private readonly requestTimeoutMs: number;
  private readonly now: () => number;
  private readonly writer: EurekaRemoteWriter | null;
  private readonly logOnce = new LogOnce();
  private readonly metrics;
  private readonly redactor: Redactor;

  private snapshot: RemoteSnapshot = new Map();
  /** Apps this sync has published instances of, so an app gone from the remote is emptied. */
  private readonly publishedApps = new Set<string>();
  private needFull = true;
  private stale = false;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<void> | null = null;
  private urlIndex = 0;
  private currentUrl: string | null = null;
  private lastFetchAt: number | null = null;
  private lastFullFetchAt: number | null = null;
  private lastError: string | null = null;
  private counts = { badEntries: 0, fullFetches: 0, deltaFetches: 0, hashMismatches: 0 };

  constructor(options: EurekaRemoteSyncOptions) {
    if (options.serviceUrls.length === 0) {
      throw new MeshBridgeError('CONFIG_INVALID', 'eureka remote sync needs at least one service URL', { value: options.serviceUrls, where: 'eureka.servers' });
    }
    for (const url of options.serviceUrls) {
      if (!/^https?:\/\/[^/]+/.test(url)) throw new MeshBridgeError('CONFIG_INVALID', `not an http(s) Eureka URL: ${url}`, { value: url, where: 'eureka.servers' });
    }
    this.options = options;
    this.logger = options.logger;
    this.source = options.source ?? 'eureka';
    this.serviceUrls = options.serviceUrls.map((u) => (u.endsWith('/') ? u : `${u}/`));
    this.fetchIntervalMs = options.fetchIntervalMs ?? 30_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.now = options.now ?? Date.now;
    this.redactor = options.redactor ?? new Redactor();
    const registry = options.metrics;
    this.metrics = {
      badEntries: counter(registry, 'mesh_bridge_registry_bad_entries_total', 'Registry entries skipped because they could not be read', ['registry', 'reason']),
      stale: gauge(registry, 'mesh_bridge_registry_stale', '1 while a registry is unreachable and its last known state is kept', ['registry']),
      writes: counter(registry, 'mesh_bridge_registry_writes_total', 'Writes made to a registry', ['registry', 'op']),
      writeErrors: counter(registry, 'mesh_bridge_registry_write_errors_total', 'Registry writes that failed (retried)', ['registry', 'op']),
      fetches: counter(registry, 'mesh_bridge_eureka_remote_fetches_total', 'Fetches from remote Eureka servers', ['type', 'result']),
    };
    this.metrics.stale.set({ registry: REGISTRY }, 0);
    this.writer =
      options.register === false
        ? null
        : new EurekaRemoteWriter({
            serviceUrls: this.serviceUrls,
            catalog: options.catalog,
            ledger: options.ledger,
            owner: options.owner,
            logger: this.logger,
            heartbeatIntervalMs: options.heartbeatIntervalMs ?? 30_000,
            requestTimeoutMs: this.requestTimeoutMs,
            exportFilter: options.exportFilter ?? defaultExportFilter,
            now: this.now,
            onWrite: (op) => this.metrics.writes.inc({ registry: REGISTRY, op }),
            onWriteError: (op) => this.metrics.writeErrors.inc({ registry: REGISTRY, op }),
            handout: options.handout,
            meshWeightOf: options.meshWeightOf,
            readSource: this.source,
            remoteStatus: (app, id) => this.snapshot.get(app)?.get(id)?.instance?.status,
            // The bridge routes to the legacy instances it put out of service: publish them as such.
            overrideChanged: (app) => this.publish([app]),
          });
  }

  /**
   * Makes a first full fetch and a first writer pass (registering what should be, deregistering
   * what this owner wrote earlier that is no longer true), then keeps fetching deltas. Never
   * rejects for an unreachable server: the sync starts stale, resolves after the first fetch
   * without waiting for the writer, and keeps trying (see status()).
   */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.runFetch();
    if (this.stale) this.writer?.startInBackground();
    else await this.writer?.start();
    this.arm();
  }

  /**
   * Stops fetching and heartbeats. With `deregister` (default true) withdraws every registration
   * and releases its ledger entry; false leaves them to expire (and to the next start to clean),
   * as a crash would. Read instances stay in the catalog, marked stale.
   */
  async stop(options: { deregister?: boolean } = {}): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.current?.catch(() => undefined);
    await this.writer?.stop(options.deregister ?? true);
    this.setStale(true);
  }

  /** Fetches now (full when due, else a delta) and retries failed writes; resolves when done. */
  async syncNow(): Promise<void> {
    await this.runFetch();
    this.writer?.schedule();
    await this.writer?.idle();
  }

  /** Re-decides how apps are handed out (a weight changed); resolves when written. */
  async weightChanged(): Promise<void> {
    this.writer?.schedule();
    await this.writer?.idle();
  }

  /** Resolves when queued registrations and deregistrations are done. */
  async writerIdle(): Promise<void> {
    await this.writer?.idle();
  }

  status(): EurekaRemoteSyncStatus {
    let instances = 0;
    let own = 0;
    for (const entries of this.snapshot.values()) {
      for (const entry of entries.values()) {
        instances++;
        if (entry.instance !== null && this.isOwn(entry.instance)) own++;
      }
    }
    let published = 0;
    for (const app of this.publishedApps) published += this.options.catalog.instances(app).filter((i) => i.origin.source === this.source).length;
    return {
      serviceUrls: [...this.serviceUrls],
      currentUrl: this.currentUrl,
      source: this.source,
      owner: this.options.owner,
      stale: this.stale,
      lastFetchAt: this.lastFetchAt,
      lastFullFetchAt: this.lastFullFetchAt,
      lastError: this.lastError,
      reader: { apps: this.snapshot.size, instances, published, own, ...this.counts, appsHashcode: snapshotHashcode(this.snapshot) },
      writer: this.writer?.status() ?? { enabled: false, desired: 0, registered: 0, pendingRemovals: 0, overrides: 0, inSync: true },
    };
  }

  private arm(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runFetch().then(() => {
        this.writer?.schedule();
        this.arm();
      });
    }, this.fetchIntervalMs);
  }

  /** One fetch at a time; never rejects. */
  private runFetch(): Promise<void> {
    this.current ??= this.fetchOnce().finally(() => {
      this.current = null;
    });
    return this.current;
  }

  private async fetchOnce(): Promise<void> {
    const kind: FetchKind = this.needFull ? 'full' : 'delta';
    try {
      if (kind === 'full') await this.fullFetch();
      else await this.deltaFetch();
      this.metrics.fetches.inc({ type: kind, result: 'ok' });
      this.lastError = null;
      this.lastFetchAt = this.now();
      this.setStale(false);
    } catch (err) {
      if (err instanceof Unreachable) {
        this.metrics.fetches.inc({ type: kind, result: 'unreachable' });
        this.lastError = err.message;
        // Self-preservation: keep everything, marked stale; a full fetch on recovery.
        if (!this.stale) this.logger.warn({ registry: REGISTRY, err: err.message }, 'remote Eureka unreachable; keeping the last known state, marked stale');
        this.needFull = true;
        this.setStale(true);
      } else if (err instanceof MeshBridgeError && err.code === 'EUREKA_BAD_PAYLOAD') {
        this.metrics.fetches.inc({ type: kind, result: 'bad_payload' });
        this.lastError = err.message;
        this.countBad('malformed_response', `${this.currentUrl ?? ''}|${kind}`, { value: err.value, where: err.where, message: err.message });
        // The last state is kept; the next fetch is a full one.
        this.needFull = true;
      } else {
        this.metrics.fetches.inc({ type: kind, result: 'error' });
        this.lastError = (err as Error).message;
        this.logger.error({ registry: REGISTRY, err }, 'remote Eureka fetch failed');
        this.needFull = true;
      }
    }
  }

  private async fullFetch(): Promise<void> {
    const apps = await this.get('apps');
    this.counts.fullFetches++;
    const { snapshot, bad } = snapshotFromFull(apps, this.now());
    this.reportBad(bad);
    const changed = changedAppsBetween(this.snapshot, snapshot);
    this.snapshot = snapshot;
    this.needFull = false;
    this.lastFullFetchAt = this.now();
    // After a restart or an outage: every app this source still has in the catalog is checked too.
    this.publish(new Set([...changed, ...this.publishedApps, ...this.catalogApps()]));
  }

  private async deltaFetch(): Promise<void> {
    const delta = await this.get('apps/delta');
    this.counts.deltaFetches++;
    const { snapshot, changedApps, bad } = applyDelta(this.snapshot, delta, this.now());
    this.reportBad(bad);
    if (!hashcodesMatch(snapshot, delta.appsHashcode)) {
      this.counts.hashMismatches++;
      this.logger.debug({ registry: REGISTRY, local: snapshotHashcode(snapshot), remote: delta.appsHashcode }, 'Eureka delta hash code mismatch; fetching everything');
      await this.fullFetch();
      return;
    }
    this.snapshot = snapshot;
    this.publish(changedApps);
  }

  private publish(apps: Iterable<string>): void {
    // A fixed registry name: failing over to another server must not look like every instance changing.
    const origin = { source: this.source, registry: 'remote' };
    for (const app of apps) {
      // A legacy instance this bridge put OUT_OF_SERVICE (so that callers go through the bridge) is
      // still one the bridge may send calls to.
      const instances = appToCatalog(this.snapshot, app, origin, (i) => this.isOwn(i)).map((i) => {
        const labels = this.redactor.labels(i.labels) as Record<string, string>;
        const health = i.health === 'out_of_service' && this.options.ledger.isOwned('eureka', overrideLedgerKey(i.service, i.id)) ? 'up' : i.health;
        return labels === i.labels && health === i.health ? i : { ...i, labels, health };
      });
      this.options.catalog.replaceSource(this.source, app, instances);
      if (instances.length > 0) this.publishedApps.add(app);
      else this.publishedApps.delete(app);
    }
  }

  /** Services that have instances of this source in the catalog (e.g. left by an earlier run). */
  private catalogApps(): string[] {
    return this.options.catalog.serviceNames().filter((s) => this.options.catalog.instances(s).some((i) => i.origin.source === this.source));
  }

  /** Written by a bridge: the ledger says so, or (second line) the owner tag is on it. */
  private isOwn(instance: EurekaInstance): boolean {
    // A bridge's entry for an app it hands out (bridge-handout.ts) is never an instance of the app.
    return (
      this.options.ledger.isOwned('eureka', eurekaLedgerKey(instance.app, instance.instanceId)) ||
      instance.metadata[EUREKA_OWNER_TAG] !== undefined ||
      instance.metadata[HANDOUT_TAG] !== undefined
    );
  }

  /** GETs a path from the first server that answers, starting with the last good one. */
  private async get(path: string): Promise<RemoteApplications> {
    const failures: string[] = [];
    for (let attempt = 0; attempt < this.serviceUrls.length; attempt++) {
      const index = (this.urlIndex + attempt) % this.serviceUrls.length;
      const base = this.serviceUrls[index] as string;
      let text: string;
      try {
        const response = await request(`${base}${path}`, {
          method: 'GET',
          headers: { accept: 'application/json' },
          headersTimeout: this.requestTimeoutMs,
          bodyTimeout: this.requestTimeoutMs,
        });
        text = await response.body.text();
        if (response.statusCode < 200 || response.statusCode >= 300) {
          failures.push(`${base}${path}: HTTP ${response.statusCode}`);
          continue;
        }
      } catch (err) {
        failures.push(`${base}${path}: ${(err as Error).message}`);
        continue;
      }
      this.urlIndex = index;
      this.currentUrl = base;
      return parseApplicationsJson(text);
    }
    throw new Unreachable(`no Eureka server answered: ${failures.join('; ')}`);
  }

  private setStale(stale: boolean): void {
    if (this.stale === stale) return;
    this.stale = stale;
    this.metrics.stale.set({ registry: REGISTRY }, stale ? 1 : 0);
    this.options.catalog.setSourceStale(this.source, stale);
  }

  private reportBad(bad: RemoteBadInstance[]): void {
    for (const b of bad) this.countBad('malformed_instance', `${b.app}|${b.id}|${b.field}`, { app: b.app, id: b.id, where: b.field, value: b.value, message: b.message });
  }

  private countBad(reason: string, key: string, details: Record<string, unknown> & { message: string }): void {
    this.counts.badEntries++;
    this.metrics.badEntries.inc({ registry: REGISTRY, reason });
    if (this.logOnce.first(`${reason}|${key}`)) {
      const { message, ...rest } = details;
      this.logger.warn({ registry: REGISTRY, reason, ...rest }, `skipped a bad remote Eureka entry: ${message}`);
    }
  }
}
