// The weight as consumers that discover through ZooKeeper see it, against real peers: a legacy
// sofa-rpc-node provider registered in ZooKeeper and its mesh twin (each answers with its stack's
// name), two bridges in processes of their own, and three consumers that never dial a bridge
// themselves: apache-dubbo-js and sofa-rpc-node (which read only the provider list), and a consumer
// that honours override configurators as Java Dubbo does (configurator-consumer.ts). Per weight step
// each consumer's calls are counted by the stack that answered, and the share is checked within four
// binomial standard deviations of what that consumer should see. Then every bridge is killed.
import { BridgeChild, startBridgeChild } from '../support/bridge-child';
import { ConfiguratorConsumer, startConfiguratorConsumer } from '../support/configurator-consumer';
import { DubboJsConsumer, SofaProvider, closeZookeeper, connectZookeeper, java, startDubboJsConsumer, startSofaProvider } from '../support/dubbo-peers';
import { bridgeRequests, dubboJsProviders, expectShare, putWeight } from '../support/registry-shares';
import { SofaConsumer, startSofaConsumer } from '../support/sofa-consumer';
import { waitFor } from '../support/wait';
import { ZookeeperServer, freePort } from '../support/zookeeper';

jest.setTimeout(120_000);

const IFACE = 'com.example.weights.WhoService';
const VERSION = '1.0.0';
/** Short, so a killed bridge's session (and what it wrote) is gone within seconds. */
const SESSION_MS = 3000;
const CALLS = 240;

type Stack = 'legacy' | 'mesh';
type Consumer = 'dubbo-js' | 'sofa' | 'configurators';

let zk: ZookeeperServer;
let legacy: SofaProvider;
let mesh: SofaProvider;
let bridges: BridgeChild[] = [];
let dubboJs: DubboJsConsumer;
let sofa: SofaConsumer;
let honouring: ConfiguratorConsumer;

function bridgeConfig(id: string, dubboPort: number, steering: 'disable' | 'weight' = 'disable'): unknown {
  return {
    bridge: { id },
    admin: { port: 0 },
    zookeeper: { connect: zk.connectString, sessionTimeoutMs: SESSION_MS, export: { target: 'bridge', steering } },
    eureka: { embedded: false },
    dubbo: { port: dubboPort },
    http: { enabled: false },
    mesh: { services: [{ name: IFACE, protocol: 'dubbo', instances: [{ host: '127.0.0.1', port: mesh.port, version: VERSION }] }] },
    // apache-dubbo-js sends its timeout attachment in seconds; the route's own timeout wins over it.
    // 10 s, not 3: at a load average of 15 a provider answer once took longer than 3 s, and these
    // tests count answers, not latency (the calls cut by a kill fail on the closed connection).
    routes: [{ service: IFACE, retries: 0, timeoutMs: 10_000 }],
    log: { level: 'warn' },
  };
}

async function children(path: string): Promise<string[]> {
  const client = await connectZookeeper(zk.connectString);
  try {
    return await new Promise<string[]>((resolve) => client.getChildren(path, (err, names) => resolve(err ? [] : names.map((n) => decodeURIComponent(n)))));
  } finally {
    await closeZookeeper(client);
  }
}

async function setWeight(body: { mesh: number; method?: string }): Promise<void> {
  expect(await putWeight(bridges[0], IFACE, body)).toBe(200);
}

const bridgeAddresses = (): string[] => bridges.map((b) => b.dubbo as string);

/** Waits until ZooKeeper and every consumer see the steering on (the bridges' URLs, the legacy provider disabled) or off. */
async function steering(on: boolean, mode: 'disable' | 'weight' = 'disable'): Promise<void> {
  const expected = (on ? [legacy.address, ...bridgeAddresses()] : [legacy.address]).sort();
  await waitFor(`the bridges' overrides ${on ? 'written' : 'removed'}`, async () => (await children(`/dubbo/${IFACE}/configurators`)).length === (on ? bridges.length : 0));
  await waitFor('the provider list in ZooKeeper', async () => (await children(`/dubbo/${IFACE}/providers`)).map((u) => u.slice('dubbo://'.length, u.indexOf('/', 'dubbo://'.length))).sort().join() === expected.join());
  // Steering by weight keeps the legacy provider, at weight 0.
  const honoured = on ? (mode === 'weight' ? expected : bridgeAddresses().sort()) : [legacy.address];
  await waitFor('the configurator-honouring consumer', () => honouring.enabled().sort().join() === honoured.join());
  await waitFor('apache-dubbo-js', () => dubboJsProviders(IFACE).join() === expected.join() && (!on || bridgeAddresses().every((a) => dubboJs.connectedProviders().includes(a))));
  await waitFor('sofa-rpc-node', () => sofa.addresses().sort().join() === expected.join());
}

function callOnce(consumer: Consumer, method: 'whoami' | 'hello'): Promise<Stack> {
  switch (consumer) {
    case 'dubbo-js':
      return dubboJs.call<string>(method, method === 'hello' ? [java.String('x')] : []).then(({ err, res }) => {
        if (err) throw err;
        return res as Stack;
      });
    case 'sofa':
      return sofa.invoke<string>(method, method === 'hello' ? ['x'] : []) as Promise<Stack>;
    case 'configurators':
      return honouring.call(method, method === 'hello' ? ['x'] : []).then((r) => {
        if (r.kind !== 'value') throw new Error(`call failed: ${r.status} ${r.errorMessage ?? ''}`);
        return r.value as Stack;
      });
  }
}

/** CALLS calls, four at a time; how many the mesh answered. */
async function meshAnswers(consumer: Consumer, method: 'whoami' | 'hello'): Promise<number> {
  let next = 0;
  let meshCount = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < CALLS) {
        next++;
        if ((await callOnce(consumer, method)) === 'mesh') meshCount++;
      }
    }),
  );
  return meshCount;
}

/**
 * The share of the mesh each consumer should see at weight w: consumers honouring configurators
 * call only the bridges, which split by w; the others also call the legacy provider directly, one
 * address among the legacy one and the bridges'.
 */
function expectedShare(consumer: Consumer, w: number): number {
  if (w === 0) return 0;
  return consumer === 'configurators' ? w / 100 : ((w / 100) * bridges.length) / (bridges.length + 1);
}

beforeAll(async () => {
  zk = await ZookeeperServer.start();
  legacy = await startSofaProvider({ zk: zk.connectString, interface: IFACE, version: VERSION, application: 'who-legacy', methods: { whoami: () => 'legacy', hello: () => 'legacy' } });
  mesh = await startSofaProvider({ interface: IFACE, version: VERSION, register: false, methods: { whoami: () => 'mesh', hello: () => 'mesh' } });
  for (const id of ['b1', 'b2']) bridges.push(await startBridgeChild(bridgeConfig(id, await freePort())));
  dubboJs = await startDubboJsConsumer({ zk: zk.connectString, interface: IFACE, version: VERSION, methods: ['whoami', 'hello'] });
  // Its own timeout as long as the bridges' route timeout (sofa's default, 3 s, once cut a call
  // answered late on a loaded CI machine): these tests count answers, not latency.
  sofa = await startSofaConsumer({ zk: zk.connectString, interface: IFACE, version: VERSION, responseTimeoutMs: 10_000 });
  honouring = await startConfiguratorConsumer(zk.connectString, { interface: IFACE, version: VERSION, application: 'who-caller' });
});

afterAll(async () => {
  await Promise.all([dubboJs?.stop(), sofa?.stop(), honouring?.stop()]);
  await Promise.all(bridges.map((b) => b.kill()));
  await Promise.all([legacy?.stop(), mesh?.stop()]);
  await zk?.destroy();
});

describe('the weight as ZooKeeper consumers see it', () => {
  it.each([0, 25, 50, 100, 0])('at weight %i, each consumer gets the share its registry reading gives it', async (w) => {
    await setWeight({ mesh: w });
    await steering(w > 0);
    for (const bridge of bridges) {
      const status = (await (await fetch(`http://${bridge.admin}/status`)).json()) as { zookeeper: { writer: { steered: string[] } } };
      expect(status.zookeeper.writer.steered).toEqual(w > 0 ? [IFACE] : []);
    }
    const before = await bridgeRequests(bridges, IFACE);
    for (const consumer of ['configurators', 'dubbo-js', 'sofa'] as const) {
      expectShare(`${consumer} at ${w}`, await meshAnswers(consumer, 'whoami'), CALLS, expectedShare(consumer, w));
    }
    // At 0 nothing goes through a bridge: no extra hop.
    if (w === 0) expect(await bridgeRequests(bridges, IFACE)).toBe(before);
  });

  it('gives one method its own weight and leaves the others on the legacy stack', async () => {
    await setWeight({ mesh: 0 });
    await setWeight({ mesh: 100, method: 'hello' });
    await steering(true);
    for (const consumer of ['configurators', 'dubbo-js', 'sofa'] as const) {
      expectShare(`${consumer}, hello at 100`, await meshAnswers(consumer, 'hello'), CALLS, expectedShare(consumer, 100));
      expectShare(`${consumer}, whoami at 0`, await meshAnswers(consumer, 'whoami'), CALLS, 0);
    }
    const res = await fetch(`http://${bridges[0].admin}/weights/${IFACE}`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    await steering(false);
  });
});

type Outcome = { at: number; stack: Stack | 'error' | 'pending' };

interface KillRecord {
  results: Record<Consumer, Outcome[]>;
  killedAt: number;
  /** When every bridge process had exited. */
  killed: number;
  /** When the configurator-honouring consumer was back on the legacy provider alone. */
  recoveredAt: number;
}

/**
 * Kills every bridge (SIGKILL) while the consumers call at a steady pace (every 15 ms each, each call
 * on its own, so one that hangs on a dead connection until its consumer's timeout holds up no other),
 * and keeps calling until 30 calls of each were answered after everyone is back on the legacy provider.
 */
async function killEveryBridge(): Promise<KillRecord> {
  const results: Record<Consumer, Outcome[]> = { 'dubbo-js': [], sofa: [], configurators: [] };
  const pending: Array<Promise<void>> = [];
  const timer = setInterval(() => {
    for (const consumer of ['dubbo-js', 'sofa', 'configurators'] as const) {
      const entry: Outcome = { at: Date.now(), stack: 'pending' };
      results[consumer].push(entry);
      pending.push(callOnce(consumer, 'whoami').then((stack) => void (entry.stack = stack), () => void (entry.stack = 'error')));
    }
  }, 15);
  try {
    await waitFor('calls through the bridges before the kill', () => (['dubbo-js', 'sofa', 'configurators'] as const).every((c) => results[c].some((r) => r.stack === 'mesh')));
    const killedAt = Date.now();
    await Promise.all(bridges.map((b) => b.kill()));
    const killed = Date.now();
    await waitFor('the configurator-honouring consumer back on the legacy provider', () => honouring.enabled().join() === legacy.address, SESSION_MS * 4);
    const recoveredAt = Date.now();
    const answered = (consumer: Consumer, from: number): number => results[consumer].filter((r) => r.at >= from && r.stack !== 'pending').length;
    await waitFor('calls answered after the kill and after the recovery', () => answered('dubbo-js', killed + 100) > 30 && answered('sofa', killed + 100) > 30 && answered('configurators', recoveredAt) > 30);
    clearInterval(timer);
    await Promise.all(pending);
    expect(await children(`/dubbo/${IFACE}/configurators`)).toEqual([]);
    bridges = [];
    return { results, killedAt, killed, recoveredAt };
  } finally {
    clearInterval(timer);
  }
}

/** Every call started from `from` on was answered by the legacy provider. */
function expectAllLegacyFrom(record: KillRecord, consumer: Consumer, from: number): void {
  const later = record.results[consumer].filter((r) => r.at >= from);
  expect(later.length).toBeGreaterThan(30);
  expect(later.filter((r) => r.stack !== 'legacy')).toEqual([]);
}

describe('when every bridge dies', () => {
  it('consumers go back to the legacy provider by themselves, within the session timeout', async () => {
    await setWeight({ mesh: 50 });
    await steering(true);
    const record = await killEveryBridge();
    expect(record.recoveredAt - record.killedAt).toBeLessThan(SESSION_MS + 2500);
    // Reading only the provider list, they had the legacy provider all along: the calls in flight
    // when the bridges died may fail; every later one is answered by the legacy stack.
    for (const consumer of ['dubbo-js', 'sofa'] as const) expectAllLegacyFrom(record, consumer, record.killed + 100);
    // Told the legacy provider is disabled until the overrides vanish: its calls fail until then, never after.
    expectAllLegacyFrom(record, 'configurators', record.recoveredAt);
  });

  it('with steering by weight 0, a consumer that honours configurators loses only the calls in flight too', async () => {
    for (const id of ['w1', 'w2']) bridges.push(await startBridgeChild(bridgeConfig(id, await freePort(), 'weight')));
    // The weight (50) is kept in ZooKeeper: the new bridges steer at once.
    await steering(true, 'weight');
    expectShare('configurators at 50, steering by weight', await meshAnswers('configurators', 'whoami'), CALLS, 0.5);
    const record = await killEveryBridge();
    for (const consumer of ['dubbo-js', 'sofa', 'configurators'] as const) expectAllLegacyFrom(record, consumer, record.killed + 100);
  });
});
