// Service names as each registry matches them, against a real bridge process, a real ZooKeeper and
// a real eureka-js-client: a Eureka app is one service whatever the case it is named in, a Dubbo
// interface name matches exactly, and a name nobody knows gets a 404, never a weight or a znode.
import { Server, createServer } from 'node:http';
import { request } from 'undici';
import { WEIGHTS_ROOT } from '../../src/bridge/control/shared-weights';
import { silentLogger } from '../../src/telemetry/logger';
import { ZkSession } from '../../src/zookeeper-sync/zk-session';
import { BridgeProcess, runCli } from '../support/bridge-process';
import { StartedEurekaClient, startEurekaClient } from '../support/eureka-client';
import { waitFor } from '../support/wait';
import { ZookeeperServer } from '../support/zookeeper';

const IFACE = 'com.example.demo.GreetingService';

async function answering(text: string): Promise<Server> {
  const server = createServer((_req, res) => res.end(text));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const portOf = (server: Server): number => (server.address() as { port: number }).port;

describe('service names (a real bridge process)', () => {
  let zk: ZookeeperServer;
  let bridge: BridgeProcess;
  let legacy: Server;
  let mesh: Server;
  let eureka: StartedEurekaClient | undefined;

  beforeAll(async () => {
    zk = await ZookeeperServer.start();
    [legacy, mesh] = await Promise.all([answering('legacy'), answering('mesh')]);
    bridge = await BridgeProcess.start({
      bridge: { id: 'names' },
      admin: { port: 0 },
      zookeeper: { connect: zk.connectString, sessionTimeoutMs: 6000 },
      dubbo: { port: 0 },
      http: { port: 0, routeBy: 'host' },
      mesh: {
        services: [
          { name: 'orders', protocol: 'http', instances: [{ host: '127.0.0.1', port: portOf(mesh) }] },
          { name: IFACE, protocol: 'dubbo', instances: [{ host: '127.0.0.1', port: 1 }] },
        ],
      },
      routes: [{ service: 'orders', mesh: 0 }],
    });
    const adminPort = Number(bridge.addresses.admin.split(':').pop());
    eureka = await startEurekaClient({ port: adminPort, app: 'orders', instanceId: 'orders-legacy-1', instancePort: portOf(legacy) });
  });

  afterAll(async () => {
    await eureka?.stop();
    await bridge?.stop();
    await zk?.destroy();
    legacy?.close();
    mesh?.close();
  });

  async function admin(method: string, path: string, body?: object): Promise<{ status: number; json: Record<string, unknown> }> {
    const r = await request(`${bridge.admin}${path}`, { method: method as 'PUT', headers: { 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
    return { status: r.statusCode, json: (await r.body.json()) as Record<string, unknown> };
  }

  async function answers(count: number): Promise<Record<string, number>> {
    const seen: Record<string, number> = {};
    for (let i = 0; i < count; i++) {
      const r = await request(`http://${bridge.addresses.http}/`, { headers: { host: 'orders' } });
      const text = await r.body.text();
      seen[text] = (seen[text] ?? 0) + 1;
    }
    return seen;
  }

  it('moves the Eureka app ORDERS when asked for orders', async () => {
    await waitFor('the legacy ORDERS instance in the catalog', async () => ((await admin('GET', '/catalog/ORDERS')).json.instances as unknown[] | undefined)?.length === 2);
    expect(await answers(20)).toEqual({ legacy: 20 });
    const moved = await admin('PUT', '/weights/orders', { mesh: 100 });
    expect(moved).toMatchObject({ status: 200, json: { service: 'ORDERS', mesh: 100 } });
    expect(await answers(20)).toEqual({ mesh: 20 });
    expect((await admin('GET', '/weights/Orders')).json).toMatchObject({ service: 'ORDERS', mesh: 100 });
  });

  it('matches a Dubbo interface name exactly', async () => {
    expect((await admin('PUT', `/weights/${IFACE}`, { mesh: 10 })).status).toBe(200);
    const wrongCase = await admin('PUT', `/weights/${IFACE.toLowerCase()}`, { mesh: 10 });
    expect(wrongCase.status).toBe(404);
    expect((wrongCase.json.error as { code: string }).code).toBe('SERVICE_NOT_FOUND');
  });

  it('refuses a weight for a service nobody knows, and writes no znode for it', async () => {
    for (let i = 0; i < 20; i++) {
      const r = await admin('PUT', `/weights/com.example.Invented${i}`, { mesh: 50 });
      expect(r.status).toBe(404);
      expect((await admin('DELETE', `/weights/com.example.Invented${i}?method=pay`)).status).toBe(404);
    }
    const session = new ZkSession({ connectString: zk.connectString, sessionTimeoutMs: 6000, logger: silentLogger() });
    session.start();
    try {
      await session.whenConnected(10_000);
      expect((await session.getChildren(WEIGHTS_ROOT)).map(decodeURIComponent).sort()).toEqual(['ORDERS', IFACE]);
    } finally {
      await session.close();
    }
  });

  it('fails --check for a route naming a service it does not know', async () => {
    const run = await runCli(['bridge', '--check'], { routes: [{ service: 'com.example.Invented' }, { service: IFACE.toLowerCase() }], mesh: { services: [{ name: IFACE, protocol: 'dubbo', instances: [{ host: '127.0.0.1', port: 1 }] }] } });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^mesh-bridge: CONFIG_INVALID: invalid configuration in .*bridge\.yaml:\n {2}routes\.0\.service: "com\.example\.Invented" is no service of mesh\.services.*\n {2}routes\.1\.service: .*did you mean "com\.example\.demo\.GreetingService"/);
  });
});
