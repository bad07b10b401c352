import { Catalog } from './catalog';
import { Instance, ServiceDelta, instanceDefaults } from './model';

function provider(id: string, overrides: Partial<Instance> = {}): Instance {
  const [host, port] = id.split(':');
  return {
    ...instanceDefaults(),
    id,
    service: 'org.demo.Greeter',
    protocol: 'dubbo',
    host,
    port: Number(port),
    stack: 'legacy',
    origin: { source: 'zookeeper' },
    ...overrides,
  };
}

describe('Catalog', () => {
  it('adds, updates and removes a source\'s instances by diffing its full list', () => {
    const catalog = new Catalog();
    const first = catalog.replaceSource('zookeeper', 'org.demo.Greeter', [provider('10.0.0.1:20880'), provider('10.0.0.2:20880')]);
    expect(first).toMatchObject({ added: [{ id: '10.0.0.1:20880' }, { id: '10.0.0.2:20880' }], updated: [], removed: [] });
    const second = catalog.replaceSource('zookeeper', 'org.demo.Greeter', [provider('10.0.0.1:20880', { weight: 50 }), provider('10.0.0.3:20880')]);
    expect(second).toMatchObject({ added: [{ id: '10.0.0.3:20880' }], updated: [{ id: '10.0.0.1:20880', weight: 50 }], removed: [{ id: '10.0.0.2:20880' }] });
    expect(catalog.revision).toBe(2);
  });

  it('reports no change, and keeps its revision, when the same list comes again', () => {
    const catalog = new Catalog();
    catalog.replaceSource('zookeeper', 'org.demo.Greeter', [provider('10.0.0.1:20880', { labels: { a: '1' } })]);
    expect(catalog.replaceSource('zookeeper', 'org.demo.Greeter', [provider('10.0.0.1:20880', { labels: { a: '1' } })])).toBeNull();
    expect(catalog.revision).toBe(1);
  });

  it('notices a label change as an update', () => {
    const catalog = new Catalog();
    catalog.replaceSource('zookeeper', 'org.demo.Greeter', [provider('10.0.0.1:20880', { labels: { a: '1' } })]);
    expect(catalog.replaceSource('zookeeper', 'org.demo.Greeter', [provider('10.0.0.1:20880', { labels: { a: '2' } })])?.updated).toHaveLength(1);
  });

  it('keeps sources apart: one source\'s list never removes another\'s instances', () => {
    const catalog = new Catalog();
    catalog.replaceSource('zookeeper', 'org.demo.Greeter', [provider('10.0.0.1:20880')]);
    catalog.upsert(provider('10.0.0.9:20880', { stack: 'mesh', origin: { source: 'mesh' } }));
    catalog.replaceSource('zookeeper', 'org.demo.Greeter', []);
    expect(catalog.instances('org.demo.Greeter').map((i) => i.id)).toEqual(['10.0.0.9:20880']);
  });

  it('refuses an instance that claims another source', () => {
    const catalog = new Catalog();
    expect(() => catalog.replaceSource('eureka', 'org.demo.Greeter', [provider('10.0.0.1:20880')])).toThrow(
      expect.objectContaining({ code: 'CATALOG_BAD_INSTANCE' }),
    );
  });

  it('delivers the current instances and then only that service\'s deltas to a subscriber', () => {
    const catalog = new Catalog();
    catalog.replaceSource('zookeeper', 'org.demo.Greeter', [provider('10.0.0.1:20880')]);
    const seen: ServiceDelta[] = [];
    const subscription = catalog.subscribe('org.demo.Greeter', (delta) => seen.push(delta));
    catalog.replaceSource('zookeeper', 'org.demo.Other', [provider('10.0.0.5:20880', { service: 'org.demo.Other' })]);
    catalog.remove('zookeeper', 'org.demo.Greeter', '10.0.0.1:20880');
    subscription.unsubscribe();
    catalog.upsert(provider('10.0.0.7:20880'));
    expect(seen.map((d) => [d.added.length, d.removed.length])).toEqual([
      [1, 0],
      [0, 1],
    ]);
  });

  it('marks a lost source stale without removing anything, and fresh again', () => {
    const catalog = new Catalog();
    catalog.replaceSource('zookeeper', 'org.demo.Greeter', [provider('10.0.0.1:20880'), provider('10.0.0.2:20880')]);
    catalog.upsert(provider('10.0.0.9:20880', { origin: { source: 'mesh' } }));
    expect(catalog.setSourceStale('zookeeper', true)).toHaveLength(1);
    expect(catalog.instances('org.demo.Greeter').filter((i) => i.stale)).toHaveLength(2);
    expect(catalog.staleCounts().get('zookeeper')).toBe(2);
    catalog.setSourceStale('zookeeper', false);
    expect(catalog.staleCounts().size).toBe(0);
    expect(catalog.instanceCount).toBe(3);
  });

  it('tells subscribers of a source going stale as updates of that source\'s instances only, once', () => {
    const catalog = new Catalog();
    const before = [provider('10.0.0.1:20880'), provider('10.0.0.2:20880')];
    catalog.replaceSource('zookeeper', 'org.demo.Greeter', before);
    catalog.upsert(provider('10.0.0.9:20880', { origin: { source: 'mesh' } }));
    const seen: ServiceDelta[] = [];
    catalog.subscribe('org.demo.Greeter', (d) => seen.push(d));
    seen.length = 0;
    const deltas = catalog.setSourceStale('zookeeper', true);
    expect(deltas).toEqual(seen);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ added: [], removed: [] });
    expect(seen[0].updated.map((i) => [i.id, i.stale])).toEqual([
      ['10.0.0.1:20880', true],
      ['10.0.0.2:20880', true],
    ]);
    expect(before.every((i) => i.stale === undefined)).toBe(true);
    expect(catalog.setSourceStale('zookeeper', true)).toEqual([]);
    expect(catalog.setSourceStale('mesh', false)).toEqual([]);
  });

  it('removes everything of one source across services', () => {
    const catalog = new Catalog();
    catalog.replaceSource('zookeeper', 'a', [provider('1.1.1.1:1', { service: 'a' })]);
    catalog.replaceSource('zookeeper', 'b', [provider('1.1.1.1:1', { service: 'b' })]);
    catalog.upsert(provider('2.2.2.2:2', { service: 'b', origin: { source: 'mesh' } }));
    expect(catalog.removeSource('zookeeper')).toHaveLength(2);
    expect(catalog.serviceNames()).toEqual(['b']);
  });
});
