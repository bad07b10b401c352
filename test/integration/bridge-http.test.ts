// The bridge process on its embedded default (embedded Eureka, HTTP listener, admin API): a
// Spring-Cloud-style service registers through eureka-js-client as the legacy stack, the same app
// is declared on the mesh side in config, and an HTTP client reaches both through the bridge as
// the weight moves through the admin API.
import { createServer, Server } from 'node:http';
import { request } from 'undici';
import { Bridge } from '../../src/bridge/bridge-process';
import { validateBridgeConfig } from '../../src/bridge/config';
import { silentLogger } from '../../src/telemetry/logger';
import { StartedEurekaClient, startEurekaClient } from '../support/eureka-client';
import { waitFor } from '../support/wait';

async function answering(stack: string): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => res.end(JSON.stringify({ stack, url: req.url })));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port };
}

describe('bridge process: HTTP through the embedded Eureka, weights moved by the admin API', () => {
  let legacy: { server: Server; port: number };
  let mesh: { server: Server; port: number };
  let bridge: Bridge;
  let admin = '';
  let http = '';
  let eureka: StartedEurekaClient;

  beforeAll(async () => {
    legacy = await answering('legacy');
    mesh = await answering('mesh');
    const config = validateBridgeConfig({
      bridge: { id: 'bridge-test' },
      admin: { port: 0 },
      dubbo: { enabled: false },
      http: { port: 0 },
      mesh: { services: [{ name: 'ORDERS', protocol: 'http', instances: [{ host: '127.0.0.1', port: mesh.port }] }] },
      log: { level: 'silent' },
    });
    bridge = new Bridge(config, silentLogger());
    const addresses = await bridge.start();
    admin = `http://${addresses.admin}`;
    http = `http://${addresses.http}`;
    eureka = await startEurekaClient({ port: Number(addresses.admin.split(':')[1]), app: 'ORDERS', instanceId: 'orders-1', instancePort: legacy.port });
  });

  afterAll(async () => {
    await eureka?.stop();
    await bridge?.stop(1000);
    for (const s of [legacy, mesh]) {
      s?.server.closeAllConnections();
      s?.server.close();
    }
  });

  async function stackOf(): Promise<string> {
    const r = await request(`${http}/orders/1`, { headers: { host: 'orders' } });
    return ((await r.body.json()) as { stack: string }).stack;
  }

  it('serves the Eureka registration and the mesh instance in the catalog, and at weight 0 the legacy one alone to Eureka clients', async () => {
    const catalog = (await (await request(`${admin}/catalog/ORDERS`)).body.json()) as { instances: Array<{ stack: string; port: number }> };
    expect(catalog.instances.map((i) => `${i.stack}:${i.port}`).sort()).toEqual([`legacy:${legacy.port}`, `mesh:${mesh.port}`].sort());
    await waitFor('the client to fetch the legacy instance alone', () => {
      const fetched = eureka.instances('ORDERS') as Array<{ port: { $: number } }>;
      return fetched.length === 1 && fetched[0]?.port.$ === legacy.port;
    });
  });

  it('moves traffic from legacy to mesh as the weight is set through the admin API', async () => {
    expect(await stackOf()).toBe('legacy');
    const put = await request(`${admin}/weights/ORDERS`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mesh: 100 }) });
    expect(put.statusCode).toBe(200);
    await put.body.text();
    for (let i = 0; i < 20; i++) expect(await stackOf()).toBe('mesh');
    const traffic = (await (await request(`${admin}/traffic?service=ORDERS`)).body.json()) as { http: Array<{ stack: string; requests: number }> };
    expect(traffic.http.find((t) => t.stack === 'mesh')?.requests).toBeGreaterThanOrEqual(20);
  });

  it('refuses a bad weight with a code and the value', async () => {
    const r = await request(`${admin}/weights/ORDERS`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mesh: 150 }) });
    expect(r.statusCode).toBe(400);
    expect(((await r.body.json()) as { error: { code: string } }).error.code).toBe('WEIGHT_INVALID');
  });

  it('feeds a second bridge that reads this one as an external Eureka server', async () => {
    // At weight 0 this bridge shows the legacy instance as registered (while migrated, its own entry).
    await request(`${admin}/weights/ORDERS`, { method: 'DELETE' }).then((r) => r.body.text());
    const second = new Bridge(
      validateBridgeConfig({
        bridge: { id: 'bridge-reader' },
        admin: { port: 0 },
        dubbo: { enabled: false },
        http: { port: 0 },
        eureka: { embedded: false, servers: [`${admin}/eureka/`], fetchIntervalMs: 200 },
        log: { level: 'silent' },
      }),
      silentLogger(),
    );
    const addresses = await second.start();
    try {
      await waitFor('the Eureka registration in the second catalog', async () => {
        const r = await request(`http://${addresses.admin}/catalog/ORDERS`);
        const body = (await r.body.json()) as { instances?: Array<{ port: number; origin: { source: string } }> };
        return body.instances?.some((i) => i.port === legacy.port && i.origin.source === 'eureka') ?? false;
      });
      const r = await request(`http://${addresses.http}/x`, { headers: { host: 'orders' } });
      expect(((await r.body.json()) as { stack: string }).stack).toBe('legacy');
    } finally {
      await second.stop(500);
    }
  });

  it('drops the legacy instance when its client deregisters, and serves the mesh alone', async () => {
    await request(`${admin}/weights/ORDERS`, { method: 'DELETE' }).then((r) => r.body.text());
    await eureka.stop();
    await waitFor('the deregistration to reach the catalog', async () => {
      const body = (await (await request(`${admin}/catalog/ORDERS`)).body.json()) as { instances: unknown[] };
      return body.instances.length === 1;
    });
    // Weight 0 wants legacy, which is gone: the mesh serves rather than failing the call.
    expect(await stackOf()).toBe('mesh');
  });
});
