// The side-by-side run with real Dubbo peers: an unmodified apache-dubbo-js consumer calls through
// the sidecar's outbound Dubbo stack to a legacy sofa-rpc-node provider; the sidecar copies the
// calls to a mesh sofa-rpc-node provider that answers one method differently. GET /shadow shows
// that method mismatched (with a sample) and the others matched; a mirror that is slow (2 s) does
// not slow the real calls, and one that is gone never fails them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { DubboJsConsumer, SofaProvider, java, registerProvider, startDubboJsConsumer, startSofaProvider } from '../support/dubbo-peers';
import { SidecarChild, adminJson, startSidecar } from '../support/sidecar-child';
import { SofaProviderChild, startSofaProviderChild } from '../support/sofa-provider-process';
import { ShadowRow, shadowRow } from '../support/shadow-report';
import { waitFor } from '../support/wait';
import { ZookeeperServer } from '../support/zookeeper';

const IFACE = 'com.example.demo.CatalogService';
const VERSION = '1.0.0';
const METHODS = ['getItem', 'getPrice', 'getStock', 'echo', 'echoMirrored', 'save'];

const row = (sidecar: SidecarChild, method: string): Promise<ShadowRow | undefined> => shadowRow(sidecar, IFACE, method);

function p50(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

describe('mesh-bridge sidecar: the side-by-side run with real Dubbo peers', () => {
  let dir: string;
  let legacy: SofaProvider;
  let mesh: SofaProviderChild | undefined;
  let sidecar: SidecarChild;
  let zk: ZookeeperServer;
  let registration: { unregister(): Promise<void> } | undefined;
  let consumer: DubboJsConsumer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sidecar-shadow-dubbo-'));
    legacy = await startSofaProvider({
      interface: IFACE,
      version: VERSION,
      register: false,
      methods: {
        getItem: async (id: unknown) => ({ id: Number(id), name: `item-${String(id)}`, servedBy: 'legacy', at: Date.now() }),
        getPrice: async () => 100,
        getStock: async () => 5,
        echo: async (s: unknown) => s,
        echoMirrored: async (s: unknown) => s,
        save: async () => true,
      },
    });
    // The mesh provider runs in a process of its own: the timing test then measures the sidecar,
    // not the copies' work landing on the consumer's event loop.
    mesh = await startSofaProviderChild(IFACE, VERSION, {
      getItem: "async (id) => ({ id: Number(id), name: `item-${String(id)}`, servedBy: 'mesh', at: Date.now() })",
      getPrice: 'async () => 101',
      getStock: "async () => { throw new Error('stock service down'); }",
      echo: 'async (s) => s',
      echoMirrored: 'async (s) => { await new Promise((done) => setTimeout(done, 2000)); return s; }',
      save: 'async () => true',
    });
    const file = join(dir, 'sidecar.yaml');
    writeFileSync(
      file,
      stringify({
        app: 'shop',
        admin: { listen: '127.0.0.1:0' },
        dubbo: {
          outbound: {
            listen: '127.0.0.1:0',
            services: [{ name: IFACE, meshWeight: 0, idempotentMethods: ['getItem', 'getPrice', 'getStock', 'echo', 'echoMirrored'], legacy: [legacy.address], mesh: [mesh.address] }],
          },
        },
        shadow: {
          timeoutMs: 5000,
          maxInFlight: 20,
          dubbo: [{ service: IFACE, percent: 100, methods: { echo: 0 }, ignore: { paths: ['$.servedBy', '$.at'] } }],
        },
      }),
    );
    sidecar = await startSidecar(file);
    zk = await ZookeeperServer.start();
    registration = await registerProvider(zk.connectString, { interface: IFACE, version: VERSION, port: sidecar.ports['dubbo.outbound'], methods: METHODS, application: 'shop-sidecar' });
    consumer = await startDubboJsConsumer({ zk: zk.connectString, interface: IFACE, version: VERSION, methods: METHODS, timeoutSeconds: 10 });
  }, 90_000);

  afterAll(async () => {
    await consumer?.stop();
    await registration?.unregister();
    await zk?.destroy();
    await sidecar?.stop();
    await mesh?.stop();
    await legacy?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds the method the mesh answers differently and matches the others, ignoring the volatile fields', async () => {
    for (let i = 1; i <= 5; i++) {
      expect(await consumer.call('getItem', [java.long(i)])).toMatchObject({ err: null, res: { id: i, name: `item-${i}`, servedBy: 'legacy' } });
      expect(await consumer.call('getPrice', [java.long(i)])).toMatchObject({ err: null, res: 100 });
    }
    await waitFor('both methods compared five times', async () => (await row(sidecar, 'getItem'))?.compared === 5 && (await row(sidecar, 'getPrice'))?.compared === 5);
    expect(await row(sidecar, 'getItem')).toMatchObject({ service: IFACE, mirrored: 5, matched: 5, mismatched: 0, mismatchRate: 0 });
    const price = (await row(sidecar, 'getPrice')) as ShadowRow;
    expect(price).toMatchObject({ mirrored: 5, matched: 0, mismatched: 5, mismatchRate: 1 });
    expect(price.samples.length).toBe(3); // the default bound
    expect(price.samples[0]).toMatchObject({ path: '$', primary: '100', shadow: '101' });
    const metrics = (await adminJson(sidecar, '/metrics')).text as string;
    expect(metrics).toMatch(new RegExp(`mesh_bridge_shadow_calls_total\\{protocol="dubbo",service="${IFACE}",method="getPrice",result="mismatched"\\} 5`));
  }, 60_000);

  it('keeps the real answer when the mirror throws, and reports the difference in kind', async () => {
    expect(await consumer.call('getStock', [java.long(1)])).toMatchObject({ err: null, res: 5 });
    await waitFor('the answer compared', async () => (await row(sidecar, 'getStock'))?.compared === 1);
    const stock = (await row(sidecar, 'getStock')) as ShadowRow;
    expect(stock).toMatchObject({ mismatched: 1 });
    // sofa-rpc-node answers a thrown error with status 80 and its message.
    expect(stock.samples[0]).toMatchObject({ path: '(kind)', primary: '5' });
    expect(stock.samples[0].shadow).toMatch(/^"status 80: .*stock service down/);
  }, 30_000);

  it('does not copy a method not marked idempotent, and says so', async () => {
    expect(await consumer.call('save', [java.String('x')])).toMatchObject({ err: null, res: true });
    await waitFor('the write to be counted', async () => (await row(sidecar, 'save'))?.writesNotMirrored === 1);
    expect(mesh?.saw).not.toContain('save');
  }, 30_000);

  it('does not slow the real calls when the mirror takes 2 s to answer, and drops copies past the in-flight cap', async () => {
    const plain: number[] = [];
    const mirrored: number[] = [];
    const time = async (method: string, into: number[], i: number): Promise<void> => {
      const started = performance.now();
      expect(await consumer.call(method, [java.String(`v${i}`)])).toMatchObject({ err: null, res: `v${i}` });
      into.push(performance.now() - started);
    };
    // Interleaved, so both see the same machine: `echo` is not copied (its share is 0), `echoMirrored` is.
    for (let i = 0; i < 30; i++) {
      await time('echo', plain, i);
      await time('echoMirrored', mirrored, i);
    }
    const copied = (await row(sidecar, 'echoMirrored')) as ShadowRow;
    // 30 calls in far less than 2 s: the first 20 copies fill the cap, the rest are dropped.
    expect(copied.mirrored + copied.dropped).toBe(30);
    expect(copied.dropped).toBeGreaterThan(0);
    expect(await row(sidecar, 'echo')).toBeUndefined();
    // The mirror answers 2 s late: a real call that waited for it would take 2,000 ms.
    expect(p50(mirrored)).toBeLessThan(p50(plain) * 2 + 25);
    // The copies are still compared once their answers come.
    await waitFor('the slow copies to be compared', async () => (await row(sidecar, 'echoMirrored'))?.matched === copied.mirrored, 30_000);
    const metrics = (await adminJson(sidecar, '/metrics')).text as string;
    expect(metrics).toContain('mesh_bridge_shadow_in_flight 0');
  }, 90_000);

  it('never fails a real call when the mirror target is gone', async () => {
    await mesh?.stop();
    mesh = undefined;
    for (let i = 1; i <= 5; i++) expect(await consumer.call('getItem', [java.long(i)])).toMatchObject({ err: null, res: { id: i, servedBy: 'legacy' } });
    await waitFor('the failed copies to be counted', async () => (await row(sidecar, 'getItem'))?.shadowErrors === 5);
    const item = (await row(sidecar, 'getItem')) as ShadowRow;
    expect(item.lastError).toMatch(/^shadow: 127\.0\.0\.1:\d+: (connect_failure|reset)/);
    expect(item.matched).toBe(5);
  }, 60_000);
});
