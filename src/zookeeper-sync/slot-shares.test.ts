import { Catalog, Instance, instanceDefaults } from '../catalog';
import { createLogger } from '../telemetry/logger';
import { SlotShares } from './slot-shares';

const SERVICE = 'org.demo.Who';

function provider(address: string, source: string): Instance {
  const [host, port] = address.split(':');
  return { ...instanceDefaults(), id: address, service: SERVICE, protocol: 'dubbo', host, port: Number(port), stack: source === 'zookeeper' ? 'legacy' : 'mesh', origin: { source } };
}

describe('SlotShares', () => {
  it('follows the weight, the legacy endpoints and the bridge URLs listed, and counts services it cannot reach', () => {
    const catalog = new Catalog();
    catalog.upsert(provider('10.0.0.9:20880', 'mesh'));
    catalog.replaceSource('zookeeper', SERVICE, [provider('10.0.0.1:20880', 'zookeeper')]);
    let weight = 0;
    let listed = 0;
    const capped: number[] = [];
    const shares = new SlotShares({ catalog, bridgeEndpoints: () => listed, maxWeight: () => weight, logger: createLogger({ level: 'silent' }), onCapped: (n) => capped.push(n) });
    shares.start();
    shares.setMembers([{ owner: 'b1', endpoints: ['10.0.0.5:20880', '10.0.0.5:20881'] }]);
    expect(shares.scaleOf(SERVICE)).toBe(1);
    expect(shares.list()).toEqual([]);

    weight = 50;
    listed = 1;
    shares.update(SERVICE);
    expect(shares.scaleOf(SERVICE)).toBe(2); // (1 + 1) / 1
    expect(shares.list()[0]).toMatchObject({ weight: 50, legacy: 1, bridges: 1, available: 2, target: 1, effective: 100, achieved: 50, capped: false });

    // A second legacy provider registers: until the bridges write more, x is capped and the share drops.
    catalog.replaceSource('zookeeper', SERVICE, [provider('10.0.0.1:20880', 'zookeeper'), provider('10.0.0.2:20880', 'zookeeper')]);
    expect(shares.scaleOf(SERVICE)).toBe(3);
    expect(shares.list()[0]).toMatchObject({ target: 2, capped: false });

    // 75 % beside two legacy endpoints needs six; two are offered: capped at 2/4.
    weight = 75;
    listed = 2;
    shares.update(SERVICE);
    expect(shares.list()[0]).toMatchObject({ target: 2, scale: 2, reachable: 50, achieved: 50, capped: true });
    expect(capped).toEqual([1]);

    shares.setMembers([
      { owner: 'b1', endpoints: ['10.0.0.5:20880', '10.0.0.5:20881'] },
      { owner: 'b2', endpoints: ['10.0.0.6:20880', '10.0.0.6:20881', '10.0.0.6:20882', '10.0.0.6:20883'] },
    ]);
    expect(shares.list()[0]).toMatchObject({ target: 6, capped: false });
    expect(capped).toEqual([1, 0]);

    weight = 0;
    shares.update(SERVICE);
    expect(shares.scaleOf(SERVICE)).toBe(1);
    expect(shares.list()).toEqual([]);
    shares.stop();
  });
});
