// The bridge process with both registries: ZooKeeper (real, from Debian) and its embedded Eureka.
// Unmodified peers find each other across the border: an apache-dubbo-js consumer calls a service
// that exists only on the mesh side, through provider URLs the bridge wrote; an app registered by
// eureka-js-client appears in ZooKeeper for its consumers; a Dubbo provider in ZooKeeper appears
// in Eureka clients' fetches.
import { Bridge } from '../../src/bridge/bridge-process';
import { validateBridgeConfig } from '../../src/bridge/config';
import { silentLogger } from '../../src/telemetry/logger';
import { closeZookeeper, connectZookeeper, java, listRegistered, registerProvider, SofaProvider, startDubboJsConsumer, startSofaProvider } from '../support/dubbo-peers';
import { StartedEurekaClient, startEurekaClient } from '../support/eureka-client';
import { ZookeeperServer, freePort } from '../support/zookeeper';
import { waitFor } from '../support/wait';

const MESH_ONLY = 'com.example.mesh.InventoryService';
const LEGACY = 'com.example.legacy.PricingService';
const VERSION = '1.0.0';

async function children(connectString: string, path: string): Promise<string[]> {
  const client = await connectZookeeper(connectString);
  try {
    return await new Promise<string[]>((resolve) => client.getChildren(path, (err, names) => resolve(err ? [] : names)));
  } finally {
    await closeZookeeper(client);
  }
}

describe.each(['instance', 'bridge'] as const)('bridge with ZooKeeper and embedded Eureka (provider URLs at the %s)', (target) => {
  let zk: ZookeeperServer;
  let meshProvider: SofaProvider;
  let bridge: Bridge;
  let adminPort = 0;
  let dubboPort = 0;

  beforeAll(async () => {
    zk = await ZookeeperServer.start();
    // Not registered anywhere: only the bridge's config knows it.
    meshProvider = await startSofaProvider({ interface: MESH_ONLY, version: VERSION, methods: { stock: (sku: string) => `${sku}: 7 in stock` }, register: false });
    [adminPort, dubboPort] = [await freePort(), await freePort()];
    const config = validateBridgeConfig({
      bridge: { id: `bridge-${target}` },
      admin: { port: adminPort },
      zookeeper: { connect: zk.connectString, sessionTimeoutMs: 10_000, export: { target } },
      dubbo: { port: dubboPort },
      http: { port: 0 },
      mesh: { services: [{ name: MESH_ONLY, protocol: 'dubbo', instances: [{ host: '127.0.0.1', port: meshProvider.port, version: VERSION }] }] },
      log: { level: 'silent' },
    });
    bridge = new Bridge(config, silentLogger());
    await bridge.start();
  });

  afterAll(async () => {
    await bridge?.stop(1000);
    await meshProvider?.stop();
    await zk?.destroy();
  });

  it('lets an unmodified apache-dubbo-js consumer find and call a mesh-only service', async () => {
    const urls = await listRegistered(zk.connectString, MESH_ONLY, 'providers');
    expect(urls).toHaveLength(1);
    expect(urls[0]).toContain(target === 'bridge' ? `127.0.0.1:${dubboPort}/${MESH_ONLY}` : `127.0.0.1:${meshProvider.port}/${MESH_ONLY}`);
    const consumer = await startDubboJsConsumer({ zk: zk.connectString, interface: MESH_ONLY, version: VERSION, methods: ['stock'] });
    try {
      for (let i = 0; i < 5; i++) {
        const { err, res } = await consumer.call('stock', [java.String(`sku-${i}`)]);
        expect(err).toBeFalsy();
        expect(res).toBe(`sku-${i}: 7 in stock`);
      }
    } finally {
      await consumer.stop();
    }
  });

  it('puts an app registered through eureka-js-client into ZooKeeper for Dubbo 3 / Curator consumers', async () => {
    const client: StartedEurekaClient = await startEurekaClient({ port: adminPort, app: 'BILLING', instanceId: 'billing-1', instancePort: 9090 });
    try {
      await waitFor('the Eureka app in ZooKeeper', async () => (await children(zk.connectString, '/services/BILLING')).includes('127.0.0.1:9090'));
    } finally {
      await client.stop();
    }
    await waitFor('its removal from ZooKeeper after deregistration', async () => (await children(zk.connectString, '/services/BILLING')).length === 0);
  });

  it('reads a Spring Cloud Zookeeper (Curator) app instance under /services into the catalog, and its removal', async () => {
    const client = await connectZookeeper(zk.connectString);
    const node = '/services/inventory-web/7f3c';
    const json = JSON.stringify({ name: 'inventory-web', id: '7f3c', address: '127.0.0.1', port: 18777, sslPort: null, payload: { '@class': 'org.springframework.cloud.zookeeper.discovery.ZookeeperInstance', metadata: { zone: 'z1' } } });
    try {
      await new Promise<void>((resolve, reject) => client.mkdirp('/services/inventory-web', (err) => (err ? reject(err) : resolve())));
      await new Promise<void>((resolve, reject) => client.create(node, Buffer.from(json), 0 /* persistent */, (err) => (err ? reject(err) : resolve())));
      const catalogHas = async (): Promise<boolean> => {
        const res = await fetch(`http://127.0.0.1:${adminPort}/catalog/inventory-web`);
        const body = (await res.json()) as { instances?: Array<{ port: number; protocol: string; labels: Record<string, string> }> };
        return body.instances?.some((i) => i.port === 18777 && i.protocol === 'http' && i.labels.zone === 'z1') ?? false;
      };
      await waitFor('the Curator instance in the catalog', catalogHas);
      await new Promise<void>((resolve, reject) => client.remove(node, -1, (err) => (err ? reject(err) : resolve())));
      await waitFor('its removal from the catalog', async () => !(await catalogHas()));
    } finally {
      await closeZookeeper(client);
    }
  });

  it("serves a Dubbo provider registered in ZooKeeper in Eureka clients' fetches", async () => {
    const registration = await registerProvider(zk.connectString, { interface: LEGACY, version: VERSION, port: 20999, methods: ['price'], application: 'pricing' });
    const client = await startEurekaClient({ port: adminPort, app: 'WATCHER', instanceId: 'watcher-1', instancePort: 9191 });
    try {
      const app = LEGACY.toUpperCase();
      await waitFor('the provider in the Eureka fetch', () => client.instances(app).length === 1 || client.instances(LEGACY).length === 1);
      const [instance] = client.instances(app).length ? client.instances(app) : client.instances(LEGACY);
      expect(instance).toMatchObject({ ipAddr: '127.0.0.1' });
      expect(JSON.stringify(instance.port)).toContain('20999');
      await registration.unregister();
      await waitFor('the provider gone from the Eureka fetch', () => client.instances(app).length === 0 && client.instances(LEGACY).length === 0);
    } finally {
      await client.stop();
      await registration.unregister();
    }
  });
});
