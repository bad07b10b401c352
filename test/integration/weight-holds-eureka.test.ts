// The weight holds for Eureka clients: callers that find an app only through eureka-js-client
// fetches from the bridge's embedded Eureka (never dialling the bridge on purpose) and call the
// address they were given. Per weight step, the share each stack answered as the callers saw it;
// at weight 0 no call crosses the bridge. Full fetches and deltas agree at every step.
import { createServer, request as httpRequest, Agent, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { lookup as dnsLookup, LookupOneOptions } from 'node:dns';
import { request } from 'undici';
import { Bridge } from '../../src/bridge/bridge-process';
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
function wildcardLookup(hostname: string, options: LookupOneOptions & { all?: boolean }, callback: (...args: unknown[]) => void): void {
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
    instances: (app) => (client.getInstancesByAppId(app) ?? []) as Fetched[],
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
    bridge = new Bridge(
      validateBridgeConfig({
        bridge: { id: 'bridge-e' },
        admin: { port: 0 },
        dubbo: { enabled: false },
        http: { port: 0 },
        mesh: {
          services: [
            { name: 'ORDERS', protocol: 'http', instances: [{ host: '127.0.0.1', port: portOf(mesh) }] },
            { name: 'PAYMENTS', protocol: 'http', instances: [{ host: '127.0.0.1', port: portOf(meshOnly) }] },
          ],
        },
        routes: [{ service: 'ORDERS', mesh: 0 }],
        log: { level: 'silent' },
      }),
      silentLogger(),
    );
    const addresses = await bridge.start();
    admin = `http://${addresses.admin}`;
    bridgePort = Number((addresses.http as string).split(':').pop());
    const adminPort = Number(addresses.admin.split(':').pop());
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

  async function setWeight(mesh: number): Promise<void> {
    const r = await request(`${admin}/weights/ORDERS`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mesh }) });
    expect(r.statusCode).toBe(200);
    await r.body.dump();
  }

  it('hands a mesh-only app out at the bridge', async () => {
    await waitFor('PAYMENTS at the bridge', () => fetchers.every((f) => f.instances('PAYMENTS').length === 1 && f.instances('PAYMENTS')[0]?.port.$ === bridgePort));
    const tally = await callThroughDiscovery(fetchers[0] as (typeof fetchers)[0], 'PAYMENTS', 20, bridgePort, agent);
    expect(tally).toEqual({ legacy: 0, mesh: 20, viaBridge: 20 });
  });

  it('splits what callers see by the weight at 0, 25, 50, 100 and back to 0', async () => {
    const calls = 300;
    let full = await (await request(`${admin}/eureka/apps`, { headers: { accept: 'application/json' } })).body.text();
    for (const weight of [0, 25, 50, 100, 0]) {
      await setWeight(weight);
      const expectBridge = weight > 0;
      await waitFor(`every fetcher to see ORDERS ${expectBridge ? 'at the bridge' : 'at its legacy instance'} (weight ${weight})`, () =>
        fetchers.every((f) => {
          const seen = f.instances('ORDERS');
          return seen.length === 1 && (seen[0]?.port.$ === bridgePort) === expectBridge && (expectBridge || seen[0]?.port.$ === portOf(legacy));
        }),
      );
      full = await expectDeltaConsistent(admin, full);
      for (const fetcher of fetchers) {
        const tally = await callThroughDiscovery(fetcher, 'ORDERS', calls, bridgePort, agent);
        const share = tally.mesh / calls;
        const p = weight / 100;
        // Four standard deviations of a binomial share: a false alarm about once in 15,000 runs.
        const tolerance = 4 * Math.sqrt((p * (1 - p)) / calls);
        expect(Math.abs(share - p)).toBeLessThanOrEqual(tolerance);
        expect(tally.viaBridge).toBe(weight === 0 ? 0 : calls);
      }
    }
  }, 120_000);
});
