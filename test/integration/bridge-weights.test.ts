// Runtime weights shared through ZooKeeper: a change made on one bridge's admin API is applied by
// every bridge on the same ZooKeeper, survives a restart, and clearing it returns to the
// configured weight. With ZooKeeper unreachable a change is refused (503) rather than applied on
// one replica only.
import { request } from 'undici';
import { Bridge } from '../../src/bridge/bridge-process';
import { validateBridgeConfig } from '../../src/bridge/config';
import { CLOCK_SKEW_ALLOWANCE_MS, SharedWeights, WEIGHTS_ROOT } from '../../src/bridge/control/shared-weights';
import { StackWeights } from '../../src/proxy/router/stack-weights';
import { WeightControl } from '../../src/bridge/control/weight-control';
import { Registry, metricValue } from '../../src/telemetry/metrics';
import { silentLogger } from '../../src/telemetry/logger';
import { ZkSession } from '../../src/zookeeper-sync/zk-session';
import { BridgeProcess } from '../support/bridge-process';
import { ZookeeperServer } from '../support/zookeeper';
import { waitFor } from '../support/wait';

const SERVICE = 'com.example.demo.GreetingService';

describe('weights shared by bridges on one ZooKeeper', () => {
  let zk: ZookeeperServer;
  const bridges: Bridge[] = [];
  const admins: string[] = [];

  function newBridge(id: string): Bridge {
    return new Bridge(
      validateBridgeConfig({
        bridge: { id },
        admin: { port: 0 },
        zookeeper: { connect: zk.connectString, sessionTimeoutMs: 4000 },
        dubbo: { port: 0 },
        http: { enabled: false },
        mesh: { services: [{ name: SERVICE, protocol: 'dubbo', instances: [{ host: '127.0.0.1', port: 1 }] }] },
        routes: [{ service: SERVICE, mesh: 10, methods: { pay: 40 } }],
        log: { level: 'silent' },
      }),
      silentLogger(),
    );
  }

  async function put(admin: string, body: object): Promise<{ status: number; json: { error?: { code: string } } }> {
    const r = await request(`${admin}/weights/${SERVICE}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.statusCode, json: (await r.body.json()) as { error?: { code: string } } };
  }

  beforeAll(async () => {
    zk = await ZookeeperServer.start();
    for (const id of ['bridge-a', 'bridge-b']) {
      const bridge = newBridge(id);
      bridges.push(bridge);
      admins.push(`http://${(await bridge.start()).admin}`);
    }
  });

  afterAll(async () => {
    for (const bridge of bridges) await bridge.stop(500);
    await zk?.destroy();
  });

  it('applies a change made on one bridge on every bridge', async () => {
    expect(bridges.map((b) => b.weights.meshWeight(SERVICE))).toEqual([10, 10]);
    expect((await put(admins[0], { mesh: 70 })).status).toBe(200);
    expect((await put(admins[1], { mesh: 100, method: 'pay' })).status).toBe(200);
    await waitFor('both bridges to apply both changes', () =>
      bridges.every((b) => b.weights.meshWeight(SERVICE) === 70 && b.weights.meshWeight(SERVICE, 'pay') === 100),
    );
  });

  it('keeps the shared weights across a bridge restart', async () => {
    await bridges[1].stop(500);
    bridges[1] = newBridge('bridge-b');
    admins[1] = `http://${(await bridges[1].start()).admin}`;
    await waitFor('the restarted bridge to read the shared weights', () => bridges[1].weights.meshWeight(SERVICE) === 70 && bridges[1].weights.meshWeight(SERVICE, 'pay') === 100);
  });

  it('goes back to the configured weights on every bridge when the change is cleared', async () => {
    const r = await request(`${admins[1]}/weights/${SERVICE}`, { method: 'DELETE' });
    expect(r.statusCode).toBe(200);
    await r.body.text();
    await waitFor('both bridges back at the configured weights', () =>
      bridges.every((b) => b.weights.meshWeight(SERVICE) === 10 && b.weights.meshWeight(SERVICE, 'pay') === 40),
    );
  });

  it('refuses a change while ZooKeeper is unreachable, and changes nothing', async () => {
    await zk.stop();
    try {
      const answer = await put(admins[0], { mesh: 55 });
      expect(answer.status).toBe(503);
      expect(answer.json.error?.code).toBe('ZK_UNAVAILABLE');
      expect(bridges.map((b) => b.weights.meshWeight(SERVICE))).toEqual([10, 10]);
    } finally {
      await zk.run();
    }
    await waitFor('a change to go through again', async () => (await put(admins[0], { mesh: 20 })).status === 200, 15_000);
    await waitFor('both bridges to apply it', () => bridges.every((b) => b.weights.meshWeight(SERVICE) === 20));
  });
});

describe('a weight change refused while ZooKeeper is down (real bridge processes)', () => {
  const OTHER = 'com.example.demo.OtherService';
  let zk: ZookeeperServer;
  const bridges: BridgeProcess[] = [];

  function config(id: string): object {
    return {
      bridge: { id },
      admin: { port: 0 },
      zookeeper: { connect: zk.connectString, sessionTimeoutMs: 6000 },
      dubbo: { port: 0 },
      http: { enabled: false },
      mesh: {
        services: [SERVICE, OTHER].map((name) => ({ name, protocol: 'dubbo', instances: [{ host: '127.0.0.1', port: 1 }] })),
      },
      routes: [{ service: SERVICE, mesh: 10 }],
    };
  }

  async function call(admin: string, method: string, path: string, body?: object): Promise<{ status: number; json: Record<string, unknown> }> {
    const r = await request(`${admin}${path}`, { method: method as 'PUT', headers: { 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
    return { status: r.statusCode, json: (await r.body.json()) as Record<string, unknown> };
  }

  const meshOf = async (admin: string, service: string): Promise<unknown> => (await call(admin, 'GET', `/weights/${service}`)).json.mesh;
  const zkState = async (admin: string): Promise<unknown> => ((await call(admin, 'GET', '/status')).json.zookeeper as { state?: string } | null)?.state;

  async function storedWeights(service: string): Promise<unknown> {
    const session = new ZkSession({ connectString: zk.connectString, sessionTimeoutMs: 6000, logger: silentLogger() });
    session.start();
    try {
      await session.whenConnected(10_000);
      const stored = await session.getData(`${WEIGHTS_ROOT}/${encodeURIComponent(service)}`);
      return stored ? JSON.parse(stored.data.toString('utf8')).mesh : null;
    } finally {
      await session.close();
    }
  }

  beforeAll(async () => {
    zk = await ZookeeperServer.start();
    for (const id of ['bridge-a', 'bridge-b']) bridges.push(await BridgeProcess.start(config(id)));
  });

  afterAll(async () => {
    for (const bridge of bridges) await bridge.stop();
    await zk?.destroy();
  });

  it('never applies it later, on any replica, nor leaves it in the znode', async () => {
    const [a, b] = bridges.map((bridge) => bridge.admin);
    expect((await call(a, 'PUT', `/weights/${SERVICE}`, { mesh: 20 })).status).toBe(200);
    await waitFor('both bridges at 20', async () => (await meshOf(a, SERVICE)) === 20 && (await meshOf(b, SERVICE)) === 20);

    await zk.stop();
    await waitFor('both bridges to see ZooKeeper gone', async () => (await zkState(a)) !== 'connected' && (await zkState(b)) !== 'connected');
    const refused = await call(a, 'PUT', `/weights/${SERVICE}`, { mesh: 55 });
    expect(refused.status).toBe(503);
    expect((refused.json.error as { code: string }).code).toBe('ZK_UNAVAILABLE');
    expect((await call(b, 'PUT', `/weights/${SERVICE}`, { mesh: 65, method: 'pay' })).status).toBe(503);
    expect((await call(a, 'DELETE', `/weights/${SERVICE}`)).status).toBe(503);

    await zk.run();
    await waitFor('both bridges to reconnect', async () => (await zkState(a)) === 'connected' && (await zkState(b)) === 'connected', 30_000);
    // ZooKeeper applies one session's requests in order: once a change sent after the reconnect has
    // landed through each bridge, anything either had queued before it has landed too.
    await waitFor('a new change through bridge a', async () => (await call(a, 'PUT', `/weights/${OTHER}`, { mesh: 30 })).status === 200, 20_000);
    await waitFor('a new change through bridge b', async () => (await call(b, 'PUT', `/weights/${OTHER}`, { mesh: 40 })).status === 200, 20_000);
    await waitFor('both bridges to apply the last change', async () => (await meshOf(a, OTHER)) === 40 && (await meshOf(b, OTHER)) === 40);

    expect(await meshOf(a, SERVICE)).toBe(20);
    expect(await meshOf(b, SERVICE)).toBe(20);
    expect((await call(b, 'GET', `/weights/${SERVICE}`)).json.methods).toEqual([]);
    expect(await storedWeights(SERVICE)).toBe(20);
  });

  it('never applies a change refused because ZooKeeper hung (connected, not answering)', async () => {
    const [a, b] = bridges.map((bridge) => bridge.admin);
    const pid = zk.pid as number;
    // Frozen, not stopped: the connection stays open, so requests go out and wait for an answer.
    process.kill(pid, 'SIGSTOP');
    let refused: { status: number; json: Record<string, unknown> };
    try {
      refused = await call(a, 'PUT', `/weights/${SERVICE}`, { mesh: 75 });
    } finally {
      // Resumed well past the change's deadline: whatever was waiting is answered now.
      await new Promise((r) => setTimeout(r, 1000));
      process.kill(pid, 'SIGCONT');
    }
    expect(refused.status).toBe(503);
    await waitFor('both bridges connected', async () => (await zkState(a)) === 'connected' && (await zkState(b)) === 'connected', 30_000);
    await waitFor('a new change through bridge a', async () => (await call(a, 'PUT', `/weights/${OTHER}`, { mesh: 50 })).status === 200, 20_000);
    await waitFor('bridge b to apply it', async () => (await meshOf(b, OTHER)) === 50);
    expect(await meshOf(a, SERVICE)).toBe(20);
    expect(await meshOf(b, SERVICE)).toBe(20);
    expect(await storedWeights(SERVICE)).toBe(20);
  });
});

describe('a weight write that reaches ZooKeeper after its change was refused', () => {
  let zk: ZookeeperServer;
  const sessions: ZkSession[] = [];
  let delayMs = 0;

  async function connected(): Promise<ZkSession> {
    const session = new ZkSession({ connectString: zk.connectString, sessionTimeoutMs: 10_000, logger: silentLogger() });
    sessions.push(session);
    session.start();
    await session.whenConnected(10_000);
    return session;
  }

  /** The session as seen by the writer: its writes leave `delayMs` late (a slow network, a GC pause). */
  function slowWrites(session: ZkSession): ZkSession {
    return new Proxy(session, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target) as unknown;
        if (typeof value !== 'function') return value;
        if (prop !== 'setData' && prop !== 'create') return value.bind(target);
        return async (...args: unknown[]) => {
          await new Promise((r) => setTimeout(r, delayMs));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  }

  beforeAll(async () => {
    zk = await ZookeeperServer.start();
  });

  afterAll(async () => {
    for (const session of sessions) await session.close();
    await zk?.destroy();
  });

  it.each([
    ['after its deadline and the clock-skew allowance: no replica ever applies it', 3500],
    ['just after its deadline: its writer reverts it', 1000],
  ])('is undone when it lands %s', async (_when, delay) => {
    const service = `com.example.Late${delay}`;
    const metrics = new Registry();
    const writerControl = new WeightControl(new StackWeights(), [{ service, mesh: 10, methods: {} }]);
    const writer = new SharedWeights({ session: slowWrites(await connected()), control: writerControl, metrics, logger: silentLogger(), owner: 'writer', writeTimeoutMs: 500 });
    const readerWeights = new StackWeights();
    const reader = new SharedWeights({ session: await connected(), control: new WeightControl(readerWeights, [{ service, mesh: 10, methods: {} }]), metrics: new Registry(), logger: silentLogger() });
    writer.start();
    reader.start();
    try {
      delayMs = 0;
      await writerControl.set(service, undefined, 20);
      await waitFor('the reader to apply 20', () => readerWeights.meshWeight(service) === 20);

      delayMs = delay;
      await expect(writerControl.set(service, undefined, 80)).rejects.toMatchObject({ code: 'ZK_UNAVAILABLE' });
      expect(writerControl.weights.meshWeight(service)).toBe(20);
      const seen = new Set<number>();
      const until = Date.now() + delay + 1500;
      while (Date.now() < until) {
        seen.add(readerWeights.meshWeight(service));
        await new Promise((r) => setTimeout(r, 10));
      }
      await waitFor('the writer to revert it', async () => (await metricValue(metrics, 'mesh_bridge_weights_reverted_total')) === 1);
      await waitFor('every replica back at 20', () => readerWeights.meshWeight(service) === 20 && writerControl.weights.meshWeight(service) === 20);
      if (delay > 500 + CLOCK_SKEW_ALLOWANCE_MS) expect([...seen]).toEqual([20]);
      const session = await connected();
      const stored = await session.getData(`${WEIGHTS_ROOT}/${encodeURIComponent(service)}`);
      expect(JSON.parse(String(stored?.data))).toMatchObject({ mesh: 20 });
    } finally {
      writer.stop();
      reader.stop();
    }
  });
});
