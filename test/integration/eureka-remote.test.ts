// EurekaRemoteSync against a Eureka-compatible server over HTTP: our embedded server (there is no
// real Eureka here) with real eureka-js-client peers registering into it and fetching from it.
// Full fetch then deltas, registration with heartbeats, no echo of our own writes, outages,
// malformed answers and restarts.
import { AddressInfo } from 'node:net';
import { Server } from 'node:http';
import express from 'express';
import { Catalog, Instance, instanceDefaults, MemoryOwnershipLedger } from '../../src/catalog';
import { EmbeddedEureka, EmbeddedEurekaOptions } from '../../src/eureka-sync/embedded-eureka';
import { createEurekaRouter } from '../../src/eureka-sync/eureka-server';
import { EurekaRemoteSync, EurekaRemoteSyncOptions } from '../../src/eureka-sync/eureka-remote';
import { EurekaInstance } from '../../src/eureka-sync/eureka-instance';
import { RegistrationPolicy } from '../../src/eureka-sync/registration-policy';
import { REDACTED, Redactor } from '../../src/telemetry/redact';
import { silentLogger } from '../../src/telemetry/logger';
import { metricValue, Registry } from '../../src/telemetry/metrics';
import { startEurekaClient, StartedEurekaClient } from '../support/eureka-client';
import { waitFor } from '../support/wait';

interface Remote {
  port: number;
  url: string;
  eureka: EmbeddedEureka;
  /** Stops answering (connections refused) while keeping the registry. */
  pause(): Promise<void>;
  /** Listens again on the same port. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function listen(app: express.Express, port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = app.listen(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

async function startRemote(options: Partial<EmbeddedEurekaOptions> = {}): Promise<Remote> {
  const eureka = new EmbeddedEureka({ catalog: new Catalog(), metrics: new Registry(), ...options });
  eureka.start();
  const app = express();
  app.use(createEurekaRouter(eureka));
  let server: Server | null = await listen(app);
  const port = (server.address() as AddressInfo).port;
  const remote: Remote = {
    port,
    url: `http://127.0.0.1:${port}/eureka/`,
    eureka,
    pause: async () => {
      if (server !== null) await closeServer(server);
      server = null;
    },
    resume: async () => {
      server ??= await listen(app, port);
    },
    close: async () => {
      eureka.stop();
      await remote.pause();
    },
  };
  cleanups.push(remote.close);
  return remote;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Bridge {
  catalog: Catalog;
  ledger: MemoryOwnershipLedger;
  metrics: Registry;
  sync: EurekaRemoteSync;
}

function newSync(options: Partial<EurekaRemoteSyncOptions> & Pick<EurekaRemoteSyncOptions, 'serviceUrls'>, catalog = new Catalog(), ledger = new MemoryOwnershipLedger('bridge-1')): Bridge {
  const metrics = new Registry();
  const sync = new EurekaRemoteSync({
    catalog,
    ledger,
    owner: 'bridge-1',
    metrics,
    logger: silentLogger(),
    fetchIntervalMs: 100,
    heartbeatIntervalMs: 200,
    requestTimeoutMs: 1000,
    ...options,
  });
  cleanups.push(() => sync.stop());
  return { catalog, ledger, metrics, sync };
}

async function startClient(remote: Remote, app: string, instanceId: string, metadata: Record<string, string> = {}): Promise<StartedEurekaClient> {
  const client = await startEurekaClient({ port: remote.port, app, instanceId, instancePort: 8080, metadata });
  cleanups.push(() => client.stop());
  return client;
}

function meshInstance(service: string, id: string, port: number, extra: Partial<Instance> = {}): Instance {
  return { ...instanceDefaults(), id, service, protocol: 'http', host: '10.1.0.5', port, stack: 'mesh', origin: { source: 'mesh' }, ...extra };
}

function remoteEureka(catalog: Catalog, service: string): Instance[] {
  return catalog.instances(service).filter((i) => i.origin.source === 'eureka');
}

function registered(remote: Remote, app: string): EurekaInstance[] {
  return remote.eureka.registry.registeredInstances(app);
}

describe('EurekaRemoteSync', () => {
  it('reads a full fetch, then deltas: add, modify metadata, delete', async () => {
    const remote = await startRemote();
    const orders = await startClient(remote, 'orders', 'orders-1', { version: '1.0' });
    const { catalog, sync } = newSync({ serviceUrls: [remote.url], register: false });
    await sync.start();
    expect(remoteEureka(catalog, 'ORDERS')).toEqual([expect.objectContaining({ id: 'orders-1', version: '1.0', port: 8080, health: 'up', stack: 'legacy' })]);

    await startClient(remote, 'stock', 'stock-1');
    await waitFor('STOCK added by a delta', () => remoteEureka(catalog, 'STOCK').length === 1);

    // Metadata changed on the server (an operator, or the client re-registering).
    const held = registered(remote, 'ORDERS')[0] as EurekaInstance;
    remote.eureka.register({ ...held, metadata: { version: '2.0', group: 'blue', weight: '40', zone: 'a' }, lastDirtyTimestamp: held.lastDirtyTimestamp + 1 });
    await waitFor('ORDERS modified', () => remoteEureka(catalog, 'ORDERS')[0]?.version === '2.0');
    expect(remoteEureka(catalog, 'ORDERS')[0]).toEqual(expect.objectContaining({ group: 'blue', weight: 40, labels: { zone: 'a' } }));

    // Status propagates.
    remote.eureka.setStatusOverride('ORDERS', 'orders-1', 'OUT_OF_SERVICE');
    await waitFor('ORDERS out of service', () => remoteEureka(catalog, 'ORDERS')[0]?.health === 'out_of_service');

    await orders.stop();
    await waitFor('ORDERS deleted by a delta', () => remoteEureka(catalog, 'ORDERS').length === 0);
    expect(remoteEureka(catalog, 'STOCK')).toHaveLength(1);
    const status = sync.status();
    expect(status.reader.deltaFetches).toBeGreaterThan(0);
    expect(status.reader.fullFetches).toBe(1);
    expect(status.reader.hashMismatches).toBe(0);
    expect(status.stale).toBe(false);
  });

  it('never puts secret-looking metadata of an external server into the catalog', async () => {
    // A server that shows secrets (a real Eureka does).
    const remote = await startRemote({ policy: new RegistrationPolicy({ redactor: new Redactor([]) }) });
    await startClient(remote, 'orders', 'orders-1', { 'db.password': 'hunter2', zone: 'a' });
    const { catalog, sync } = newSync({ serviceUrls: [remote.url], register: false });
    await sync.start();
    expect(remoteEureka(catalog, 'ORDERS')[0]?.labels).toEqual({ 'db.password': REDACTED, zone: 'a' });
  });

  it('falls back to a full fetch when the delta hash code does not match', async () => {
    // A server whose deltas forget at once: a change shows only in the hash code.
    const remote = await startRemote({ deltaRetentionMs: 1 });
    await startClient(remote, 'orders', 'orders-1');
    const { catalog, sync } = newSync({ serviceUrls: [remote.url], register: false });
    await sync.start();
    const held = registered(remote, 'ORDERS')[0] as EurekaInstance;
    remote.eureka.register({ ...held, instanceId: 'orders-9', status: 'DOWN' });
    await waitFor('the full fetch after a mismatch', () => sync.status().reader.hashMismatches > 0);
    await waitFor('orders-9 read', () => remoteEureka(catalog, 'ORDERS').some((i) => i.id === 'orders-9' && i.health === 'down'));
    expect(sync.status().reader.fullFetches).toBeGreaterThan(1);
  });

  it('registers mesh instances with heartbeats, re-registers changes, deregisters removals, and never reads them back', async () => {
    const remote = await startRemote();
    const { catalog, ledger, sync, metrics } = newSync({ serviceUrls: [remote.url] });
    catalog.upsert(meshInstance('payments', 'payments-1', 9000, { version: '3.0', weight: 50, labels: { team: 'pay' } }));
    catalog.upsert(meshInstance('legacy-dubbo', '10.1.0.5:20880', 20880, { protocol: 'dubbo' }));
    await sync.start();
    await sync.writerIdle();

    const [held] = registered(remote, 'PAYMENTS');
    expect(held).toEqual(expect.objectContaining({ instanceId: 'payments-1', ipAddr: '10.1.0.5', status: 'UP', port: { port: 9000, enabled: true } }));
    expect(held?.metadata).toEqual(expect.objectContaining({ version: '3.0', weight: '50', team: 'pay', 'mesh-bridge.owner': 'bridge-1' }));
    expect(registered(remote, 'LEGACY-DUBBO')).toEqual([]);
    expect(ledger.ownedBy('bridge-1', 'eureka').map((e) => e.key)).toEqual(['PAYMENTS/payments-1']);

    // A real Eureka client finds it.
    const watcher = await startClient(remote, 'watcher', 'watcher-1');
    await waitFor('eureka-js-client sees PAYMENTS', () => watcher.instances('PAYMENTS').length === 1);
    expect(watcher.instances('PAYMENTS')[0]).toEqual(expect.objectContaining({ instanceId: 'payments-1', ipAddr: '10.1.0.5' }));

    // Heartbeats keep the lease.
    const renewedAt = remote.eureka.instance('PAYMENTS', 'payments-1')?.lease.lastRenewalTimestamp ?? 0;
    await waitFor('a heartbeat', () => (remote.eureka.instance('PAYMENTS', 'payments-1')?.lease.lastRenewalTimestamp ?? 0) > renewedAt);

    // A heartbeat answered 404 (the server lost it) registers it again.
    remote.eureka.cancel('PAYMENTS', 'payments-1');
    await waitFor('re-registered after a 404', () => registered(remote, 'PAYMENTS').length === 1);

    // Our own registration is never read back, even with its metadata stripped on the server.
    await sync.syncNow();
    expect(remoteEureka(catalog, 'PAYMENTS')).toEqual([]);
    const now = registered(remote, 'PAYMENTS')[0] as EurekaInstance;
    remote.eureka.register({ ...now, metadata: {}, lastDirtyTimestamp: now.lastDirtyTimestamp + 1 });
    expect(registered(remote, 'PAYMENTS')[0]?.metadata).toEqual({});
    await sync.syncNow();
    await sleep(250);
    expect(remoteEureka(catalog, 'PAYMENTS')).toEqual([]);
    expect(sync.status().reader.own).toBe(1);

    // A change in the catalog re-registers with the new data.
    catalog.upsert(meshInstance('payments', 'payments-1', 9000, { version: '3.1', weight: 70, health: 'down', labels: { team: 'pay' } }));
    await waitFor('re-registered with new metadata', () => registered(remote, 'PAYMENTS')[0]?.metadata.version === '3.1');
    expect(registered(remote, 'PAYMENTS')[0]).toEqual(expect.objectContaining({ status: 'DOWN', metadata: expect.objectContaining({ weight: '70' }) }));

    // Removed from the catalog: deregistered and released.
    catalog.remove('mesh', 'payments', 'payments-1');
    await waitFor('deregistered', () => registered(remote, 'PAYMENTS').length === 0);
    await sync.writerIdle();
    expect(ledger.ownedBy('bridge-1', 'eureka')).toEqual([]);
    expect(await metricValue(metrics, 'mesh_bridge_registry_writes_total', { registry: 'eureka', op: 'deregister' })).toBe(1);
    expect(remoteEureka(catalog, 'WATCHER')).toHaveLength(1);
  });

  it('keeps the last known state, marked stale, while the server is down, then resumes without loss or duplicates', async () => {
    const remote = await startRemote();
    const { catalog, sync, metrics } = newSync({ serviceUrls: [remote.url] });
    const held: EurekaInstance = {
      instanceId: 'orders-1',
      app: 'ORDERS',
      hostName: '10.2.0.1',
      ipAddr: '10.2.0.1',
      status: 'UP',
      overriddenStatus: 'UNKNOWN',
      port: { port: 8080, enabled: true },
      securePort: { port: 443, enabled: false },
      countryId: 1,
      dataCenterInfo: { className: 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
      renewalIntervalInSecs: 30,
      durationInSecs: 90,
      metadata: {},
      lastDirtyTimestamp: Date.now(),
      lastUpdatedTimestamp: Date.now(),
    };
    remote.eureka.register(held);
    catalog.upsert(meshInstance('payments', 'payments-1', 9000));
    await sync.start();
    await sync.writerIdle();
    expect(remoteEureka(catalog, 'ORDERS')).toHaveLength(1);
    expect(registered(remote, 'PAYMENTS')).toHaveLength(1);

    await remote.pause();
    await waitFor('stale', async () => (await metricValue(metrics, 'mesh_bridge_registry_stale', { registry: 'eureka' })) === 1);
    expect(remoteEureka(catalog, 'ORDERS')).toEqual([expect.objectContaining({ id: 'orders-1', stale: true })]);
    expect(sync.status().stale).toBe(true);
    // A catalog change while down is retried, not lost.
    catalog.upsert(meshInstance('payments', 'payments-2', 9001));
    await sleep(300);
    expect(remoteEureka(catalog, 'ORDERS')).toHaveLength(1);

    await remote.resume();
    await waitFor('fresh again', async () => (await metricValue(metrics, 'mesh_bridge_registry_stale', { registry: 'eureka' })) === 0);
    expect(remoteEureka(catalog, 'ORDERS')).toEqual([expect.objectContaining({ id: 'orders-1' })]);
    expect(remoteEureka(catalog, 'ORDERS')[0]?.stale).toBeUndefined();
    await waitFor('payments-2 registered after recovery', () => registered(remote, 'PAYMENTS').length === 2);
    await sync.writerIdle();
    expect(registered(remote, 'PAYMENTS').map((i) => i.instanceId).sort()).toEqual(['payments-1', 'payments-2']);
    expect(catalog.instances('PAYMENTS')).toEqual([]);
    expect(catalog.instances('payments')).toHaveLength(2);
  });

  it('starts stale when no server answers, and catches up when one does', async () => {
    const remote = await startRemote();
    await remote.pause();
    const { catalog, sync, metrics } = newSync({ serviceUrls: [remote.url] });
    catalog.upsert(meshInstance('payments', 'payments-1', 9000));
    await sync.start();
    expect(sync.status().stale).toBe(true);
    expect(await metricValue(metrics, 'mesh_bridge_registry_stale', { registry: 'eureka' })).toBe(1);
    await remote.resume();
    await waitFor('registered once the server answers', () => registered(remote, 'PAYMENTS').length === 1);
    await waitFor('fresh', () => !sync.status().stale);
  });

  it('keeps the last state on a malformed answer, skips malformed instances, and fails over', async () => {
    const good = {
      applications: {
        versions__delta: '1',
        apps__hashcode: 'UP_2_',
        application: [
          {
            name: 'ORDERS',
            instance: [
              { instanceId: 'orders-1', app: 'ORDERS', hostName: 'h', ipAddr: '10.3.0.1', status: 'UP', port: { $: 8080, '@enabled': 'true' }, dataCenterInfo: { name: 'MyOwn' } },
              { instanceId: 'orders-2', app: 'ORDERS', hostName: 'h', ipAddr: '10.3.0.2', status: 'UP', port: { $: 'eighty' }, dataCenterInfo: { name: 'MyOwn' } },
            ],
          },
        ],
      },
    };
    let broken = false;
    const app = express();
    app.get(['/eureka/apps', '/eureka/apps/delta'], (_req, res) => {
      if (broken) res.type('application/json').send('{"applications": <html>oops');
      else res.json(good);
    });
    const server = await listen(app);
    cleanups.push(() => closeServer(server));
    // The first URL refuses connections: the sync fails over to the second.
    const dead = await listen(express());
    const deadPort = (dead.address() as AddressInfo).port;
    await closeServer(dead);
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/eureka/`;
    const { catalog, sync, metrics } = newSync({ serviceUrls: [`http://127.0.0.1:${deadPort}/eureka/`, url], register: false });
    await sync.start();
    expect(sync.status().currentUrl).toBe(url);
    expect(remoteEureka(catalog, 'ORDERS').map((i) => i.id)).toEqual(['orders-1']);
    expect(await metricValue(metrics, 'mesh_bridge_registry_bad_entries_total', { registry: 'eureka', reason: 'malformed_instance' })).toBeGreaterThan(0);

    broken = true;
    await waitFor('a malformed response counted', async () => (await metricValue(metrics, 'mesh_bridge_registry_bad_entries_total', { registry: 'eureka', reason: 'malformed_response' })) >= 2);
    expect(remoteEureka(catalog, 'ORDERS')).toEqual([expect.objectContaining({ id: 'orders-1' })]);
    expect(remoteEureka(catalog, 'ORDERS')[0]?.stale).toBeUndefined();
    expect(sync.status().lastError).toMatch(/not JSON/);

    broken = false;
    await waitFor('recovered', () => sync.status().lastError === null);
    expect(remoteEureka(catalog, 'ORDERS').map((i) => i.id)).toEqual(['orders-1']);
  });

  it('after a restart removes what it wrote that is no longer true and duplicates nothing', async () => {
    const remote = await startRemote();
    const catalog = new Catalog();
    const ledger = new MemoryOwnershipLedger('bridge-1');
    catalog.upsert(meshInstance('payments', 'payments-1', 9000));
    catalog.upsert(meshInstance('payments', 'payments-2', 9001));
    catalog.upsert(meshInstance('billing', 'billing-1', 9100));
    const first = newSync({ serviceUrls: [remote.url] }, catalog, ledger);
    await first.sync.start();
    await first.sync.writerIdle();
    expect(registered(remote, 'PAYMENTS')).toHaveLength(2);
    // A crash: nothing withdrawn.
    await first.sync.stop({ deregister: false });
    expect(registered(remote, 'PAYMENTS')).toHaveLength(2);

    // While it was down: payments-2 and billing went away, payments-1 changed, shipping arrived.
    catalog.remove('mesh', 'payments', 'payments-2');
    catalog.remove('mesh', 'billing', 'billing-1');
    catalog.upsert(meshInstance('payments', 'payments-1', 9000, { version: '2.0' }));
    catalog.upsert(meshInstance('shipping', 'shipping-1', 9200));

    const second = newSync({ serviceUrls: [remote.url] }, catalog, ledger);
    await second.sync.start();
    await second.sync.writerIdle();
    expect(registered(remote, 'PAYMENTS').map((i) => [i.instanceId, i.metadata.version])).toEqual([['payments-1', '2.0']]);
    expect(registered(remote, 'BILLING')).toEqual([]);
    expect(registered(remote, 'SHIPPING')).toHaveLength(1);
    expect(ledger.ownedBy('bridge-1', 'eureka').map((e) => e.key).sort()).toEqual(['PAYMENTS/payments-1', 'SHIPPING/shipping-1']);
    // Nothing of ours came back into the catalog as a Eureka instance.
    expect(catalog.instances('PAYMENTS')).toEqual([]);
    expect(second.sync.status().writer).toEqual(expect.objectContaining({ desired: 2, registered: 2, pendingRemovals: 0, inSync: true }));
  });
});
