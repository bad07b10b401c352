// The override configurators the bridge writes, read the way a Java Dubbo 2.7 consumer reads them
// (test/support/dubbo-registry-directory.ts), beside the examples of Dubbo's documentation: they
// disable exactly the legacy providers they name, for exactly the consumers that call them.
import { Instance, instanceDefaults } from '../../src/catalog';
import { parseZnodeName, formatDubboUrl } from '../../src/dubbo-codec/dubbo-url';
import { overrideNodeName, planService } from '../../src/zookeeper-sync/export-plan';
import { DEFAULT_LAYOUT } from '../../src/zookeeper-sync/zk-paths';
import { ConsumerReference, callableProviders, enabledProviders, pickRandom } from '../support/dubbo-registry-directory';

const IFACE = 'com.foo.BarService';
const LEGACY = `dubbo://10.20.153.10:20880/${IFACE}?anyhost=true&application=bar&interface=${IFACE}&methods=hello&side=provider&version=1.0.0`;
const OTHER = `dubbo://10.20.153.11:20880/${IFACE}?anyhost=true&application=bar&interface=${IFACE}&methods=hello&side=provider&version=1.0.0`;
const BRIDGE = `dubbo://10.0.0.5:20880/${IFACE}?anyhost=true&application=mesh-bridge&interface=${IFACE}&methods=hello&side=provider&version=1.0.0&mesh-bridge=b1`;
const consumer: ConsumerReference = { interface: IFACE, version: '1.0.0', application: 'shop', host: '10.30.0.7' };

function legacyInstance(host: string, port: number, version = '1.0.0', group = ''): Instance {
  return { ...instanceDefaults(), id: `${host}:${port}`, service: IFACE, protocol: 'dubbo', host, port, stack: 'legacy', version, group, origin: { source: 'zookeeper' } };
}

function overrideUrl(instance: Instance, owner = 'b1', steering: 'disable' | 'weight' = 'disable'): string {
  return formatDubboUrl(parseZnodeName(overrideNodeName(IFACE, instance, owner, steering)));
}

describe('override configurators as a Java Dubbo consumer applies them', () => {
  it('disables the named legacy endpoint and nothing else', () => {
    const override = overrideUrl(legacyInstance('10.20.153.10', 20880));
    expect(override).toBe(`override://10.20.153.10:20880/${IFACE}?category=configurators&disabled=true&dynamic=false&enabled=true&version=1.0.0&mesh-bridge=b1`);
    expect(enabledProviders(consumer, [LEGACY, OTHER, BRIDGE], [override])).toEqual(['10.20.153.11:20880', '10.0.0.5:20880']);
  });

  it('needs the port: the documented form without one, read by a 2.7 consumer, compares the host with the consumer itself', () => {
    const documented = `override://10.20.153.10/${IFACE}?category=configurators&dynamic=false&disabled=true&version=1.0.0`;
    expect(enabledProviders(consumer, [LEGACY, BRIDGE], [documented])).toEqual(['10.20.153.10:20880', '10.0.0.5:20880']);
  });

  it('applies only to consumers of the same version and group', () => {
    const override = overrideUrl(legacyInstance('10.20.153.10', 20880));
    const v2 = `dubbo://10.20.153.10:20880/${IFACE}?application=bar&interface=${IFACE}&side=provider&version=2.0.0`;
    expect(enabledProviders({ ...consumer, version: '2.0.0' }, [v2], [override])).toEqual(['10.20.153.10:20880']);
    expect(enabledProviders({ ...consumer, version: '*' }, [LEGACY], [override])).toEqual([]);
    const grouped = overrideUrl(legacyInstance('10.20.153.10', 20880, '1.0.0', 'blue'));
    expect(enabledProviders({ ...consumer, group: 'blue' }, [`${LEGACY}&group=blue`], [grouped])).toEqual([]);
    expect(enabledProviders(consumer, [LEGACY], [grouped])).toEqual(['10.20.153.10:20880']);
  });

  it('would match nothing with side=provider or an application: both are conditions on the consumer-merged URL', () => {
    const base = `override://10.20.153.10:20880/${IFACE}?category=configurators&disabled=true&dynamic=false&enabled=true&version=1.0.0`;
    expect(enabledProviders(consumer, [LEGACY], [`${base}&side=provider`])).toEqual(['10.20.153.10:20880']);
    expect(enabledProviders(consumer, [LEGACY], [`${base}&application=bar`])).toEqual(['10.20.153.10:20880']);
    expect(enabledProviders(consumer, [LEGACY], [base])).toEqual([]);
  });

  it('is ignored with enabled=false, and the copies of several bridges act as one', () => {
    const one = overrideUrl(legacyInstance('10.20.153.10', 20880), 'b1');
    const two = overrideUrl(legacyInstance('10.20.153.10', 20880), 'b2');
    expect(enabledProviders(consumer, [LEGACY, BRIDGE], [one, two])).toEqual(['10.0.0.5:20880']);
    expect(enabledProviders(consumer, [LEGACY, BRIDGE], [one.replace('enabled=true', 'enabled=false')])).toEqual(['10.20.153.10:20880', '10.0.0.5:20880']);
  });

  it('leaves a consumer only the bridges while a service is migrated, and the legacy providers once the overrides are gone', () => {
    const legacy = [legacyInstance('10.20.153.10', 20880), legacyInstance('10.20.153.11', 20880)];
    const mesh: Instance = { ...legacyInstance('10.1.0.7', 20880), stack: 'mesh', origin: { source: 'mesh' } };
    const plan = planService(IFACE, [...legacy, mesh], { owner: 'b1', layout: DEFAULT_LAYOUT, export: { target: 'bridge', bridgeAddress: '10.0.0.5:20880' }, now: 1, migrating: true }, new Map());
    const written = (category: string): string[] =>
      plan.nodes.filter((n) => n.path.includes(`/${category}/`)).map((n) => formatDubboUrl(parseZnodeName(n.path.slice(n.path.lastIndexOf('/') + 1))));
    const providers = [LEGACY, OTHER, ...written('providers')];
    expect(enabledProviders(consumer, providers, written('configurators'))).toEqual(['10.0.0.5:20880']);
    expect(enabledProviders(consumer, [LEGACY, OTHER], [])).toEqual(['10.20.153.10:20880', '10.20.153.11:20880']);
  });

  it('with steering by weight, keeps the legacy endpoint at weight 0: never picked while a bridge is there, picked once none is', () => {
    const override = overrideUrl(legacyInstance('10.20.153.10', 20880), 'b1', 'weight');
    expect(override).toBe(`override://10.20.153.10:20880/${IFACE}?category=configurators&dynamic=false&enabled=true&version=1.0.0&weight=0&mesh-bridge=b1`);
    const kept = callableProviders(consumer, [LEGACY, BRIDGE], [override]);
    expect(kept).toEqual([
      { address: '10.20.153.10:20880', weight: 0 },
      { address: '10.0.0.5:20880', weight: 100 },
    ]);
    for (const random of [0, 0.001, 0.5, 0.999]) expect(pickRandom(kept, random).address).toBe('10.0.0.5:20880');
    // The bridge's connection closed: Java picks again among the available invokers, the legacy one.
    expect(pickRandom(kept.slice(0, 1), 0.7).address).toBe('10.20.153.10:20880');
    const two = callableProviders(consumer, [LEGACY, OTHER], [override, overrideUrl(legacyInstance('10.20.153.11', 20880), 'b1', 'weight')]);
    expect(new Set([0.1, 0.9].map((r) => pickRandom(two, r).address))).toEqual(new Set(['10.20.153.10:20880', '10.20.153.11:20880']));
  });
});
