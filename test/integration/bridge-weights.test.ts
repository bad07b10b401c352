// Runtime weights shared through ZooKeeper: a change made on one bridge's admin API is applied by
// every bridge on the same ZooKeeper, survives a restart, and clearing it returns to the
// configured weight. With ZooKeeper unreachable a change is refused (503) rather than applied on
// one replica only.
import { request } from 'undici';
import { Bridge } from '../../src/bridge/bridge-process';
import { validateBridgeConfig } from '../../src/bridge/config';
import { silentLogger } from '../../src/telemetry/logger';
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
