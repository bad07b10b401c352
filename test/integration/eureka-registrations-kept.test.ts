// Registrations held by the embedded Eureka survive a bridge restart and are shared by replicas
// through ZooKeeper, as a Eureka cluster replicates them: a real eureka-js-client keeps being
// served and its heartbeats keep succeeding across a restart, with no re-registration storm.
import { ChildProcess, spawn } from 'node:child_process';
import { createServer, request as httpRequest, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { request } from 'undici';
import { Bridge } from '../../src/bridge/bridge-process';
import { validateBridgeConfig } from '../../src/bridge/config';
import { silentLogger } from '../../src/telemetry/logger';
import { metricValue } from '../../src/telemetry/metrics';
import { startEurekaClient, StartedEurekaClient } from '../support/eureka-client';
import { freePort, ZookeeperServer } from '../support/zookeeper';
import { waitFor } from '../support/wait';

describe('embedded Eureka registrations kept in ZooKeeper', () => {
  let zk: ZookeeperServer;
  let legacy: Server;
  let registrant: StartedEurekaClient | null = null;
  const bridges: Bridge[] = [];

  function newBridge(id: string, adminPort: number, httpPort: number): Bridge {
    const bridge = new Bridge(
      validateBridgeConfig({
        bridge: { id },
        admin: { port: adminPort },
        zookeeper: { connect: zk.connectString, sessionTimeoutMs: 4000 },
        dubbo: { enabled: false },
        http: { port: httpPort },
        log: { level: 'silent' },
      }),
      silentLogger(),
    );
    bridges.push(bridge);
    return bridge;
  }

  /** One call through a bridge's HTTP listener, naming the app by Host. */
  function callThrough(httpPort: number): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: httpPort, path: '/', headers: { host: `orders.localhost:${httpPort}` } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  async function served(adminPort: number): Promise<string[]> {
    const r = await request(`http://127.0.0.1:${adminPort}/eureka/apps/ORDERS`, { headers: { accept: 'application/json' } });
    if (r.statusCode !== 200) {
      await r.body.dump();
      return [];
    }
    const json = (await r.body.json()) as { application: { instance: Array<{ instanceId: string }> } };
    return json.application.instance.map((i) => i.instanceId);
  }

  beforeAll(async () => {
    zk = await ZookeeperServer.start();
    legacy = createServer((_req, res) => res.end('legacy'));
    await new Promise<void>((resolve) => legacy.listen(0, '127.0.0.1', resolve));
  });

  const children = new Set<ChildProcess>();

  /** A bridge in a process of its own (tsx), so SIGKILL really kills it: no graceful anything. */
  async function spawnBridge(adminPort: number, httpPort: number): Promise<ChildProcess> {
    const src = (path: string): string => JSON.stringify(resolve(__dirname, '../../src', path));
    const script = `
      const { Bridge } = require(${src('bridge/bridge-process')});
      const { validateBridgeConfig } = require(${src('bridge/config')});
      const { silentLogger } = require(${src('telemetry/logger')});
      const bridge = new Bridge(validateBridgeConfig(JSON.parse(process.env.BRIDGE_CONFIG)), silentLogger());
      bridge.start().then(() => console.log('STARTED'), (err) => { console.error(err); process.exit(2); });`;
    const config = {
      bridge: { id: 'bridge-k' },
      admin: { port: adminPort },
      zookeeper: { connect: zk.connectString, sessionTimeoutMs: 4000 },
      dubbo: { enabled: false },
      http: { port: httpPort },
      log: { level: 'silent' },
    };
    const child = spawn(process.execPath, ['--import', 'tsx', '--eval', script], {
      cwd: resolve(__dirname, '../..'),
      env: { ...process.env, BRIDGE_CONFIG: JSON.stringify(config) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    await waitFor(`the bridge process to start (${output})`, () => output.includes('STARTED'), 30_000);
    return child;
  }

  /** A counter of a bridge's /metrics, by its labels as Prometheus writes them. */
  async function metric(adminPort: number, series: string): Promise<number> {
    const text = await (await request(`http://127.0.0.1:${adminPort}/metrics`)).body.text();
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? 0 : Number(line.split(' ')[1]);
  }

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await registrant?.stop();
    for (const bridge of bridges) await bridge.stop(500).catch(() => undefined);
    legacy?.close();
    await zk?.destroy();
  });

  it('serves a registration at once after a restart, and its heartbeats keep succeeding', async () => {
    const adminPort = await freePort();
    const httpPort = await freePort();
    const first = newBridge('bridge-a', adminPort, httpPort);
    await first.start();
    registrant = await startEurekaClient({ port: adminPort, app: 'orders', instanceId: 'orders-1', instancePort: (legacy.address() as AddressInfo).port });
    await waitFor('the registration served', async () => (await served(adminPort)).includes('orders-1'));
    expect(await callThrough(httpPort)).toEqual({ status: 200, body: 'legacy' });
    await first.stop(500);

    const second = newBridge('bridge-a', adminPort, httpPort);
    await second.start();
    // Before the client's next heartbeat could have re-registered it: served from what was kept.
    const unknownBefore = await metricValue(second.metrics, 'mesh_bridge_eureka_renewals_total', { result: 'unknown' });
    expect(unknownBefore).toBe(0);
    expect(await served(adminPort)).toEqual(['orders-1']);
    expect(await callThrough(httpPort)).toEqual({ status: 200, body: 'legacy' });
    await waitFor('heartbeats renewed at the restarted bridge', async () => (await metricValue(second.metrics, 'mesh_bridge_eureka_renewals_total', { result: 'renewed' })) >= 5);
    // At most the one 404 a heartbeat racing the restart may get; none once loaded.
    expect(await metricValue(second.metrics, 'mesh_bridge_eureka_renewals_total', { result: 'unknown' })).toBe(0);
  }, 60_000);

  it('serves a registration at once after the bridge was killed (SIGKILL) and started again', async () => {
    const adminPort = await freePort();
    const httpPort = await freePort();
    const first = await spawnBridge(adminPort, httpPort);
    const client = await startEurekaClient({ port: adminPort, app: 'orders', instanceId: 'orders-k', instancePort: (legacy.address() as AddressInfo).port });
    try {
      await waitFor('the registration served', async () => (await served(adminPort)).includes('orders-k'));
      const exited = new Promise((done) => first.once('exit', done));
      first.kill('SIGKILL');
      await exited;
      await spawnBridge(adminPort, httpPort);
      expect(await served(adminPort)).toContain('orders-k');
      expect(await callThrough(httpPort)).toEqual({ status: 200, body: 'legacy' });
      await waitFor('heartbeats renewed at the restarted bridge', async () => (await metric(adminPort, 'mesh_bridge_eureka_renewals_total{result="renewed"}')) >= 5);
      expect(await metric(adminPort, 'mesh_bridge_eureka_renewals_total{result="unknown"}')).toBe(0);
    } finally {
      await client.stop();
    }
  }, 90_000);

  it('shares registrations and their removal with a replica on the same ZooKeeper', async () => {
    const replicaAdmin = await freePort();
    const replica = newBridge('bridge-b', replicaAdmin, 0);
    await replica.start();
    expect(await served(replicaAdmin)).toEqual(['orders-1']);
    await registrant?.stop();
    registrant = null;
    await waitFor('the cancelled registration gone at the replica', async () => (await served(replicaAdmin)).length === 0);
  }, 60_000);

  it('keeps a lease alive at a replica while its client heartbeats to another bridge', async () => {
    const aAdmin = await freePort();
    const bAdmin = await freePort();
    const a = newBridge('bridge-c', aAdmin, 0);
    const b = newBridge('bridge-d', bAdmin, 0);
    await a.start();
    await b.start();
    const body = JSON.stringify({
      instance: {
        instanceId: 'short-1',
        app: 'SHORT',
        hostName: '127.0.0.1',
        ipAddr: '127.0.0.1',
        port: { $: 9, '@enabled': 'true' },
        dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
        leaseInfo: { renewalIntervalInSecs: 1, durationInSecs: 3 },
      },
    });
    const posted = await request(`http://127.0.0.1:${aAdmin}/eureka/apps/SHORT`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    expect(posted.statusCode).toBe(204);
    await posted.body.dump();
    await waitFor('the replica to hold the lease', () => b.eureka?.instance('SHORT', 'short-1') !== undefined);
    // Heartbeats go to bridge-c only, once a second, for twice the lease.
    const started = Date.now();
    while (Date.now() - started < 6000) {
      const beat = await request(`http://127.0.0.1:${aAdmin}/eureka/apps/SHORT/short-1`, { method: 'PUT' });
      expect(beat.statusCode).toBe(200);
      await beat.body.dump();
      await new Promise((done) => setTimeout(done, 1000));
    }
    // The replica saw the lease renewed within its duration, so its eviction would keep it.
    const lease = b.eureka?.instance('SHORT', 'short-1')?.lease;
    expect(Date.now() - (lease?.lastRenewalTimestamp ?? 0)).toBeLessThan(3000);
    expect(b.eureka?.evict()).toEqual([]);
    const cancelled = await request(`http://127.0.0.1:${aAdmin}/eureka/apps/SHORT/short-1`, { method: 'DELETE' });
    expect(cancelled.statusCode).toBe(200);
    await cancelled.body.dump();
    await waitFor('the cancel to reach the replica', () => b.eureka?.instance('SHORT', 'short-1') === undefined);
  }, 60_000);
});
