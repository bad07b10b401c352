import { appsHashcode } from './eureka-registry';
import {
  appToCatalog,
  applyDelta,
  changedAppsBetween,
  hashcodesMatch,
  parseApplications,
  parseApplicationsJson,
  snapshotFromFull,
  snapshotHashcode,
} from './eureka-remote-delta';

const NOW = 1_700_000_000_000;

function inst(app: string, id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    instanceId: id,
    app,
    hostName: '10.0.0.1',
    ipAddr: '10.0.0.1',
    status: 'UP',
    port: { $: 8080, '@enabled': 'true' },
    dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
    metadata: { version: '1.0' },
    ...extra,
  };
}

function doc(apps: Record<string, unknown[]>, hash?: string): unknown {
  return {
    applications: {
      versions__delta: '1',
      ...(hash === undefined ? {} : { apps__hashcode: hash }),
      application: Object.entries(apps).map(([name, instance]) => ({ name, instance })),
    },
  };
}

describe('parseApplications', () => {
  it('accepts Jackson single-element and empty forms', () => {
    const parsed = parseApplications({ applications: { apps__hashcode: 'UP_1_', application: { name: 'a', instance: inst('A', 'a1') } } });
    expect(parsed.apps).toEqual([{ name: 'A', instances: [expect.objectContaining({ instanceId: 'a1' })] }]);
    expect(parseApplications({ applications: { application: '' } }).apps).toEqual([]);
  });

  it('refuses a document that is not an applications document', () => {
    expect(() => parseApplicationsJson('<html>')).toThrow(expect.objectContaining({ code: 'EUREKA_BAD_PAYLOAD' }));
    expect(() => parseApplications({ foo: 1 })).toThrow(expect.objectContaining({ code: 'EUREKA_BAD_PAYLOAD', where: 'applications' }));
    expect(() => parseApplications({ applications: { application: [{ instance: [] }] } })).toThrow(expect.objectContaining({ where: 'application[0]' }));
  });
});

describe('full fetch and deltas', () => {
  const full = parseApplications(doc({ A: [inst('A', 'a1'), inst('A', 'a2', { status: 'DOWN' })], B: [inst('B', 'b1')] }));

  it('builds the local copy and its hash code as the server computes it', () => {
    const { snapshot, bad } = snapshotFromFull(full, NOW);
    expect(bad).toEqual([]);
    expect(snapshotHashcode(snapshot)).toBe(appsHashcode(['UP', 'DOWN', 'UP']));
    expect(snapshotHashcode(snapshot)).toBe('DOWN_1_UP_2_');
    expect(hashcodesMatch(snapshot, 'DOWN_1_UP_2_')).toBe(true);
    expect(hashcodesMatch(snapshot, 'UP_3_')).toBe(false);
    expect(hashcodesMatch(snapshot, '')).toBe(false);
  });

  it('applies ADDED, MODIFIED and DELETED without touching the copy it was given', () => {
    const { snapshot } = snapshotFromFull(full, NOW);
    const delta = parseApplications(
      doc({
        A: [inst('A', 'a1', { actionType: 'DELETED' }), inst('A', 'a3', { actionType: 'ADDED' })],
        B: [inst('B', 'b1', { actionType: 'MODIFIED', metadata: { version: '2.0' } })],
        C: [inst('C', 'c1', { actionType: 'DELETED' })],
      }),
    );
    const result = applyDelta(snapshot, delta, NOW);
    expect([...(result.snapshot.get('A')?.keys() ?? [])].sort()).toEqual(['a2', 'a3']);
    expect(result.snapshot.get('B')?.get('b1')?.instance?.metadata.version).toBe('2.0');
    expect(result.snapshot.has('C')).toBe(false);
    expect([...result.changedApps].sort()).toEqual(['A', 'B']);
    expect(snapshot.get('A')?.has('a1')).toBe(true);
    expect(snapshot.get('B')?.get('b1')?.instance?.metadata.version).toBe('1.0');
    expect(changedAppsBetween(snapshot, result.snapshot)).toEqual(new Set(['A', 'B']));
  });

  it('drops an app whose last instance is deleted', () => {
    const { snapshot } = snapshotFromFull(full, NOW);
    const result = applyDelta(snapshot, parseApplications(doc({ B: [inst('B', 'b1', { actionType: 'DELETED' })] })), NOW);
    expect(result.snapshot.has('B')).toBe(false);
    expect(snapshotHashcode(result.snapshot)).toBe('DOWN_1_UP_1_');
  });

  it('skips a malformed instance, reporting it, but counts its status in the hash code', () => {
    const broken = parseApplications(doc({ A: [inst('A', 'a1'), inst('A', 'bad', { port: { $: 'eighty' } }), { nonsense: true }] }));
    const { snapshot, bad } = snapshotFromFull(broken, NOW);
    expect(bad).toEqual([
      expect.objectContaining({ app: 'A', id: 'bad', field: 'port.$' }),
      expect.objectContaining({ app: 'A', id: '#2', field: 'hostName' }),
    ]);
    expect(snapshotHashcode(snapshot)).toBe('UNKNOWN_1_UP_2_');
    const published = appToCatalog(snapshot, 'A', { source: 'eureka' }, () => false);
    expect(published.map((i) => i.id)).toEqual(['a1']);
  });

  it('a malformed instance in a delta replaces the good one by an unpublished entry', () => {
    const { snapshot } = snapshotFromFull(full, NOW);
    const result = applyDelta(snapshot, parseApplications(doc({ B: [inst('B', 'b1', { actionType: 'MODIFIED', ipAddr: { x: 1 } })] })), NOW);
    expect(result.bad).toHaveLength(1);
    expect(result.snapshot.get('B')?.get('b1')?.instance).toBeNull();
    expect(appToCatalog(result.snapshot, 'B', { source: 'eureka' }, () => false)).toEqual([]);
  });

  it('maps to the catalog, minus what isOwned says a bridge wrote', () => {
    const { snapshot } = snapshotFromFull(full, NOW);
    const out = appToCatalog(snapshot, 'A', { source: 'eureka', registry: 'remote' }, (i) => i.instanceId === 'a1');
    expect(out).toEqual([expect.objectContaining({ id: 'a2', service: 'A', port: 8080, version: '1.0', health: 'down', origin: { source: 'eureka', registry: 'remote' } })]);
  });
});
