// No churn when bridges start: a consumer watching the provider list of a service being migrated
// sees the legacy provider all along, each bridge's URL appear once, complete (with the methods it
// borrows from the legacy provider, since the mesh instance names none), and never a moment without
// a bridge once one has appeared, while a second bridge joins and the first restarts.
import { Bridge } from '../../src/bridge/bridge-process';
import { validateBridgeConfig } from '../../src/bridge/config';
import { parseZnodeName, urlMethods } from '../../src/dubbo-codec/dubbo-url';
import { silentLogger } from '../../src/telemetry/logger';
import { ZkSession } from '../../src/zookeeper-sync/zk-session';
import { ProviderRegistration, registerProvider } from '../support/dubbo-peers';
import { waitFor } from '../support/wait';
import { ZookeeperServer, freePort } from '../support/zookeeper';

jest.setTimeout(60_000);

const IFACE = 'com.example.weights.StartService';
const VERSION = '1.0.0';

let zk: ZookeeperServer;
let registration: ProviderRegistration;
const running: Bridge[] = [];

async function startBridge(id: string, dubboPort: number): Promise<Bridge> {
  const config = validateBridgeConfig({
    bridge: { id },
    admin: { port: 0 },
    zookeeper: { connect: zk.connectString, sessionTimeoutMs: 5000, export: { target: 'bridge' } },
    eureka: { embedded: false },
    dubbo: { port: dubboPort },
    http: { enabled: false },
    // The mesh instance names no methods: the bridge's URL must borrow the legacy provider's from the start.
    mesh: { services: [{ name: IFACE, protocol: 'dubbo', instances: [{ host: '127.0.0.1', port: 20999, version: VERSION }] }] },
    routes: [{ service: IFACE, mesh: 50 }],
    log: { level: 'silent' },
  });
  const bridge = new Bridge(config, silentLogger());
  running.push(bridge);
  await bridge.start();
  return bridge;
}

beforeAll(async () => {
  zk = await ZookeeperServer.start();
  registration = await registerProvider(zk.connectString, { interface: IFACE, version: VERSION, port: 20888, methods: ['whoami', 'hello'], application: 'start-legacy' });
});

afterAll(async () => {
  for (const bridge of running) await bridge.stop(1000);
  await registration?.unregister();
  await zk?.destroy();
});

it('never shows a consumer a provider list without the legacy provider, a bridge URL without methods, or a gap between bridge URLs', async () => {
  const watcher = new ZkSession({ connectString: zk.connectString, sessionTimeoutMs: 10_000, logger: silentLogger() });
  const lists: string[][] = [];
  watcher.start();
  await watcher.whenConnected(10_000);
  const watch = watcher.watchChildren(`/dubbo/${IFACE}/providers`, (names) => lists.push((names ?? []).map((n) => decodeURIComponent(n))));
  await watcher.settled();
  const bridgeUrls = (list: string[]): string[] => list.filter((url) => url.includes('mesh-bridge='));
  try {
    const [portA, portB] = [await freePort(), await freePort()];
    const first = await startBridge('start-a', portA);
    await waitFor('the first bridge URL', () => lists.some((l) => bridgeUrls(l).length === 1));
    await startBridge('start-b', portB);
    await waitFor('both bridge URLs', () => bridgeUrls(lists[lists.length - 1]).length === 2);
    // The first bridge restarts: graceful stop (its URL goes, the other bridge's stays), then start.
    await first.stop(1000);
    running.splice(running.indexOf(first), 1);
    await startBridge('start-a', portA);
    await waitFor('both bridge URLs again', () => bridgeUrls(lists[lists.length - 1]).length === 2);
    await new Promise((resolve) => setTimeout(resolve, 300)); // a late replacement would land here
  } finally {
    watch.close();
    await watcher.close();
  }
  expect(lists.length).toBeGreaterThan(3);
  for (const list of lists) expect(list).toContain(registration.url);
  const seen = new Set(lists.flatMap(bridgeUrls));
  for (const url of seen) expect(urlMethods(parseZnodeName(encodeURIComponent(url))).sort()).toEqual(['hello', 'whoami']);
  // One URL per bridge address and lifetime: nothing was written twice.
  expect(seen.size).toBeLessThanOrEqual(3);
  const firstWithBridge = lists.findIndex((l) => bridgeUrls(l).length > 0);
  for (const list of lists.slice(firstWithBridge)) expect(bridgeUrls(list).length).toBeGreaterThan(0);
});

it('keeps the bridge URLs, methods included, when the legacy provider leaves', async () => {
  const dir = `/dubbo/${IFACE}/providers`;
  const watcher = new ZkSession({ connectString: zk.connectString, sessionTimeoutMs: 10_000, logger: silentLogger() });
  const lists: string[][] = [];
  watcher.start();
  await watcher.whenConnected(10_000);
  const watch = watcher.watchChildren(dir, (names) => lists.push((names ?? []).map((n) => decodeURIComponent(n))));
  await watcher.settled();
  try {
    const before = lists[lists.length - 1].filter((url) => url.includes('mesh-bridge=')).sort();
    expect(before).toHaveLength(2);
    await registration.unregister();
    await waitFor('the legacy provider gone', () => !lists[lists.length - 1].includes(registration.url));
    await new Promise((resolve) => setTimeout(resolve, 300)); // a replacement of the bridge URLs would land here
    for (const list of lists) expect(list.filter((url) => url.includes('mesh-bridge=')).sort()).toEqual(before);
  } finally {
    watch.close();
    await watcher.close();
  }
});

it('starts a bridge after the legacy provider left with the methods the bridges learned before', async () => {
  for (const bridge of running.splice(0)) await bridge.stop(1000);
  await startBridge('start-c', await freePort());
  const client = new ZkSession({ connectString: zk.connectString, sessionTimeoutMs: 10_000, logger: silentLogger() });
  client.start();
  try {
    await client.whenConnected(10_000);
    const names = await client.getChildren(`/dubbo/${IFACE}/providers`);
    expect(names).toHaveLength(1);
    expect(urlMethods(parseZnodeName(names[0])).sort()).toEqual(['hello', 'whoami']);
  } finally {
    await client.close();
  }
});
