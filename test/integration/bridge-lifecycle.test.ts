// The bridge process from start to stop, as an operator meets it: an address it cannot have ends
// it with one line and status 1; a ZooKeeper not there yet starts it degraded (said by /healthz and
// /status) until ZooKeeper comes; a SIGTERM at any moment stops it at once and withdraws its
// provider URLs from ZooKeeper without waiting for a session timeout.
import { createServer, Server } from 'node:net';
import { request } from 'undici';
import { silentLogger } from '../../src/telemetry/logger';
import { ZkSession } from '../../src/zookeeper-sync/zk-session';
import { BridgeProcess, runCli } from '../support/bridge-process';
import { waitFor } from '../support/wait';
import { ZookeeperServer, freePort } from '../support/zookeeper';

const IFACE = 'com.example.demo.LifecycleService';

async function occupied(): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const portOf = (server: Server): number => (server.address() as { port: number }).port;

async function getJson(url: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await request(url);
  return { status: r.statusCode, json: (await r.body.json()) as Record<string, unknown> };
}

describe('the bridge process cannot have its address', () => {
  let taken: Server;
  beforeAll(async () => (taken = await occupied()));
  afterAll(() => taken.close());

  const base = { admin: { port: 0 }, dubbo: { port: 0 }, http: { port: 0 } };

  it.each([
    ['Dubbo listener', 'dubbo'],
    ['HTTP listener', 'http'],
    ['admin API', 'admin'],
  ])('ends with one line when the %s port is in use', async (what, key) => {
    const port = portOf(taken);
    const run = await runCli(['bridge'], { ...base, [key]: { port } });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`mesh-bridge: LISTEN_FAILED: cannot listen on 127.0.0.1:${port} for the ${what}: the port is already in use (EADDRINUSE)\n`);
  });

  it('ends with one line when the admin host does not resolve', async () => {
    // A name is not loopback: the bridge asks for a token first.
    const run = await runCli(['bridge'], { ...base, admin: { host: 'no-such-host.invalid', port: 0 } }, { env: { MESH_BRIDGE_ADMIN_TOKEN: 'a-token-long-enough-to-pass' } });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^mesh-bridge: LISTEN_FAILED: cannot listen on no-such-host\.invalid:0 for the admin API: the host name (does not resolve|could not be resolved)[^\n]*\n$/);
  });
});

describe('the bridge process started before ZooKeeper', () => {
  let zk: ZookeeperServer;
  const started: BridgeProcess[] = [];

  beforeAll(async () => {
    zk = await ZookeeperServer.start();
    await zk.stop();
  });

  afterAll(async () => {
    for (const bridge of started) if (!bridge.exited) await bridge.kill();
    await zk?.destroy();
  });

  function config(adminPort = 0, startWaitMs = 500): object {
    return {
      bridge: { id: 'early' },
      admin: { port: adminPort },
      zookeeper: { connect: zk.connectString, sessionTimeoutMs: 30_000, startWaitMs },
      dubbo: { port: 0 },
      http: { enabled: false },
      mesh: { services: [{ name: IFACE, protocol: 'dubbo', instances: [{ host: '127.0.0.1', port: 20999 }] }] },
    };
  }

  async function providers(): Promise<string[]> {
    const session = new ZkSession({ connectString: zk.connectString, sessionTimeoutMs: 6000, logger: silentLogger() });
    session.start();
    try {
      await session.whenConnected(10_000);
      return (await session.exists(`/dubbo/${IFACE}/providers`)) ? await session.getChildren(`/dubbo/${IFACE}/providers`) : [];
    } finally {
      await session.close();
    }
  }

  it('starts degraded, says so, connects when ZooKeeper comes, and a SIGTERM withdraws its URLs at once', async () => {
    const bridge = await BridgeProcess.start(config());
    started.push(bridge);
    const health = await getJson(`${bridge.admin}/healthz`);
    expect(health.status).toBe(503);
    expect(health.json).toMatchObject({ status: 'degraded', degraded: [{ part: 'zookeeper' }] });
    expect(String((health.json.degraded as Array<{ reason: string }>)[0].reason)).toMatch(/not reachable yet/);
    expect((await getJson(`${bridge.admin}/status`)).json.health).toMatchObject({ status: 'degraded' });
    expect((await getJson(`${bridge.admin}/livez`)).status).toBe(200);

    await zk.run();
    await waitFor('the bridge to connect and sync', async () => (await getJson(`${bridge.admin}/healthz`)).status === 200, 30_000);
    await waitFor('its provider URL in ZooKeeper', async () => (await providers()).length === 1, 15_000);

    const sent = Date.now();
    expect(await bridge.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(Date.now() - sent).toBeLessThan(8000);
    // Gone at once: the session timeout is 30 s.
    expect(await providers()).toEqual([]);
  });

  it('stops at once on SIGTERM while still waiting for ZooKeeper', async () => {
    await zk.stop();
    const adminPort = await freePort();
    const bridge = await BridgeProcess.start(config(adminPort, 60_000), { waitFor: 'nothing' });
    started.push(bridge);
    await waitFor('the admin API to answer', async () => {
      try {
        return (await getJson(`http://127.0.0.1:${adminPort}/livez`)).status === 200;
      } catch {
        return false;
      }
    }, 20_000);
    const sent = Date.now();
    expect(await bridge.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(Date.now() - sent).toBeLessThan(8000);
  });
});
