// The embedded Eureka server against a real eureka-js-client (both service paths, full and
// delta fetches) and against plain HTTP for what that client never sends: XML, status
// overrides, malformed bodies, lease expiry and self-preservation.
import { Instance, instanceDefaults } from '../../src/catalog';
import type { EmbeddedEurekaOptions } from '../../src/eureka-sync/embedded-eureka';
import { metricValue } from '../../src/telemetry/metrics';
import { waitFor } from '../support/wait';
import { EmbeddedEurekaHarness, startEmbeddedEureka } from '../support/embedded-eureka';

// eureka-js-client ships no types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const { Eureka } = require('eureka-js-client') as { Eureka: new (config: Record<string, unknown>) => any };

interface Harness extends EmbeddedEurekaHarness {
  /** `METHOD path` of every request the server received. */
  requests: string[];
}

const running: Harness[] = [];

async function startServer(options: Partial<EmbeddedEurekaOptions> = {}): Promise<Harness> {
  const requests: string[] = [];
  const harness = {
    ...(await startEmbeddedEureka(options, (req, _res, next) => {
      requests.push(`${req.method} ${req.path}`);
      next();
    })),
    requests,
  };
  running.push(harness);
  return harness;
}

afterEach(async () => {
  for (const harness of running.splice(0)) await harness.close();
});

function meshInstance(service: string, id: string, host: string, port: number): Instance {
  return { ...instanceDefaults(), id, service, protocol: 'http', host, port, stack: 'mesh', origin: { source: 'mesh' } };
}

const quietLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** A real eureka-js-client, with intervals short enough for a test. */
function jsClient(port: number, servicePath: string, extra: Record<string, unknown> = {}) {
  return new Eureka({
    logger: quietLogger,
    instance: {
      app: 'orders-js',
      instanceId: 'orders-js-1',
      hostName: '127.0.0.1',
      ipAddr: '127.0.0.1',
      port: { $: 3001, '@enabled': true },
      vipAddress: 'orders-js',
      metadata: { version: '2.0.0', zone: 'a' },
      dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
    },
    eureka: { host: '127.0.0.1', port, servicePath, heartbeatInterval: 100, registryFetchInterval: 100, maxRetries: 0, preferIpAddress: true },
    ...extra,
  });
}

function start(client: { start(cb: (err?: Error) => void): void }): Promise<void> {
  return new Promise((resolve, reject) => client.start((err) => (err ? reject(err) : resolve())));
}

function stop(client: { stop(cb: (err?: Error) => void): void }): Promise<void> {
  return new Promise((resolve, reject) => client.stop((err) => (err ? reject(err) : resolve())));
}

/** A registration body as Spring Cloud posts it. */
function springBody(app: string, id: string, overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    instance: {
      instanceId: id,
      app,
      hostName: '10.9.0.1',
      ipAddr: '10.9.0.1',
      status: 'UP',
      overriddenStatus: 'UNKNOWN',
      port: { $: 8080, '@enabled': 'true' },
      securePort: { $: 443, '@enabled': 'false' },
      vipAddress: app.toLowerCase(),
      dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
      leaseInfo: { renewalIntervalInSecs: 30, durationInSecs: 90 },
      metadata: { weight: '30' },
      ...overrides,
    },
  });
}

async function register(base: string, app: string, id: string, overrides: Record<string, unknown> = {}, path = '/eureka/apps'): Promise<Response> {
  return fetch(`${base}${path}/${app}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: springBody(app, id, overrides) });
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { headers: { Accept: 'application/json' } });
  return { status: res.status, body: res.status === 200 ? ((await res.json()) as Record<string, unknown>) : {} };
}

describe('embedded Eureka with eureka-js-client', () => {
  it.each(['/eureka/v2/apps/', '/eureka/apps/'])('registers, heartbeats, fetches other sources and deregisters at %s', async (servicePath) => {
    const { port, catalog, requests } = await startServer();
    catalog.upsert(meshInstance('inventory', 'inv-1', '10.2.0.1', 8081));
    const client = jsClient(port, servicePath);
    const heartbeats: number[] = [];
    client.on('heartbeat', () => heartbeats.push(Date.now()));
    await start(client);
    try {
      // The registration reaches the catalog as source eureka, with metadata mapped.
      const [published] = catalog.instances('ORDERS-JS');
      expect(published).toMatchObject({ id: 'orders-js-1', host: '127.0.0.1', port: 3001, protocol: 'http', version: '2.0.0', labels: { zone: 'a' } });
      expect(published?.origin.source).toBe('eureka-embedded');
      // The client sees the mesh instance the catalog holds, and itself.
      const inventory = client.getInstancesByAppId('INVENTORY') as Array<{ ipAddr: string; port: { $: number } }>;
      expect(inventory.map((i) => [i.ipAddr, i.port.$])).toEqual([['10.2.0.1', 8081]]);
      expect(client.getInstancesByVipAddress('orders-js')).toHaveLength(1);
      await waitFor('two heartbeats', () => heartbeats.length >= 2);
      // A catalog change after start reaches the client's next fetch.
      catalog.upsert(meshInstance('inventory', 'inv-2', '10.2.0.2', 8081));
      await waitFor('the new inventory instance', () => client.getInstancesByAppId('INVENTORY').length === 2);
    } finally {
      await stop(client);
    }
    expect(catalog.instances('ORDERS-JS')).toEqual([]);
    expect(requests).toEqual(
      expect.arrayContaining([`POST ${servicePath}orders-js`, `PUT ${servicePath}orders-js/orders-js-1`, `GET ${servicePath}`, `DELETE ${servicePath}orders-js/orders-js-1`]),
    );
  });

  it('keeps a delta-fetching client in step, additions and removals', async () => {
    const { port, catalog, requests } = await startServer();
    const client = jsClient(port, '/eureka/v2/apps/', { shouldUseDelta: true });
    await start(client);
    try {
      catalog.upsert(meshInstance('payments', 'pay-1', '10.3.0.1', 9000));
      await waitFor('the payments instance by delta', () => (client.cache.app.PAYMENTS ?? []).length === 1);
      catalog.remove('mesh', 'payments', 'pay-1');
      await waitFor('the payments instance gone by delta', () => (client.cache.app.PAYMENTS ?? []).length === 0);
    } finally {
      await stop(client);
    }
    // One full fetch at start, deltas after it.
    expect(requests.filter((r) => r === 'GET /eureka/v2/apps/')).toHaveLength(1);
    expect(requests.filter((r) => r === 'GET /eureka/v2/apps/delta').length).toBeGreaterThan(1);
  });

  it('makes a client re-register after its lease was lost', async () => {
    const { port, eureka, catalog } = await startServer();
    const client = jsClient(port, '/eureka/apps/');
    const registered: number[] = [];
    client.on('registered', () => registered.push(Date.now()));
    await start(client);
    try {
      expect(eureka.cancel('ORDERS-JS', 'orders-js-1')).toBe(true);
      expect(catalog.instances('ORDERS-JS')).toEqual([]);
      // The next heartbeat gets a 404 and the client registers again.
      await waitFor('a second registration', () => registered.length >= 2);
      expect(catalog.instances('ORDERS-JS')).toHaveLength(1);
    } finally {
      await stop(client);
    }
  });
});

describe('embedded Eureka over HTTP', () => {
  it('answers XML without Accept: application/json, and JSON with it', async () => {
    const { base } = await startServer();
    expect((await register(base, 'ORDERS', 'o-1')).status).toBe(204);
    const xml = await fetch(`${base}/eureka/apps`);
    expect(xml.headers.get('content-type')).toContain('application/xml');
    const text = await xml.text();
    expect(text).toContain('<applications><versions__delta>1</versions__delta><apps__hashcode>UP_1_</apps__hashcode>');
    expect(text).toContain('<port enabled="true">8080</port>');
    const json = await getJson(`${base}/eureka/v2/apps/`);
    expect(json.body).toMatchObject({ applications: { apps__hashcode: 'UP_1_', application: [{ name: 'ORDERS', instance: [{ instanceId: 'o-1' }] }] } });
    // One app and one instance, trailing slashes and lower case tolerated.
    expect((await getJson(`${base}/eureka/apps/orders/`)).body).toMatchObject({ application: { name: 'ORDERS' } });
    expect((await getJson(`${base}/eureka/apps/ORDERS/o-1`)).body).toMatchObject({ instance: { app: 'ORDERS', port: { $: 8080, '@enabled': 'true' } } });
    expect((await fetch(`${base}/eureka/apps/ORDERS/o-1`)).headers.get('content-type')).toContain('xml');
    expect((await getJson(`${base}/eureka/apps/NOPE`)).status).toBe(404);
    expect((await getJson(`${base}/eureka/apps/ORDERS/nope`)).status).toBe(404);
  });

  it('accepts an XML registration', async () => {
    const { base, catalog } = await startServer();
    const xml =
      '<?xml version="1.0" encoding="UTF-8"?><instance><instanceId>b-1</instanceId><hostName>h</hostName><app>BILLING</app>' +
      '<ipAddr>10.4.0.1</ipAddr><status>UP</status><port enabled="true">7070</port><securePort enabled="false">443</securePort>' +
      '<dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"><name>MyOwn</name></dataCenterInfo>' +
      '<metadata><group>blue</group></metadata></instance>';
    const res = await fetch(`${base}/eureka/apps/BILLING`, { method: 'POST', headers: { 'Content-Type': 'application/xml' }, body: xml });
    expect(res.status).toBe(204);
    expect(catalog.instances('BILLING')).toMatchObject([{ id: 'b-1', host: '10.4.0.1', port: 7070, group: 'blue' }]);
  });

  it('answers a heartbeat for an unknown instance with 404, a known one with 200', async () => {
    const { base } = await startServer();
    expect((await fetch(`${base}/eureka/apps/ORDERS/ghost`, { method: 'PUT' })).status).toBe(404);
    await register(base, 'ORDERS', 'o-1');
    const ok = await fetch(`${base}/eureka/apps/ORDERS/o-1?status=UP&lastDirtyTimestamp=1`, { method: 'PUT' });
    expect(ok.status).toBe(200);
    // A client with newer data than the server is told to register again.
    const dirty = await fetch(`${base}/eureka/apps/ORDERS/o-1?status=UP&lastDirtyTimestamp=${Date.now() + 60_000}`, { method: 'PUT' });
    expect(dirty.status).toBe(404);
    expect((await fetch(`${base}/eureka/apps/ORDERS/o-1`, { method: 'DELETE' })).status).toBe(200);
    expect((await fetch(`${base}/eureka/apps/ORDERS/o-1`, { method: 'DELETE' })).status).toBe(404);
  });

  it('applies and removes a status override, and the catalog follows', async () => {
    const { base, catalog } = await startServer();
    await register(base, 'ORDERS', 'o-1');
    const put = await fetch(`${base}/eureka/apps/ORDERS/o-1/status?value=OUT_OF_SERVICE`, { method: 'PUT' });
    expect(put.status).toBe(200);
    expect(catalog.instances('ORDERS')[0]?.health).toBe('out_of_service');
    // A heartbeat saying UP does not lift it.
    await fetch(`${base}/eureka/apps/ORDERS/o-1?status=UP`, { method: 'PUT' });
    expect((await getJson(`${base}/eureka/apps/ORDERS/o-1`)).body).toMatchObject({ instance: { status: 'OUT_OF_SERVICE', overriddenStatus: 'OUT_OF_SERVICE' } });
    const del = await fetch(`${base}/eureka/apps/ORDERS/o-1/status?value=UP`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect(catalog.instances('ORDERS')[0]?.health).toBe('up');
    expect((await fetch(`${base}/eureka/apps/ORDERS/ghost/status?value=UP`, { method: 'PUT' })).status).toBe(404);
    const bad = await fetch(`${base}/eureka/apps/ORDERS/o-1/status?value=ASLEEP`, { method: 'PUT' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'EUREKA_BAD_PAYLOAD', where: 'value' });
  });

  it('serves a delta whose hash code matches the full registry', async () => {
    const { base, catalog } = await startServer();
    await register(base, 'ORDERS', 'o-1');
    await register(base, 'ORDERS', 'o-2');
    await fetch(`${base}/eureka/apps/ORDERS/o-2/status?value=OUT_OF_SERVICE`, { method: 'PUT' });
    catalog.upsert({ ...meshInstance('inventory', 'inv-1', '10.2.0.1', 8081), health: 'down' });
    await fetch(`${base}/eureka/apps/ORDERS/o-1`, { method: 'DELETE' });
    const full = (await getJson(`${base}/eureka/apps/`)).body.applications as Record<string, unknown>;
    const delta = (await getJson(`${base}/eureka/apps/delta`)).body.applications as Record<string, unknown>;
    expect(full.apps__hashcode).toBe('DOWN_1_OUT_OF_SERVICE_1_');
    expect(delta.apps__hashcode).toBe(full.apps__hashcode);
    expect(delta.versions__delta).toBe(full.versions__delta);
    const actions = (delta.application as Array<{ name: string; instance: Array<{ instanceId: string; actionType: string }> }>).flatMap((a) =>
      a.instance.map((i) => `${a.name}/${i.instanceId}:${i.actionType}`),
    );
    expect(actions.sort()).toEqual(['INVENTORY/inv-1:ADDED', 'ORDERS/o-1:DELETED', 'ORDERS/o-2:MODIFIED']);
    const xmlDelta = await (await fetch(`${base}/eureka/v2/apps/delta`)).text();
    expect(xmlDelta).toContain('<actionType>DELETED</actionType>');
  });

  it('refuses a malformed body with 400 and a code, and counts it', async () => {
    const { base, metrics } = await startServer();
    const res = await fetch(`${base}/eureka/apps/ORDERS`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"instance": {"app": ' });
    expect(res.status).toBe(400);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ code: 'EUREKA_BAD_PAYLOAD', where: 'body' });
    expect(typeof body.message).toBe('string');
    expect(body.value).toContain('instance');
    const badPort = await register(base, 'ORDERS', 'o-1', { port: { $: 'eighty', '@enabled': 'true' } });
    expect(badPort.status).toBe(400);
    expect(await badPort.json()).toMatchObject({ code: 'EUREKA_BAD_PAYLOAD', where: 'port.$', value: '"eighty"' });
    expect((await register(base, 'ORDERS', 'o-1')).status).toBe(204);
    const mismatch = await fetch(`${base}/eureka/apps/BILLING`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: springBody('ORDERS', 'o-1') });
    expect(mismatch.status).toBe(400);
    expect(await mismatch.json()).toMatchObject({ where: 'app' });
    const badXml = await fetch(`${base}/eureka/apps/ORDERS`, { method: 'POST', headers: { 'Content-Type': 'application/xml' }, body: '<instance><app>ORDERS</app>' });
    expect(badXml.status).toBe(400);
    expect(await metricValue(metrics, 'mesh_bridge_eureka_bad_payload_total')).toBe(4);
    expect(await metricValue(metrics, 'mesh_bridge_eureka_bad_payload_total', { field: 'body' })).toBe(1);
  });

  it('evicts an expired lease and removes it from the catalog', async () => {
    const clock = { now: 1_700_000_000_000 };
    const { base, eureka, catalog, metrics } = await startServer({ now: () => clock.now, selfPreservation: false });
    await register(base, 'ORDERS', 'o-1', { leaseInfo: { renewalIntervalInSecs: 1, durationInSecs: 3 } });
    await register(base, 'ORDERS', 'o-2', { leaseInfo: { renewalIntervalInSecs: 1, durationInSecs: 3 } });
    expect(await metricValue(metrics, 'mesh_bridge_eureka_registered_instances')).toBe(2);
    clock.now += 2000;
    await fetch(`${base}/eureka/apps/ORDERS/o-2`, { method: 'PUT' });
    clock.now += 2000;
    expect(eureka.evict().map((i) => i.instanceId)).toEqual(['o-1']);
    expect(catalog.instances('ORDERS').map((i) => i.id)).toEqual(['o-2']);
    expect((await fetch(`${base}/eureka/apps/ORDERS/o-1`, { method: 'PUT' })).status).toBe(404);
    expect(await metricValue(metrics, 'mesh_bridge_eureka_registered_instances')).toBe(1);
    expect(await metricValue(metrics, 'mesh_bridge_eureka_evictions_total')).toBe(1);
  });

  it('evicts on its own timer', async () => {
    const { base, catalog } = await startServer({ selfPreservation: false, evictionIntervalMs: 50 });
    await register(base, 'ORDERS', 'o-1', { leaseInfo: { renewalIntervalInSecs: 1, durationInSecs: 1 } });
    expect(catalog.instances('ORDERS')).toHaveLength(1);
    await waitFor('the eviction', () => catalog.instances('ORDERS').length === 0, 4000);
  });

  it('stops evicting when most leases stop renewing at once (self-preservation)', async () => {
    const clock = { now: 1_700_000_000_000 };
    const { base, eureka, catalog, metrics } = await startServer({ now: () => clock.now });
    const ids = Array.from({ length: 10 }, (_, i) => `o-${i}`);
    for (const id of ids) await register(base, 'ORDERS', id);
    // Two minutes of healthy heartbeats every 30 s.
    for (let i = 0; i < 4; i++) {
      clock.now += 30_000;
      for (const id of ids) await fetch(`${base}/eureka/apps/ORDERS/${id}`, { method: 'PUT' });
    }
    expect(eureka.evict()).toEqual([]);
    expect(await metricValue(metrics, 'mesh_bridge_eureka_self_preservation')).toBe(0);
    // A partition: only one instance keeps renewing, for long past every lease's 90 s.
    for (let i = 0; i < 8; i++) {
      clock.now += 30_000;
      await fetch(`${base}/eureka/apps/ORDERS/o-0`, { method: 'PUT' });
    }
    expect(eureka.evict()).toEqual([]);
    expect(eureka.registry.selfPreservationActive).toBe(true);
    expect(await metricValue(metrics, 'mesh_bridge_eureka_self_preservation')).toBe(1);
    expect(catalog.instances('ORDERS')).toHaveLength(10);
  });

  it('serves the bridge\'s own registrations but keeps them out of the catalog', async () => {
    const { base, catalog, ledger } = await startServer();
    await ledger.record('eureka', 'MESH-ORDERS/mesh-1');
    await register(base, 'MESH-ORDERS', 'mesh-1');
    await register(base, 'MESH-ORDERS', 'legacy-1');
    expect(catalog.instances('MESH-ORDERS').map((i) => i.id)).toEqual(['legacy-1']);
    const app = (await getJson(`${base}/eureka/apps/MESH-ORDERS`)).body.application as { instance: Array<{ instanceId: string }> };
    expect(app.instance.map((i) => i.instanceId).sort()).toEqual(['legacy-1', 'mesh-1']);
  });
});
