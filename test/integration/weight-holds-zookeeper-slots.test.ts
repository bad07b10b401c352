// Steering by slots against real peers: a legacy sofa-rpc-node provider registered in ZooKeeper and
// its mesh twin (each answers with its stack's name), bridges in processes of their own with slot
// ports, and two consumers that read only the provider list and pick uniformly (apache-dubbo-js at
// random, sofa-rpc-node in turn), never dialling a bridge themselves. Per weight step the bridges
// write B URLs beside the legacy one and route by w (B + L) / B, so each consumer sees the mesh answer
// w of its calls, checked within four binomial standard deviations. Then every bridge is SIGKILLed.
import { BridgeChild, startBridgeChild } from '../support/bridge-child';
import { DubboJsConsumer, SofaProvider, closeZookeeper, connectZookeeper, java, startDubboJsConsumer, startSofaProvider } from '../support/dubbo-peers';
import { bridgeRequests, dubboJsProviders, expectShare, putWeight } from '../support/registry-shares';
import { SofaConsumer, startSofaConsumer } from '../support/sofa-consumer';
import { waitFor } from '../support/wait';
import { ZookeeperServer, freePort } from '../support/zookeeper';

jest.setTimeout(120_000);

const IFACE = 'com.example.slots.WhoService';
const VERSION = '1.0.0';
const SESSION_MS = 3000;
const CALLS = 400;

type Stack = 'legacy' | 'mesh';
type Consumer = 'dubbo-js' | 'sofa';
const CONSUMERS: Consumer[] = ['dubbo-js', 'sofa'];

let zk: ZookeeperServer;
let legacy: SofaProvider;
let mesh: SofaProvider;
const bridges: BridgeChild[] = [];
/** Per bridge (in id order): its main Dubbo endpoint, then its slot endpoints. */
const endpoints: string[][] = [];
let dubboJs: DubboJsConsumer;
let sofa: SofaConsumer;

async function startBridge(id: string, slots: number): Promise<void> {
  const main = await freePort();
  const slotPorts: number[] = [];
  for (let i = 0; i < slots; i++) slotPorts.push(await freePort());
  const config = {
    bridge: { id },
    admin: { port: 0 },
    zookeeper: { connect: zk.connectString, sessionTimeoutMs: SESSION_MS, export: { target: 'bridge', steering: 'slots' } },
    eureka: { embedded: false },
    dubbo: { port: main, slotPorts },
    http: { enabled: false },
    mesh: { services: [{ name: IFACE, protocol: 'dubbo', instances: [{ host: '127.0.0.1', port: mesh.port, version: VERSION }] }] },
    // apache-dubbo-js sends its timeout attachment in seconds; the route's own timeout wins over it.
    routes: [{ service: IFACE, retries: 0, timeoutMs: 3000 }],
    log: { level: 'warn' },
  };
  bridges.push(await startBridgeChild(config));
  endpoints.push([main, ...slotPorts].map((port) => `127.0.0.1:${port}`));
}

async function setWeight(body: { mesh: number; method?: string }): Promise<void> {
  expect(await putWeight(bridges[0], IFACE, body)).toBe(200);
}

async function providersInZookeeper(): Promise<string[]> {
  const client = await connectZookeeper(zk.connectString);
  try {
    const names = await new Promise<string[]>((resolve) => client.getChildren(`/dubbo/${IFACE}/providers`, (err, found) => resolve(err ? [] : found)));
    return names.map((n) => /^dubbo:\/\/([^/]+)\//.exec(decodeURIComponent(n))?.[1] ?? n).sort();
  } finally {
    await closeZookeeper(client);
  }
}

/** Waits until ZooKeeper and both consumers list the legacy provider and exactly these bridge endpoints. */
async function listed(bridgeEndpoints: string[]): Promise<void> {
  const expected = [legacy.address, ...bridgeEndpoints].sort().join();
  await waitFor(`providers in ZooKeeper: ${expected}`, async () => (await providersInZookeeper()).join() === expected);
  await waitFor('sofa-rpc-node', () => sofa.addresses().sort().join() === expected);
  await waitFor('apache-dubbo-js listing and connected to every provider', () => dubboJsProviders(IFACE).join() === expected && expected.split(',').every((a) => dubboJs.connectedProviders().includes(a)));
}

function callOnce(consumer: Consumer, method: 'whoami' | 'hello'): Promise<Stack> {
  const args = method === 'hello' ? ['x'] : [];
  if (consumer === 'sofa') return sofa.invoke<Stack>(method, args);
  return dubboJs.call<Stack>(method, args.map((a) => java.String(a))).then(({ err, res }) => {
    if (err) throw err;
    return res as Stack;
  });
}

/** CALLS calls, four at a time: how many the mesh answered. */
async function meshAnswers(consumer: Consumer, method: 'whoami' | 'hello'): Promise<number> {
  let started = 0;
  let meshCount = 0;
  const worker = async (): Promise<void> => {
    for (; started < CALLS; started++) if ((await callOnce(consumer, method)) === 'mesh') meshCount++;
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return meshCount;
}

interface SlotStatus {
  weight: number;
  legacy: number;
  bridges: number;
  available: number;
  effective: number;
  achieved: number;
  reachable: number;
  capped: boolean;
}

async function slotStatus(bridge: BridgeChild): Promise<SlotStatus | undefined> {
  const status = (await (await fetch(`http://${bridge.admin}/status`)).json()) as { zookeeper: { slots: { services: Array<SlotStatus & { service: string }> } } };
  return status.zookeeper.slots.services.find((s) => s.service === IFACE);
}

beforeAll(async () => {
  zk = await ZookeeperServer.start();
  legacy = await startSofaProvider({ zk: zk.connectString, interface: IFACE, version: VERSION, application: 'who-legacy', methods: { whoami: () => 'legacy', hello: () => 'legacy' } });
  mesh = await startSofaProvider({ interface: IFACE, version: VERSION, register: false, methods: { whoami: () => 'mesh', hello: () => 'mesh' } });
  await startBridge('b1', 3);
  dubboJs = await startDubboJsConsumer({ zk: zk.connectString, interface: IFACE, version: VERSION, methods: ['whoami', 'hello'] });
  sofa = await startSofaConsumer({ zk: zk.connectString, interface: IFACE, version: VERSION });
});

afterAll(async () => {
  await Promise.all([dubboJs?.stop(), sofa?.stop()]);
  await Promise.all(bridges.map((b) => b.kill()));
  await Promise.all([legacy?.stop(), mesh?.stop()]);
  await zk?.destroy();
});

describe('steering by slots: uniform pickers get the weight', () => {
  // L = 1 legacy endpoint; B is the smallest with B / (B + 1) >= w: 25 and 50 -> 1, 75 -> 3.
  it.each([
    [0, 0],
    [25, 1],
    [50, 1],
    [75, 3],
    [0, 0],
  ])('one bridge at weight %i writes %i URL(s) and each consumer sees the mesh answer that share', async (w, b) => {
    await setWeight({ mesh: w });
    await listed(endpoints[0].slice(0, b));
    const before = await bridgeRequests(bridges, IFACE);
    for (const consumer of CONSUMERS) expectShare(`${consumer} at ${w}`, await meshAnswers(consumer, 'whoami'), CALLS, w / 100);
    // At 0 the bridge is out of the consumers' path: no extra hop.
    if (w === 0) expect(await bridgeRequests(bridges, IFACE)).toBe(before);
    else expect(await slotStatus(bridges[0])).toMatchObject({ weight: w, legacy: 1, bridges: b, available: 4, capped: false, effective: Math.min(100, (w * (b + 1)) / b) });
  });

  it('two bridges split the URLs by id and a method gets its own weight', async () => {
    await startBridge('b2', 1);
    // Service 25, hello 75: B = 3 for the highest weight, taken main ports first in id order, then b1's first slot.
    await setWeight({ mesh: 25 });
    await setWeight({ mesh: 75, method: 'hello' });
    await listed([endpoints[0][0], endpoints[1][0], endpoints[0][1]]);
    for (const bridge of bridges) expect(await slotStatus(bridge)).toMatchObject({ weight: 75, bridges: 3, available: 6 });
    const weights = (await (await fetch(`http://${bridges[1].admin}/weights/${IFACE}`)).json()) as { mesh: number; effective: { mesh: number; methods: Array<{ method: string; mesh: number }> } };
    // Operators see and set w; the bridges route by w (B + L) / B.
    expect(weights.mesh).toBe(25);
    expect(weights.effective.mesh).toBeCloseTo(100 / 3, 6);
    expect(weights.effective.methods).toEqual([{ method: 'hello', mesh: 100 }]);
    for (const consumer of CONSUMERS) {
      expectShare(`${consumer}, hello at 75`, await meshAnswers(consumer, 'hello'), CALLS, 0.75);
      expectShare(`${consumer}, whoami at 25`, await meshAnswers(consumer, 'whoami'), CALLS, 0.25);
    }
  });

  it('says when the endpoints cannot reach the weight', async () => {
    // 95 needs 19 endpoints; the 6 offered reach 6/7.
    await setWeight({ mesh: 95, method: 'hello' });
    await listed(endpoints.flat());
    const status = await slotStatus(bridges[0]);
    expect(status).toMatchObject({ capped: true, effective: 100, bridges: 6 });
    expect(status?.reachable).toBeCloseTo(600 / 7, 6);
    const metrics = await (await fetch(`http://${bridges[0].admin}/metrics`)).text();
    expect(metrics).toMatch(/mesh_bridge_registry_slots_capped_services\{registry="zookeeper"\} 1/);
    expectShare('sofa, hello at 95 capped to 6/7', await meshAnswers('sofa', 'hello'), CALLS, 6 / 7);
  });

  it('a bridge leaving: the others take over its share of the endpoints', async () => {
    await setWeight({ mesh: 75, method: 'hello' });
    await listed([endpoints[0][0], endpoints[1][0], endpoints[0][1]]);
    // A graceful stop withdraws b2's URL and member node at once; b1 writes three endpoints of its own.
    await bridges[1].stop();
    bridges.splice(1, 1);
    endpoints.splice(1, 1);
    await listed(endpoints[0].slice(0, 3));
    expect(await slotStatus(bridges[0])).toMatchObject({ weight: 75, bridges: 3, available: 4, capped: false });
    for (const consumer of CONSUMERS) expectShare(`${consumer}, hello at 75 after b2 left`, await meshAnswers(consumer, 'hello'), CALLS, 0.75);
  });
});

describe('when every bridge dies', () => {
  it('consumers call the legacy provider directly, losing only the calls in flight, and the URLs vanish within the session timeout', async () => {
    await startBridge('b3', 1);
    await listed([endpoints[0][0], endpoints[1][0], endpoints[0][1]]);
    const results: Record<Consumer, Array<{ at: number; stack: Stack | 'error' | 'pending' }>> = { 'dubbo-js': [], sofa: [] };
    const pending: Array<Promise<void>> = [];
    const timer = setInterval(() => {
      for (const consumer of CONSUMERS) {
        const entry: { at: number; stack: Stack | 'error' | 'pending' } = { at: Date.now(), stack: 'pending' };
        results[consumer].push(entry);
        pending.push(callOnce(consumer, 'whoami').then((stack) => void (entry.stack = stack), () => void (entry.stack = 'error')));
      }
    }, 15);
    try {
      await waitFor('calls through the bridges before the kill', () => CONSUMERS.every((c) => results[c].some((r) => r.stack === 'mesh')));
      const killedAt = Date.now();
      await Promise.all(bridges.map((b) => b.kill()));
      const killed = Date.now();
      await waitFor('only the legacy URL left in ZooKeeper', async () => (await providersInZookeeper()).join() === legacy.address, SESSION_MS * 4);
      const goneAfter = Date.now() - killedAt;
      await waitFor('calls answered after the kill', () => CONSUMERS.every((c) => results[c].filter((r) => r.at >= killed + 100 && r.stack !== 'pending').length > 30));
      clearInterval(timer);
      await Promise.all(pending);
      expect(goneAfter).toBeLessThan(SESSION_MS + 2500);
      const gone = killedAt + goneAfter;
      for (const consumer of CONSUMERS) {
        // Their connections to the bridges closed with the processes: from then on they pick the legacy
        // provider. A dead endpoint a consumer has not noticed yet costs it at most the call it picks it for.
        const failed = results[consumer].filter((r) => r.at >= killed + 100 && r.stack !== 'legacy');
        expect(failed.length).toBeLessThanOrEqual(endpoints.flat().length);
        // Once the bridges' URLs are gone (within the session timeout), every call is the legacy provider's.
        expect(results[consumer].filter((r) => r.at >= gone && r.stack !== 'legacy')).toEqual([]);
      }
    } finally {
      clearInterval(timer);
      bridges.length = 0;
    }
  });
});
