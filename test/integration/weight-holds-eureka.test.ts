// The weight holds for Eureka clients: callers that find an app only through eureka-js-client
// fetches from the bridge's embedded Eureka (never dialling the bridge on purpose) and call the
// address they were given. Per weight step, the share each stack answered as the callers saw it;
// at weight 0 no call crosses the bridge. Full fetches and deltas agree at every step.
import { createServer, request as httpRequest, Agent, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { lookup as dnsLookup, LookupOneOptions } from 'node:dns';
import { request } from 'undici';
import { Bridge } from '../../src/bridge/bridge-process';
import { Catalog, instanceDefaults, MemoryOwnershipLedger } from '../../src/catalog';
import { EurekaRemoteSync } from '../../src/eureka-sync/eureka-remote';
import type { EurekaInstance } from '../../src/eureka-sync/eureka-instance';
import { Registry } from '../../src/telemetry/metrics';
import { validateBridgeConfig } from '../../src/bridge/config';
import { applyDelta, hashcodesMatch, parseApplicationsJson, snapshotFromFull, snapshotHashcode } from '../../src/eureka-sync/eureka-remote-delta';
import { silentLogger } from '../../src/telemetry/logger';
import { startEurekaClient, StartedEurekaClient } from '../support/eureka-client';
import { waitFor } from '../support/wait';

// eureka-js-client ships no types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const { Eureka } = require('eureka-js-client') as { Eureka: new (config: Record<string, unknown>) => any };

type Answer = 'legacy' | 'mesh';
interface Fetched {
  hostName: string;
  ipAddr: string;
  port: { $: number };
  status: string;
}

/** `*.localhost` resolves to the loopback (RFC 6761), as wildcard DNS for the bridge would in production. */
function wildcardLookup(hostname: string, options: Omit<LookupOneOptions, 'all'> & { all?: boolean }, callback: (...args: unknown[]) => void): void {
  if (hostname.endsWith('.localhost')) {
    if (options.all === true) process.nextTick(() => callback(null, [{ address: '127.0.0.1', family: 4 }]));
    else process.nextTick(() => callback(null, '127.0.0.1', 4));
    return;
  }
  dnsLookup(hostname, options as LookupOneOptions, callback as never);
}

async function stackServer(answer: Answer): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(answer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const portOf = (server: Server): number => (server.address() as AddressInfo).port;

/** A client that only fetches (it never registers), as a Spring Cloud caller's discovery does. */
async function startFetcher(port: number, delta: boolean): Promise<{ instances(app: string): Fetched[]; stop(): Promise<void> }> {
  const client = new Eureka({
    logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
    shouldUseDelta: delta,
    instance: {},
    eureka: {
      host: '127.0.0.1',
      port,
      servicePath: '/eureka/apps/',
      registerWithEureka: false,
      fetchRegistry: true,
      registryFetchInterval: 150,
      maxRetries: 0,
    },
  });
  await new Promise<void>((resolve, reject) => client.start((err?: Error) => (err ? reject(err) : resolve())));
  return {
    // UP instances only, read at each call as Netflix's DiscoveryClient does: eureka-js-client
    // filters on status in full fetches but keeps an instance a delta MODIFIED to OUT_OF_SERVICE.
    instances: (app) => ((client.getInstancesByAppId(app) ?? []) as Fetched[]).filter((i) => i.status === 'UP'),
    stop: () => new Promise<void>((resolve) => client.stop(() => resolve())),
  };
}

/** Calls whatever the fetcher hands out for the app, `count` times; counts answers and calls through the bridge. */
async function callThroughDiscovery(
  fetcher: { instances(app: string): Fetched[] },
  app: string,
  count: number,
  bridgePort: number,
  agent: Agent,
): Promise<{ legacy: number; mesh: number; viaBridge: number }> {
  const tally = { legacy: 0, mesh: 0, viaBridge: 0 };
  for (let i = 0; i < count; i++) {
    const instances = fetcher.instances(app);
    const chosen = instances[Math.floor(Math.random() * instances.length)] as Fetched;
    const port = chosen.port.$;
    if (port === bridgePort) tally.viaBridge++;
    const answer = await new Promise<string>((resolve, reject) => {
      const req = httpRequest({ host: chosen.hostName, port, path: '/orders/42', agent, lookup: wildcardLookup as never }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(res.statusCode === 200 ? body : `HTTP ${res.statusCode} ${body}`));
      });
      req.on('error', reject);
      req.end();
    });
    if (answer !== 'legacy' && answer !== 'mesh') throw new Error(`unexpected answer: ${answer}`);
    tally[answer]++;
  }
  return tally;
}

interface StartedBridge {
  bridge: Bridge;
  admin: string;
  adminPort: number;
  /** The HTTP listener's port, 0 when it is disabled. */
  httpPort: number;
}

/** A bridge on ephemeral ports without a Dubbo listener; `config` adds to or replaces that. */
async function startBridge(config: Record<string, unknown>): Promise<StartedBridge> {
  const bridge = new Bridge(validateBridgeConfig({ admin: { port: 0 }, dubbo: { enabled: false }, http: { port: 0 }, log: { level: 'silent' }, ...config }), silentLogger());
  const addresses = await bridge.start();
  const portOfAddress = (address: string | undefined): number => Number(address?.split(':').pop() ?? 0);
  return { bridge, admin: `http://${addresses.admin}`, adminPort: portOfAddress(addresses.admin), httpPort: portOfAddress(addresses.http) };
}

async function setWeight(admin: string, app: string, mesh: number): Promise<void> {
  const r = await request(`${admin}/weights/${app}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mesh }) });
  expect(r.statusCode).toBe(200);
  await r.body.dump();
}

/** Each fetcher's caller makes `calls` calls: the mesh share within four binomial deviations; through the bridge exactly when weight > 0. */
async function expectShares(fetchers: Array<{ instances(app: string): Fetched[] }>, app: string, weight: number, calls: number, bridgePort: number, agent: Agent): Promise<void> {
  for (const fetcher of fetchers) {
    const tally = await callThroughDiscovery(fetcher, app, calls, bridgePort, agent);
    const p = weight / 100;
    // Four standard deviations of a binomial share: a false alarm about once in 15,000 runs.
    expect(Math.abs(tally.mesh / calls - p)).toBeLessThanOrEqual(4 * Math.sqrt((p * (1 - p)) / calls));
    expect(tally.viaBridge).toBe(weight === 0 ? 0 : calls);
  }
}

/** Applies the delta to the previous full fetch as Spring Cloud clients do: the hash code must match the new full fetch. */
async function expectDeltaConsistent(admin: string, previousFull: string): Promise<string> {
  const get = async (path: string): Promise<string> => (await request(`${admin}${path}`, { headers: { accept: 'application/json' } })).body.text();
  const delta = await get('/eureka/apps/delta');
  const full = await get('/eureka/apps');
  const now = Date.now();
  const before = snapshotFromFull(parseApplicationsJson(previousFull), now).snapshot;
  const applied = applyDelta(before, parseApplicationsJson(delta), now).snapshot;
  const fresh = snapshotFromFull(parseApplicationsJson(full), now).snapshot;
  expect(hashcodesMatch(applied, parseApplicationsJson(delta).appsHashcode)).toBe(true);
  expect(snapshotHashcode(applied)).toBe(snapshotHashcode(fresh));
  const ids = (s: typeof fresh): string[] => [...s.entries()].flatMap(([app, m]) => [...m.keys()].map((id) => `${app}/${id}`)).sort();
  expect(ids(applied)).toEqual(ids(fresh));
  return full;
}

/** Waits until every fetcher shows exactly the app's bridge entry (true) or exactly its legacy instance (false). */
async function waitForHandout(
  fetchers: Array<{ instances(app: string): Fetched[] }>,
  app: string,
  atBridge: boolean,
  bridgePort: number,
  legacyPort: number,
  what: string,
): Promise<void> {
  await waitFor(`every fetcher to see ${app} ${atBridge ? 'at the bridge' : 'at its legacy instance'} (${what})`, () =>
    fetchers.every((f) => {
      const seen = f.instances(app);
      return seen.length === 1 && seen[0]?.port.$ === (atBridge ? bridgePort : legacyPort);
    }),
  );
}

describe('the weight holds for callers that discover through the embedded Eureka', () => {
  let legacy: Server;
  let mesh: Server;
  let meshOnly: Server;
  let bridge: Bridge;
  let admin: string;
  let bridgePort: number;
  let registrant: StartedEurekaClient;
  const fetchers: Array<{ instances(app: string): Fetched[]; stop(): Promise<void> }> = [];
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });

  beforeAll(async () => {
    legacy = await stackServer('legacy');
    mesh = await stackServer('mesh');
    meshOnly = await stackServer('mesh');
    let adminPort: number;
    ({ bridge, admin, adminPort, httpPort: bridgePort } = await startBridge({
      bridge: { id: 'bridge-e' },
      mesh: {
        services: [
          { name: 'ORDERS', protocol: 'http', instances: [{ host: '127.0.0.1', port: portOf(mesh) }] },
          { name: 'PAYMENTS', protocol: 'http', instances: [{ host: '127.0.0.1', port: portOf(meshOnly) }] },
        ],
      },
      routes: [{ service: 'ORDERS', mesh: 0 }],
    }));
    registrant = await startEurekaClient({ port: adminPort, app: 'orders', instanceId: 'orders-legacy-1', instancePort: portOf(legacy) });
    fetchers.push(await startFetcher(adminPort, false), await startFetcher(adminPort, true));
  });

  afterAll(async () => {
    for (const fetcher of fetchers) await fetcher.stop();
    await registrant?.stop();
    await bridge?.stop(500);
    agent.destroy();
    for (const server of [legacy, mesh, meshOnly]) server?.close();
  });

  it('hands a mesh-only app out at the bridge', async () => {
    await waitFor('PAYMENTS at the bridge', () => fetchers.every((f) => f.instances('PAYMENTS').length === 1 && f.instances('PAYMENTS')[0]?.port.$ === bridgePort));
    const tally = await callThroughDiscovery(fetchers[0] as (typeof fetchers)[0], 'PAYMENTS', 20, bridgePort, agent);
    expect(tally).toEqual({ legacy: 0, mesh: 20, viaBridge: 20 });
  });

  it('splits what callers see by the weight at 0, 25, 50, 100 and back to 0', async () => {
    const calls = 300;
    let full = await (await request(`${admin}/eureka/apps`, { headers: { accept: 'application/json' } })).body.text();
    for (const weight of [0, 25, 50, 100, 0]) {
      await setWeight(admin, 'ORDERS', weight);
      await waitForHandout(fetchers, 'ORDERS', weight > 0, bridgePort, portOf(legacy), `weight ${weight}`);
      full = await expectDeltaConsistent(admin, full);
      await expectShares(fetchers, 'ORDERS', weight, calls, bridgePort, agent);
    }
  }, 120_000);
});

describe('the weight holds for callers of an external Eureka server (a second bridge\'s embedded one)', () => {
  let legacy: Server;
  let mesh: Server;
  let registry: Bridge;
  let bridge: Bridge;
  let admin: string;
  let registryAdmin: string;
  let bridgePort: number;
  let registrant: StartedEurekaClient;
  const fetchers: Array<{ instances(app: string): Fetched[]; stop(): Promise<void> }> = [];
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });

  const overridesInLedger = (): string[] =>
    (bridge as unknown as { ledger: MemoryOwnershipLedger }).ledger
      .ownedBy('bridge-a', 'eureka')
      .map((e) => e.key)
      .filter((k) => k.startsWith('status:'));
  const remoteLegacy = (): EurekaInstance | undefined => registry.eureka?.instance('ORDERS', 'orders-legacy-1')?.instance;

  beforeAll(async () => {
    legacy = await stackServer('legacy');
    mesh = await stackServer('mesh');
    let registryPort: number;
    ({ bridge: registry, admin: registryAdmin, adminPort: registryPort } = await startBridge({ bridge: { id: 'registry' }, http: { enabled: false } }));
    registrant = await startEurekaClient({ port: registryPort, app: 'orders', instanceId: 'orders-legacy-1', instancePort: portOf(legacy) });
    ({ bridge, admin, httpPort: bridgePort } = await startBridge({
      bridge: { id: 'bridge-a' },
      eureka: { embedded: false, servers: [`${registryAdmin}/eureka/`], fetchIntervalMs: 200 },
      mesh: {
        services: [
          { name: 'ORDERS', protocol: 'http', instances: [{ host: '127.0.0.1', port: portOf(mesh) }] },
          { name: 'PAYMENTS', protocol: 'http', instances: [{ host: '127.0.0.1', port: portOf(mesh) }] },
        ],
      },
      routes: [{ service: 'ORDERS', mesh: 0 }],
    }));
    fetchers.push(await startFetcher(registryPort, false), await startFetcher(registryPort, true));
  });

  afterAll(async () => {
    for (const fetcher of fetchers) await fetcher.stop();
    await registrant?.stop();
    await bridge?.stop(500);
    await registry?.stop(500);
    agent.destroy();
    for (const server of [legacy, mesh]) server?.close();
  });

  it('registers the bridge, not the mesh instances, for a mesh-only app', async () => {
    await waitFor('PAYMENTS at the bridge', () => fetchers.every((f) => f.instances('PAYMENTS').length === 1 && f.instances('PAYMENTS')[0]?.port.$ === bridgePort));
    await expectShares(fetchers, 'PAYMENTS', 100, 20, bridgePort, agent);
  });

  it('moves callers with status overrides recorded in the ledger, per step 0, 25, 50, 100, 0, then gives everything back on a graceful stop', async () => {
    for (const weight of [0, 25, 50, 100, 0]) {
      await setWeight(admin, 'ORDERS', weight);
      await waitForHandout(fetchers, 'ORDERS', weight > 0, bridgePort, portOf(legacy), `weight ${weight}`);
      expect(overridesInLedger()).toEqual(weight > 0 ? ['status:ORDERS/orders-legacy-1'] : []);
      expect(remoteLegacy()?.status).toBe(weight > 0 ? 'OUT_OF_SERVICE' : 'UP');
      // The server's own bridge never takes bridge-a's entry for an instance of the app.
      expect(registry.catalog.instances('ORDERS').map((i) => i.port)).toEqual([portOf(legacy)]);
      await expectShares(fetchers, 'ORDERS', weight, 300, bridgePort, agent);
    }
    await setWeight(admin, 'ORDERS', 50);
    await waitForHandout(fetchers, 'ORDERS', true, bridgePort, portOf(legacy), 'weight 50 again');
    await bridge.stop(500);
    expect(remoteLegacy()?.status).toBe('UP');
    expect(remoteLegacy()?.overriddenStatus).toBe('UNKNOWN');
    expect(overridesInLedger()).toEqual([]);
    await waitForHandout(fetchers, 'ORDERS', false, bridgePort, portOf(legacy), 'after the bridge stopped');
  }, 120_000);
});

describe('status overrides left by a bridge that died', () => {
  it('are removed from the ledger by the bridge when it starts again and the app is no longer migrated, or taken over while it is', async () => {
    const { bridge: registry, admin: registryAdmin, adminPort } = await startBridge({ bridge: { id: 'registry' }, http: { enabled: false } });
    const registrant = await startEurekaClient({ port: adminPort, app: 'orders', instanceId: 'orders-legacy-1', instancePort: 1 });
    const ledger = new MemoryOwnershipLedger('bridge-a');
    let weight = 50;
    const newSync = (withLedger: MemoryOwnershipLedger = ledger): EurekaRemoteSync & { catalogForTest: Catalog } => {
      const catalog = new Catalog();
      catalog.replaceSource('mesh', 'ORDERS', [{ ...instanceDefaults(), id: '127.0.0.1:2', service: 'ORDERS', protocol: 'http', host: '127.0.0.1', port: 2, stack: 'mesh', origin: { source: 'mesh' } }]);
      const sync = new EurekaRemoteSync({
        serviceUrls: [`${registryAdmin}/eureka/`],
        catalog,
        ledger: withLedger,
        owner: 'bridge-a',
        metrics: new Registry(),
        logger: silentLogger(),
        fetchIntervalMs: 100,
        handout: () => ({ bridgeId: 'bridge-a', ipAddr: '127.0.0.1', port: 3, hostSuffix: 'localhost' }),
        meshWeightOf: () => weight,
      });
      return Object.assign(sync, { catalogForTest: catalog });
    };
    const legacyStatus = (): string | undefined => registry.eureka?.instance('ORDERS', 'orders-legacy-1')?.instance.status;
    try {
      const first = newSync();
      await first.start();
      await waitFor('the legacy instance out of service', () => legacyStatus() === 'OUT_OF_SERVICE');
      // A crash: nothing is given back.
      await first.stop({ deregister: false });
      expect(legacyStatus()).toBe('OUT_OF_SERVICE');
      expect(ledger.ownedBy('bridge-a', 'eureka').map((e) => e.key)).toContain('status:ORDERS/orders-legacy-1');
      weight = 0;
      const second = newSync();
      await second.start();
      await waitFor('the override cleared from the ledger', () => legacyStatus() === 'UP');
      expect(ledger.ownedBy('bridge-a', 'eureka').map((e) => e.key)).toEqual([]);
      await second.stop();
      // A bridge whose ledger was lost finds the instance out of service while the app is migrated:
      // it takes the override over, and keeps sending the legacy share there.
      registry.eureka?.setStatusOverride('ORDERS', 'orders-legacy-1', 'OUT_OF_SERVICE');
      weight = 50;
      const forgetful = newSync(new MemoryOwnershipLedger('bridge-a'));
      await forgetful.start();
      await waitFor('the legacy instance routable again', () =>
        forgetful.catalogForTest.instances('ORDERS').some((i) => i.stack === 'legacy' && i.health === 'up'),
      );
      await forgetful.stop();
    } finally {
      await registrant.stop();
      await registry.stop(500);
    }
  }, 60_000);
});
