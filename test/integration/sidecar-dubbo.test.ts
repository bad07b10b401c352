// The sidecar's Dubbo stacks between real peers: an unmodified apache-dubbo-js consumer finds the
// sidecar's outbound Dubbo port through ZooKeeper and calls a sofa-rpc-node provider through it;
// a hot-parameter limit on an attachment holds one key while others pass, and the consumer decodes
// the refusal naming the rule. The inbound Dubbo stack sends every interface to the local app.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { DubboJsConsumer, SofaProvider, java, registerProvider, startDubboJsConsumer, startSofaProvider } from '../support/dubbo-peers';
import { RawDubboClient } from '../support/dubbo-client';
import { SidecarChild, adminJson, startSidecar } from '../support/sidecar-child';
import { ZookeeperServer } from '../support/zookeeper';

const IFACE = 'com.example.demo.GreetingService';
const VERSION = '1.0.0';

describe('mesh-bridge sidecar: Dubbo stacks with real peers', () => {
  let dir: string;
  let provider: SofaProvider;
  let sidecar: SidecarChild;
  let zk: ZookeeperServer;
  let registration: { unregister(): Promise<void> } | undefined;
  let consumer: DubboJsConsumer | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sidecar-dubbo-'));
    provider = await startSofaProvider({
      interface: IFACE,
      version: VERSION,
      methods: { sayHello: async (name: unknown) => `app:${String(name)}`, sayBye: async (name: unknown) => `bye:${String(name)}` },
      register: false,
    });
    const file = join(dir, 'sidecar.yaml');
    writeFileSync(
      file,
      stringify({
        app: 'orders',
        admin: { listen: '127.0.0.1:0' },
        dubbo: {
          inbound: {
            listen: '127.0.0.1:0',
            app: `127.0.0.1:${provider.port}`,
            filters: [{ name: 'authz', config: { rules: [{ name: 'no-batch-jobs', deny: { apps: ['batch-jobs'] } }] } }],
          },
          outbound: {
            listen: '127.0.0.1:0',
            filters: [{ name: 'rate-limit', config: { rules: [{ name: 'per-user', match: { method: 'sayHello' }, perSecond: 0.01, burst: 1, key: { attribute: 'user' } }] } }],
            services: [{ name: IFACE, legacy: [`127.0.0.1:${provider.port}`] }],
          },
        },
      }),
    );
    sidecar = await startSidecar(file);
    zk = await ZookeeperServer.start();
  }, 60_000);

  afterAll(async () => {
    await consumer?.stop();
    await registration?.unregister();
    await zk?.destroy();
    await sidecar?.stop();
    await provider?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('carries apache-dubbo-js calls to a sofa-rpc-node provider and holds one hot attachment value while others pass', async () => {
    const port = sidecar.ports['dubbo.outbound'];
    registration = await registerProvider(zk.connectString, { interface: IFACE, version: VERSION, port, methods: ['sayHello', 'sayBye'], application: 'orders-sidecar' });
    consumer = await startDubboJsConsumer({ zk: zk.connectString, interface: IFACE, version: VERSION, methods: ['sayHello', 'sayBye'] });
    const c = consumer;
    const hello = (name: string, user: string) => c.call('sayHello', [java.String(name)], { attachments: { user } });
    expect(await hello('a', 'hot')).toMatchObject({ err: null, res: 'app:a' });
    const refused = await hello('b', 'hot');
    expect(refused.res).toBeNull();
    expect(String(refused.err?.message)).toContain('rate limit per-user (0.01/s) for user="hot" reached');
    // Other keys have buckets of their own; another method is not limited at all.
    for (const user of ['u1', 'u2', 'u3']) expect(await hello(user, user)).toMatchObject({ err: null, res: `app:${user}` });
    expect(await c.call('sayBye', [java.String('c')], { attachments: { user: 'hot' } })).toMatchObject({ err: null, res: 'bye:c' });
    const status = await adminJson(sidecar, '/status');
    expect(JSON.stringify(status)).toContain('"refusedByRule":{"per-user":1}');
  });

  it('sends every interface a Dubbo caller names to the local app inbound, and denies a caller app by its attachment', async () => {
    const client = await RawDubboClient.connect(sidecar.ports['dubbo.inbound']);
    try {
      const ok = await client.call({ path: IFACE, version: VERSION, method: 'sayHello', parameterTypes: 'Ljava/lang/String;', args: ['in'], attachments: { application: 'web' } });
      expect(ok).toMatchObject({ status: 20, value: 'app:in' });
      const denied = await client.call({ path: IFACE, version: VERSION, method: 'sayHello', parameterTypes: 'Ljava/lang/String;', args: ['x'], attachments: { application: 'batch-jobs' } });
      expect(denied.status).not.toBe(20);
      expect(JSON.stringify(denied)).toContain('application \\"batch-jobs\\" (unverified) from 127.0.0.1 is denied by no-batch-jobs');
    } finally {
      client.close();
    }
  });
});
