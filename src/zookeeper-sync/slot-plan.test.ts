import type { Instance } from '../catalog';
import { assignSlots, effectiveWeight, legacyEndpoints, parseSlotMember, reachableShare, slotCount, slotMemberPath, slotScale, slotView } from './slot-plan';

describe('slotCount: the smallest B with B / (B + L) >= w', () => {
  it.each([
    // w, L, available, B
    [0, 1, 8, 0],
    [25, 1, 8, 1], // 1/2 >= 25 %
    [50, 1, 8, 1], // 1/2
    [51, 1, 8, 2], // 2/3
    [75, 1, 8, 3], // 3/4 exactly
    [75, 3, 8, 8], // 9/12 needs 9: capped at 8
    [50, 3, 8, 3], // exactly 3/6
    [10, 4, 8, 1], // 1/5 = 20 %
    [99, 1, 8, 8], // 99 needs 99: capped
    [100, 2, 5, 5], // 100 % is unreachable beside legacy endpoints: every endpoint
    [30, 0, 5, 1], // no legacy endpoint: one is enough
    [30, 2, 0, 0], // no endpoint at all
  ])('w=%d L=%d S=%d -> B=%d', (w, legacy, available, expected) => {
    expect(slotCount(w, legacy, available)).toBe(expected);
  });

  it('is the smallest such B for every weight and legacy count', () => {
    for (let legacy = 1; legacy <= 6; legacy++) {
      for (let w = 1; w < 100; w++) {
        const b = slotCount(w, legacy, 1000);
        expect(b / (b + legacy)).toBeGreaterThanOrEqual(w / 100 - 1e-12);
        if (b > 1) expect((b - 1) / (b - 1 + legacy)).toBeLessThan(w / 100);
      }
    }
  });
});

describe('the weight the bridges route by', () => {
  it('makes the mesh get w overall: (B / (B + L)) * x = w', () => {
    for (const [w, legacy] of [
      [25, 1],
      [50, 1],
      [75, 1],
      [30, 4],
      [60, 2],
    ]) {
      const b = slotCount(w, legacy, 100);
      const x = effectiveWeight(w, slotScale(b, legacy));
      expect(x).toBeLessThanOrEqual(100);
      expect((b / (b + legacy)) * x).toBeCloseTo(w, 9);
    }
  });

  it('scales every method of the service by the same factor, capped at 100', () => {
    // B chosen for the highest weight (75, L = 1 -> B = 3, scale 4/3): a method at 30 is routed at 40.
    const scale = slotScale(slotCount(75, 1, 8), 1);
    expect(effectiveWeight(30, scale)).toBeCloseTo(40, 9);
    expect(effectiveWeight(75, scale)).toBeCloseTo(100, 9);
    expect(effectiveWeight(90, scale)).toBe(100);
  });

  it('is the operator weight when nothing is written or nothing is legacy', () => {
    expect(slotScale(0, 3)).toBe(1);
    expect(slotScale(2, 0)).toBe(1);
  });

  it('says when the endpoints cannot reach the weight', () => {
    expect(reachableShare(2, 2)).toBe(50);
    const view = slotView('s', 75, 2, 2, 2);
    expect(view).toMatchObject({ target: 2, scale: 2, effective: 100, achieved: 50, reachable: 50, capped: true });
    expect(slotView('s', 75, 1, 3, 8)).toMatchObject({ target: 3, effective: 100, achieved: 75, capped: false });
    expect(effectiveWeight(75, view.scale)).toBe(100); // x = 1: the achieved share is the cap's, 50 %
    expect(slotView('s', 50, 2, 2, 2).capped).toBe(false);
    expect(slotView('s', 0, 2, 0, 2).capped).toBe(false);
  });
});

describe('assignSlots', () => {
  const members = [
    { owner: 'b2', endpoints: ['h2:20880', 'h2:20881', 'h2:20882'] },
    { owner: 'b1', endpoints: ['h1:20880', 'h1:20881'] },
  ];

  it('takes main ports first, bridges in id order, then slot ports in turn', () => {
    expect([...assignSlots(1, members)]).toEqual([['b1', ['h1:20880']]]);
    expect([...assignSlots(3, members)]).toEqual([
      ['b1', ['h1:20880', 'h1:20881']],
      ['b2', ['h2:20880']],
    ]);
    expect([...assignSlots(5, members)]).toEqual([
      ['b1', ['h1:20880', 'h1:20881']],
      ['b2', ['h2:20880', 'h2:20881', 'h2:20882']],
    ]);
  });

  it('is the same whatever order the members are listed in, and never more than offered', () => {
    expect(assignSlots(4, [...members].reverse())).toEqual(assignSlots(4, members));
    const all = assignSlots(99, members);
    expect([...all.values()].flat()).toHaveLength(5);
    expect(assignSlots(0, members).size).toBe(0);
  });
});

describe('member nodes', () => {
  it('round-trip through the node name and refuse what a bridge did not write', () => {
    const member = { owner: 'bridge a/1', endpoints: ['10.0.0.5:20880', '[::1]:20881'] };
    const path = slotMemberPath('/mesh-bridge', member);
    const name = path.slice(path.lastIndexOf('/') + 1);
    expect(name).not.toContain('/');
    expect(parseSlotMember(name)).toEqual(member);
    expect(parseSlotMember('junk')).toBeNull();
    expect(parseSlotMember(encodeURIComponent(JSON.stringify({ owner: 'x', endpoints: ['nope'] })))).toBeNull();
  });
});

describe('legacyEndpoints', () => {
  const instance = (host: string, port: number, source = 'zookeeper', health: Instance['health'] = 'up', version = '1.0.0'): Instance =>
    ({ id: `${host}:${port}`, service: 's', protocol: 'dubbo', host, port, version, group: '', weight: 100, health, labels: {}, origin: { source }, stack: source === 'zookeeper' ? 'legacy' : 'mesh' }) as unknown as Instance;

  it('counts distinct legacy host:port, up, read from ZooKeeper, of a version the mesh serves', () => {
    const meshTwin = instance('m', 1, 'mesh');
    expect(legacyEndpoints([meshTwin, instance('a', 1), instance('a', 1), instance('b', 1), instance('d', 1, 'zookeeper', 'down'), instance('e', 1, 'zookeeper', 'up', '2.0.0')])).toBe(2);
  });
});
