// The bridge's Dubbo listener between real peers: an apache-dubbo-js consumer that finds the bridge
// through ZooKeeper (and our raw multiplexing client, for exact statuses and garbage bytes) ->
// bridge -> sofa-rpc-node providers, one set legacy, one mesh.
import { Catalog, Instance, instanceDefaults } from '../../src/catalog';
import { encodeRequest, readRoutingView } from '../../src/dubbo-codec';
import { DubboListener, DubboServicePolicy } from '../../src/bridge/dubbo/dubbo-listener';
import { StackWeights } from '../../src/proxy/router/stack-weights';
import { Registry, metricValue } from '../../src/telemetry/metrics';
import { RawDubboClient } from '../support/dubbo-client';
import { Gateway, dubboGateway } from '../support/gateway';
import { DubboJsConsumer, SofaProvider, java, registerProvider, startDubboJsConsumer, startSofaProvider } from '../support/dubbo-peers';
import { ZookeeperServer } from '../support/zookeeper';
import { waitFor } from '../support/wait';

const IFACE = 'com.example.demo.GreetingService';
const VERSION = '1.0.0';

function instance(provider: SofaProvider, stack: 'legacy' | 'mesh', weight = 100): Instance {
  return {
    ...instanceDefaults(),
    id: provider.address,
    service: IFACE,
    protocol: 'dubbo',
    host: '127.0.0.1',
    port: provider.port,
    stack,
    weight,
    version: VERSION,
    origin: { source: 'static' },
  };
}

function greeter(stack: string, delays: { ms: number } = { ms: 0 }): Record<string, (...args: unknown[]) => unknown> {
  const answer = async (name: unknown): Promise<string> => {
    if (delays.ms > 0) await new Promise((r) => setTimeout(r, delays.ms));
    return `${stack}:${String(name)}`;
  };
  return { sayHello: answer, sayBye: answer, slow: async () => new Promise((r) => setTimeout(() => r('late'), 1500)) };
}

describe('Dubbo gateway with real providers', () => {
  const catalog = new Catalog();
  const weights = new StackWeights();
  const metrics = new Registry();
  const policies = new Map<string, DubboServicePolicy>();
  let legacy: SofaProvider;
  let legacy2: SofaProvider | null = null;
  let mesh: SofaProvider;
  let listener: DubboListener;
  let gateway: Gateway<DubboListener>;
  let client: RawDubboClient;
  let zk: ZookeeperServer;
  let consumer: DubboJsConsumer;
  let registration: { unregister(): Promise<void> };
  const defaultPolicy: DubboServicePolicy = { idempotentMethods: new Set(), retries: 0, timeoutMs: 3000 };

  const hello = (name: string, method = 'sayHello', attachments?: Record<string, string>) =>
    client.call({ path: IFACE, version: VERSION, method, parameterTypes: 'Ljava/lang/String;', args: [name], attachments });

  /** One call through apache-dubbo-js; the answer names the stack that served it. */
  async function viaDubboJs(name: string, method = 'sayHello', attachments?: Record<string, string>): Promise<string> {
    const { err, res } = await consumer.call(method, [java.String(name)], attachments ? { attachments } : undefined);
    if (err) throw err;
    return String(res);
  }

  async function meshShare(calls: number, method = 'sayHello'): Promise<number> {
    let onMesh = 0;
    for (let i = 0; i < calls; i += 50) {
      const batch = await Promise.all(Array.from({ length: 50 }, (_, j) => viaDubboJs(`n${i + j}`, method)));
      for (const answer of batch) if (answer.startsWith('mesh:')) onMesh++;
    }
    return onMesh / calls;
  }

  beforeAll(async () => {
    legacy = await startSofaProvider({ interface: IFACE, version: VERSION, methods: greeter('legacy'), register: false });
    mesh = await startSofaProvider({ interface: IFACE, version: VERSION, methods: greeter('mesh'), register: false });
    catalog.replaceSource('static', IFACE, [instance(legacy, 'legacy'), instance(mesh, 'mesh')]);
    gateway = dubboGateway(catalog, { weights, metrics, policy: (service) => policies.get(service) ?? defaultPolicy });
    listener = gateway.listener;
    await listener.start();
    client = await RawDubboClient.connect(listener.address.port);
    // An unmodified apache-dubbo-js consumer finds the bridge through ZooKeeper, as a legacy
    // consumer would once the bridge's URL is registered for the interface.
    zk = await ZookeeperServer.start();
    registration = await registerProvider(zk.connectString, {
      interface: IFACE,
      version: VERSION,
      port: listener.address.port,
      methods: ['sayHello', 'sayBye', 'slow'],
      application: 'mesh-bridge',
    });
    consumer = await startDubboJsConsumer({ zk: zk.connectString, interface: IFACE, version: VERSION, methods: ['sayHello', 'sayBye'] });
  });

  afterAll(async () => {
    await consumer?.stop();
    await registration?.unregister();
    await zk?.destroy();
    client?.close();
    await gateway?.stop(1000);
    await Promise.all([legacy?.stop(), mesh?.stop(), legacy2?.stop()]);
  });

  beforeEach(() => {
    weights.clear(IFACE);
    policies.clear();
  });

  it('sends weights 0, 30 and 100 of 1,000 calls each to the mesh within tolerance', async () => {
    expect(await meshShare(1000)).toBe(0);
    weights.set({ service: IFACE, mesh: 30 });
    const share = await meshShare(1000);
    expect(share).toBeGreaterThan(0.25);
    expect(share).toBeLessThan(0.35);
    weights.set({ service: IFACE, mesh: 100 });
    expect(await meshShare(1000)).toBe(1);
  });

  it('honours a per-method weight over the service weight', async () => {
    weights.set({ service: IFACE, mesh: 0 });
    weights.set({ service: IFACE, method: 'sayBye', mesh: 100 });
    expect(await meshShare(200, 'sayBye')).toBe(1);
    expect(await meshShare(200, 'sayHello')).toBe(0);
  });

  it('keeps a sticky caller on one stack', async () => {
    policies.set(IFACE, { ...defaultPolicy, stickyAttachment: 'userId' });
    weights.set({ service: IFACE, mesh: 50 });
    const stacks = new Map<string, Set<string>>();
    for (let round = 0; round < 10; round++) {
      const users = Array.from({ length: 40 }, (_, i) => `user-${i}`);
      const answers = await Promise.all(users.map((u) => viaDubboJs('x', 'sayHello', { userId: u })));
      answers.forEach((a, i) => {
        const stack = a.split(':')[0];
        if (!stacks.has(users[i])) stacks.set(users[i], new Set());
        stacks.get(users[i])!.add(stack);
      });
    }
    for (const seen of stacks.values()) expect(seen.size).toBe(1);
    const onMesh = [...stacks.values()].filter((s) => s.has('mesh')).length;
    expect(onMesh).toBeGreaterThan(5);
    expect(onMesh).toBeLessThan(35);
  });

  it('moves the weight under load without failing a call', async () => {
    const results: string[] = [];
    const failures: unknown[] = [];
    let stop = false;
    const workers = Array.from({ length: 16 }, async () => {
      while (!stop) {
        const { err, res } = await consumer.call('sayHello', [java.String('load')]);
        if (err) failures.push(err);
        else results.push(String(res));
      }
    });
    for (const w of [0, 10, 25, 50, 75, 100, 50, 0]) {
      weights.set({ service: IFACE, mesh: w });
      await new Promise((r) => setTimeout(r, 100));
    }
    stop = true;
    await Promise.all(workers);
    expect(results.length).toBeGreaterThan(200);
    expect(failures).toEqual([]);
    expect(results.filter((r) => r.startsWith('mesh:')).length).toBeGreaterThan(0);
    expect(results.filter((r) => r.startsWith('legacy:')).length).toBeGreaterThan(0);
  });

  it('routes by group only to instances of that group', async () => {
    const blue = { ...instance(legacy, 'legacy'), group: 'blue' };
    const green = { ...instance(mesh, 'legacy'), group: 'green' };
    catalog.replaceSource('static', IFACE, [blue, green]);
    try {
      for (let i = 0; i < 20; i++) {
        expect((await hello('g', 'sayHello', { group: 'green' })).value).toBe('mesh:g');
        expect((await hello('b', 'sayHello', { group: 'blue' })).value).toBe('legacy:b');
      }
      const none = await hello('r', 'sayHello', { group: 'red' });
      expect(none.status).toBe(60);
      expect(none.errorMessage).toContain('group red');
      // Finding the group means reading past the arguments: bad arguments are this request's
      // fault, answered BAD_REQUEST, and the connection goes on.
      const frame = encodeRequest({ requestId: 9_000_001n, path: IFACE, version: VERSION, method: 'sayHello', parameterTypes: 'Ljava/lang/String;', args: ['x'], attachments: { group: 'blue' } });
      const view = readRoutingView(frame.subarray(16));
      frame[16 + view.argumentsOffset] = 0x4f; // an object instance referring to a class never defined
      const bad = await client.sendFrame(frame);
      expect(bad.status).toBe(40);
      expect(bad.errorMessage).toContain('could not read the request');
      expect((await hello('b', 'sayHello', { group: 'blue' })).value).toBe('legacy:b');
    } finally {
      catalog.replaceSource('static', IFACE, [instance(legacy, 'legacy'), instance(mesh, 'mesh')]);
    }
  });

  it('sends a call whose connection was refused to another instance, and leaves out an instance that keeps refusing', async () => {
    // A provider that died while still registered: its port refuses connections.
    const dead = await startSofaProvider({ interface: IFACE, version: VERSION, methods: greeter('dead'), register: false });
    await dead.stop();
    catalog.replaceSource('static', IFACE, [instance(legacy, 'legacy'), instance(dead, 'legacy'), instance(mesh, 'mesh')]);
    try {
      const retriesBefore = await metricValue(metrics, 'mesh_bridge_dubbo_retries_total');
      const statuses: number[] = [];
      for (let i = 0; i < 200; i++) statuses.push((await hello(`e${i}`)).status);
      // A refused connection never delivered the call, so it went to the live instance: none
      // failed. Five refusals in a row ejected the dead one, so it was tried only a few times.
      expect(statuses.filter((s) => s !== 20)).toEqual([]);
      const retried = (await metricValue(metrics, 'mesh_bridge_dubbo_retries_total')) - retriesBefore;
      expect(retried).toBeGreaterThanOrEqual(3);
      expect(retried).toBeLessThanOrEqual(6);
      expect(await metricValue(metrics, 'mesh_bridge_outlier_ejections_total', { protocol: 'dubbo' })).toBeGreaterThanOrEqual(1);
    } finally {
      catalog.replaceSource('static', IFACE, [instance(legacy, 'legacy'), instance(mesh, 'mesh')]);
    }
  });

  it('answers heartbeats itself', async () => {
    const before = await metricValue(metrics, 'mesh_bridge_dubbo_heartbeats_total');
    const reply = await client.heartbeat();
    expect(reply).toMatchObject({ status: 20, kind: 'event' });
    expect(await metricValue(metrics, 'mesh_bridge_dubbo_heartbeats_total')).toBe(before + 1);
  });

  it('answers a service with no instance as SERVICE_NOT_FOUND, naming it', async () => {
    const reply = await client.call({ path: 'com.example.Missing', method: 'x' });
    expect(reply.status).toBe(60);
    expect(reply.errorMessage).toContain('com.example.Missing');
  });

  it('answers an upstream timeout as SERVER_TIMEOUT naming the upstream, never a hang', async () => {
    policies.set(IFACE, { ...defaultPolicy, timeoutMs: 300 });
    const started = Date.now();
    const reply = await client.call({ path: IFACE, version: VERSION, method: 'slow' });
    expect(Date.now() - started).toBeLessThan(1200);
    expect(reply.status).toBe(31);
    expect(reply.errorMessage).toContain(legacy.address);
  });

  it("waits as long as the consumer's own timeout attachment says, when told to honour it", async () => {
    policies.set(IFACE, { ...defaultPolicy, timeoutMs: 300, honorConsumerTimeout: true });
    // slow answers after 1.5 s: the consumer allows 3 s, so the bridge's 300 ms does not cut it
    const patient = await client.call({ path: IFACE, version: VERSION, method: 'slow', attachments: { timeout: '3000' } });
    expect(patient).toMatchObject({ status: 20, value: 'late' });
    // a consumer that gives up after 200 ms is answered then, not after the bridge's default
    policies.set(IFACE, { ...defaultPolicy, timeoutMs: 5000, honorConsumerTimeout: true });
    const started = Date.now();
    const hasty = await client.call({ path: IFACE, version: VERSION, method: 'slow', attachments: { timeout: '200' } });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(hasty.status).toBe(31);
    expect(hasty.errorMessage).toContain('200 ms');
  });

  it("reads apache-dubbo-js's timeout attachment, a number of seconds, as seconds (Java's is a string of ms)", async () => {
    policies.set(IFACE, { ...defaultPolicy, timeoutMs: 300, honorConsumerTimeout: true });
    // apache-dubbo-js sends `timeout: 3` for its 3 s: read as 3 ms, the bridge cut every call slower than a sweep
    const patient = await startDubboJsConsumer({ zk: zk.connectString, interface: IFACE, version: VERSION, methods: ['slow'], timeoutSeconds: 3 });
    try {
      const { err, res } = await patient.call('slow', []);
      expect(err).toBeNull();
      expect(res).toBe('late');
    } finally {
      await patient.stop();
    }
  });

  it('closes only the connection that sent garbage', async () => {
    const bad = await RawDubboClient.connect(listener.address.port);
    const closed = new Promise((r) => bad.socket.once('close', r));
    bad.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await closed;
    expect(await metricValue(metrics, 'mesh_bridge_dubbo_bad_frames_total')).toBeGreaterThanOrEqual(1);
    expect((await hello('still here')).status).toBe(20);
  });

  it('fails only the calls in flight on an upstream that dies, and retries idempotent ones elsewhere', async () => {
    // Two equally slow legacy instances, so each always has calls in flight.
    legacy2 = await startSofaProvider({ interface: IFACE, version: VERSION, methods: greeter('legacy2', { ms: 20 }), register: false });
    const legacy3 = await startSofaProvider({ interface: IFACE, version: VERSION, methods: greeter('legacy3', { ms: 20 }), register: false });
    catalog.replaceSource('static', IFACE, [instance(legacy3, 'legacy'), instance(legacy2, 'legacy'), instance(mesh, 'mesh')]);
    /** 16 callers in a loop until stopped; every call's status is kept. */
    const load = (method: string) => {
      const statuses: number[] = [];
      const errors: string[] = [];
      let running = true;
      const workers = Array.from({ length: 16 }, async () => {
        while (running) {
          const reply = await hello('k', method);
          statuses.push(reply.status);
          if (reply.status !== 20) errors.push(reply.errorMessage ?? '');
        }
      });
      return { statuses, errors, stop: () => ((running = false), Promise.all(workers)) };
    };
    // Not idempotent: the calls in flight on the killed upstream fail, the rest succeed.
    // Counted in answers, not milliseconds: on a loaded machine 400 ms held fewer than 100 calls.
    const first = load('sayHello');
    await waitFor('calls under way on both instances', () => first.statuses.length >= 60);
    await legacy2.stop();
    catalog.replaceSource('static', IFACE, [instance(legacy3, 'legacy'), instance(mesh, 'mesh')]);
    const atKill = first.statuses.length;
    await waitFor('calls answered after the kill', () => first.statuses.length >= atKill + 60);
    await first.stop();
    const failed = first.statuses.filter((s) => s !== 20);
    // Some calls were in flight on it (about half of 16), and no more than that failed.
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.length).toBeLessThanOrEqual(16);
    for (const message of first.errors) expect(message).toContain(legacy2.address);
    expect(first.statuses.length - failed.length).toBeGreaterThan(100);

    // Idempotent: nothing fails.
    legacy2 = await startSofaProvider({ interface: IFACE, version: VERSION, methods: greeter('legacy2', { ms: 20 }), register: false });
    catalog.replaceSource('static', IFACE, [instance(legacy3, 'legacy'), instance(legacy2, 'legacy'), instance(mesh, 'mesh')]);
    policies.set(IFACE, { ...defaultPolicy, idempotentMethods: new Set(['sayHello']), retries: 1 });
    const second = load('sayHello');
    await waitFor('calls under way on both instances', () => second.statuses.length >= 60);
    await legacy2.stop();
    const secondAtKill = second.statuses.length;
    await waitFor('calls answered after the kill', () => second.statuses.length >= secondAtKill + 60);
    await second.stop();
    expect(second.statuses.filter((s) => s !== 20)).toEqual([]);
    expect(await metricValue(metrics, 'mesh_bridge_dubbo_retries_total')).toBeGreaterThan(0);
    await legacy3.stop();
    catalog.replaceSource('static', IFACE, [instance(legacy, 'legacy'), instance(mesh, 'mesh')]);
  });
});
