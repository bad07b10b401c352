// Unit tests for what the writer puts into ZooKeeper for a catalog service.
import { Instance, instanceDefaults } from '../catalog';
import { parseZnodeName, urlGroup, urlMethods, urlVersion, urlWeight } from '../dubbo-codec/dubbo-url';
import { PlanContext, isExported, learnParams, methodsOfService, parseHostPort, planService } from './export-plan';
import { readProvider } from './provider-instance';
import { DEFAULT_LAYOUT } from './zk-paths';

const SERVICE = 'org.demo.Echo';

function instance(address: string, overrides: Partial<Instance> = {}): Instance {
  const [host, port] = address.split(':');
  return { ...instanceDefaults(), id: address, service: SERVICE, protocol: 'dubbo', host, port: Number(port), stack: 'mesh', origin: { source: 'mesh' }, ...overrides };
}

const ctx = (overrides: Partial<PlanContext> = {}): PlanContext => ({ owner: 'b1', layout: DEFAULT_LAYOUT, export: { target: 'instance' }, now: 1000, ...overrides });

function urls(nodes: Array<{ path: string }>) {
  return nodes.map((n) => parseZnodeName(n.path.slice(n.path.lastIndexOf('/') + 1)));
}

describe('planService', () => {
  it('writes one provider URL per exported dubbo instance, tagged with the owner, at the instance address', () => {
    const plan = planService(SERVICE, [instance('10.0.0.1:20880', { weight: 30, version: '1.0.0', group: 'g', labels: { methods: 'b,a', timeout: '300' } })], ctx(), new Map());
    expect(plan.nodes).toHaveLength(1);
    expect(plan.nodes[0].path.startsWith('/dubbo/org.demo.Echo/providers/')).toBe(true);
    expect(plan.nodes[0].data).toBeNull();
    const [url] = urls(plan.nodes);
    expect(url).toMatchObject({ protocol: 'dubbo', host: '10.0.0.1', port: 20880, path: SERVICE });
    expect([urlWeight(url), urlVersion(url), urlGroup(url), urlMethods(url)]).toEqual([30, '1.0.0', 'g', ['b', 'a']]);
    expect(url.params.get('timeout')).toBe('300');
    expect(url.params.get('mesh-bridge')).toBe('b1');
    expect(url.params.get('side')).toBe('provider');
    expect(url.params.get('timestamp')).toBe('1000');
    // The first key is one whose loss does not matter (apache-dubbo-js reads it with the URL in front).
    expect([...url.params.keys()][0]).toBe('anyhost');
    // What the bridge writes reads back as a provider carrying the tag.
    const read = readProvider(SERVICE, plan.nodes[0].path.slice(plan.nodes[0].path.lastIndexOf('/') + 1));
    expect(read.ok && read.value.bridgeTag).toBe('b1');
  });

  it('skips ZooKeeper instances and instances not up; keeps stale ones', () => {
    const zk = instance('10.0.0.2:20880', { stack: 'legacy', origin: { source: 'zookeeper' } });
    const down = instance('10.0.0.3:20880', { health: 'down' });
    const stale = instance('10.0.0.4:20880', { stale: true });
    expect([zk, down, stale].map(isExported)).toEqual([false, false, true]);
    expect(urls(planService(SERVICE, [zk, down, stale], ctx(), new Map()).nodes).map((u) => u.host)).toEqual(['10.0.0.4']);
  });

  it('borrows the methods of legacy providers when a mesh instance names none', () => {
    const legacy = instance('10.0.0.9:20880', { stack: 'legacy', origin: { source: 'zookeeper' }, labels: { methods: 'ping,echo' } });
    expect(methodsOfService([legacy])).toEqual(['echo', 'ping']);
    expect(urlMethods(urls(planService(SERVICE, [legacy, instance('10.0.0.1:20880')], ctx(), new Map()).nodes)[0])).toEqual(['echo', 'ping']);
  });

  it('writes an endpoint learned from two sources once', () => {
    const a = instance('10.0.0.1:20880');
    const b = instance('10.0.0.1:20880', { origin: { source: 'eureka' } });
    expect(planService(SERVICE, [a, b], ctx(), new Map()).nodes).toHaveLength(1);
  });

  it('keeps a URL\'s timestamp across plans, so an unchanged instance keeps its path', () => {
    const first = planService(SERVICE, [instance('10.0.0.1:20880')], ctx({ now: 1000 }), new Map());
    const again = planService(SERVICE, [instance('10.0.0.1:20880')], ctx({ now: 5000 }), first.stamps);
    expect(again.nodes.map((n) => n.path)).toEqual(first.nodes.map((n) => n.path));
    const changed = planService(SERVICE, [instance('10.0.0.1:20880', { weight: 5 })], ctx({ now: 5000 }), first.stamps);
    expect(changed.nodes[0].path).not.toBe(first.nodes[0].path);
    expect(urls(changed.nodes)[0].params.get('timestamp')).toBe('1000');
  });

  it('with target bridge, writes one URL per group and version at the bridge address, weights summed', () => {
    const plan = planService(
      SERVICE,
      [instance('10.0.0.1:20880', { weight: 30 }), instance('10.0.0.2:20880', { weight: 20 }), instance('10.0.0.3:20880', { version: '2' })],
      ctx({ export: { target: 'bridge', bridgeAddress: '127.0.0.1:20999' } }),
      new Map(),
    );
    expect(urls(plan.nodes).map((u) => [u.host, u.port, urlVersion(u), urlWeight(u)])).toEqual([
      ['127.0.0.1', 20999, '', 50],
      ['127.0.0.1', 20999, '2', 100],
    ]);
  });

  it('marks bridge-address URLs as written by every bridge; instance-address URLs and app-level nodes by the elected writer only', () => {
    const mixed = [instance('10.0.0.1:20880'), instance('10.0.0.5:8080', { protocol: 'http' })];
    const viaBridge = planService(SERVICE, mixed, ctx({ export: { target: 'bridge', bridgeAddress: '127.0.0.1:20999' } }), new Map());
    expect(viaBridge.nodes.map((n) => [n.path.split('/')[1], n.perBridge === true])).toEqual([
      ['dubbo', true],
      ['services', false],
    ]);
    const direct = planService(SERVICE, mixed, ctx(), new Map());
    expect(direct.nodes.map((n) => n.perBridge === true)).toEqual([false, false]);
  });

  it('writes http instances as Dubbo 3 application-level nodes with Curator JSON', () => {
    const plan = planService('orders', [instance('10.0.0.5:8080', { service: 'orders', protocol: 'http' })], ctx(), new Map());
    expect(plan.nodes.map((n) => n.path)).toEqual(['/services/orders/10.0.0.5:8080']);
    expect(JSON.parse((plan.nodes[0].data as Buffer).toString('utf8'))).toMatchObject({ address: '10.0.0.5', port: 8080, payload: { metadata: { 'mesh-bridge': 'b1' } } });
  });

  it('writes nothing for a service name that cannot be a znode', () => {
    expect(planService('a/b', [instance('10.0.0.1:20880', { service: 'a/b' })], ctx(), new Map()).nodes).toEqual([]);
  });
});

describe('planService while a service is migrated (weights known)', () => {
  const bridge = { target: 'bridge' as const, bridgeAddress: '127.0.0.1:20999' };
  const legacy = (address: string, overrides: Partial<Instance> = {}): Instance =>
    instance(address, { stack: 'legacy', origin: { source: 'zookeeper' }, labels: { methods: 'ping,echo', timeout: '5000', 'echo.retries': '0', pid: '77' }, ...overrides });

  it('writes nothing for a service with legacy providers at weight 0: its consumers keep calling them directly', () => {
    const plan = planService(SERVICE, [legacy('10.0.0.9:20880'), instance('10.0.0.1:20880')], ctx({ export: bridge, migrating: false }), new Map());
    expect(plan.nodes).toEqual([]);
    expect(planService(SERVICE, [legacy('10.0.0.9:20880'), instance('10.0.0.1:20880')], ctx({ migrating: false }), new Map()).nodes).toEqual([]);
  });

  it('writes the bridge URL of a mesh-only service whatever its weight', () => {
    expect(urls(planService(SERVICE, [instance('10.0.0.1:20880')], ctx({ export: bridge, migrating: false }), new Map()).nodes).map((u) => u.port)).toEqual([20999]);
  });

  it('while migrating, writes the bridge URL and an override disabling each legacy endpoint, in the form Dubbo applies', () => {
    const plan = planService(
      SERVICE,
      [legacy('10.0.0.9:20880', { version: '1.0.0', group: 'g' }), legacy('10.0.0.8:20881', { version: '1.0.0', group: 'g' }), instance('10.0.0.1:20880', { version: '1.0.0', group: 'g' })],
      ctx({ export: bridge, migrating: true }),
      new Map(),
    );
    expect(plan.nodes.map((n) => [n.path.split('/')[3], n.perBridge === true])).toEqual([
      ['providers', true],
      ['configurators', true],
      ['configurators', true],
    ]);
    const overrides = urls(plan.nodes.slice(1));
    expect(overrides.map((u) => `${u.host}:${u.port}`)).toEqual(['10.0.0.8:20881', '10.0.0.9:20880']);
    expect(overrides[0]).toMatchObject({ protocol: 'override', path: SERVICE });
    expect([...overrides[0].params]).toEqual([
      ['category', 'configurators'],
      ['disabled', 'true'],
      ['dynamic', 'false'],
      ['enabled', 'true'],
      ['group', 'g'],
      ['version', '1.0.0'],
      ['mesh-bridge', 'b1'],
    ]);
  });

  it('with steering by weight, writes weight=0 instead of disabled=true', () => {
    const plan = planService(SERVICE, [legacy('10.0.0.9:20880'), instance('10.0.0.1:20880')], ctx({ export: { ...bridge, steering: 'weight' }, migrating: true }), new Map());
    const [override] = urls(plan.nodes.filter((n) => n.path.includes('/configurators/')));
    expect([override.params.get('weight'), override.params.has('disabled'), override.params.get('enabled')]).toEqual(['0', false, 'true']);
  });

  it('with steering by slots, writes one URL per endpoint given this bridge, no override, legacy URLs untouched', () => {
    const slots = { ...bridge, steering: 'slots' as const };
    const instances = [legacy('10.0.0.9:20880', { weight: 100 }), instance('10.0.0.1:20880', { weight: 300 })];
    const plan = planService(SERVICE, instances, ctx({ export: slots, migrating: true, slotEndpoints: ['10.0.0.5:20880', '10.0.0.5:20881'] }), new Map());
    expect(plan.nodes.every((n) => n.path.includes('/providers/') && n.perBridge === true)).toBe(true);
    const written = urls(plan.nodes);
    expect(written.map((u) => `${u.host}:${u.port}`)).toEqual(['10.0.0.5:20880', '10.0.0.5:20881']);
    // Each endpoint weighs as one legacy provider (Java's weighted random then matches a uniform picker).
    expect(written.map(urlWeight)).toEqual([100, 100]);
    // A bridge given no endpoint writes nothing for the service; at weight 0 nobody does.
    expect(planService(SERVICE, instances, ctx({ export: slots, migrating: true, slotEndpoints: [] }), new Map()).nodes).toEqual([]);
    expect(planService(SERVICE, instances, ctx({ export: slots, migrating: false, slotEndpoints: ['10.0.0.5:20880'] }), new Map()).nodes).toEqual([]);
    // Without legacy providers the bridge's own address, as with the other steerings.
    expect(urls(planService(SERVICE, [instances[1]], ctx({ export: slots, migrating: true, slotEndpoints: [] }), new Map()).nodes).map((u) => u.port)).toEqual([20999]);
  });

  it('leaves enabled the legacy providers of a version the mesh does not serve', () => {
    const plan = planService(SERVICE, [legacy('10.0.0.9:20880', { version: '2.0.0' }), legacy('10.0.0.8:20880', { version: '1.0.0' }), instance('10.0.0.1:20880', { version: '1.0.0' })], ctx({ export: bridge, migrating: true }), new Map());
    expect(urls(plan.nodes.filter((n) => n.path.includes('/configurators/'))).map((u) => u.host)).toEqual(['10.0.0.8']);
  });

  it('writes no override with target instance: the consumers call the mesh instances themselves', () => {
    const plan = planService(SERVICE, [legacy('10.0.0.9:20880'), instance('10.0.0.1:20880')], ctx({ migrating: true }), new Map());
    expect(plan.nodes.map((n) => n.path.split('/')[3])).toEqual(['providers']);
  });

  it('keeps the methods and consumer settings it learned from legacy providers after they leave', () => {
    const learned = learnParams(undefined, [legacy('10.0.0.9:20880'), instance('10.0.0.1:20880')]);
    expect(learned.methods).toEqual(['echo', 'ping']);
    expect([...learned.params]).toEqual([
      ['echo.retries', '0'],
      ['timeout', '5000'],
    ]);
    const later = learnParams(learned, [instance('10.0.0.1:20880')]);
    expect(later).toEqual(learned);
    const [url] = urls(planService(SERVICE, [instance('10.0.0.1:20880')], ctx({ export: bridge, migrating: true, learned: later }), new Map()).nodes);
    expect(urlMethods(url)).toEqual(['echo', 'ping']);
    expect([url.params.get('timeout'), url.params.get('echo.retries'), url.params.get('pid')]).toEqual(['5000', '0', undefined]);
  });

  it("lets a mesh instance's own labels win over what was learned", () => {
    const learned = learnParams(undefined, [legacy('10.0.0.9:20880')]);
    const [url] = urls(planService(SERVICE, [instance('10.0.0.1:20880', { labels: { methods: 'echo', timeout: '800' } })], ctx({ export: bridge, migrating: true, learned }), new Map()).nodes);
    expect([urlMethods(url), url.params.get('timeout')]).toEqual([['echo'], '800']);
  });
});

describe('parseHostPort', () => {
  it('reads host:port and [v6]:port, refuses the rest', () => {
    expect(parseHostPort('127.0.0.1:20999')).toEqual({ host: '127.0.0.1', port: 20999 });
    expect(parseHostPort('[::1]:20880')).toEqual({ host: '::1', port: 20880 });
    expect(parseHostPort('nohost')).toBeNull();
    expect(parseHostPort('h:70000')).toBeNull();
  });
});
