import { isMeshBridgeError } from '../errors';
import { buildDependencyGraph, stronglyConnectedComponents } from './dependency-graph';
import { planWaves } from './waves';

// ledger <- payment <- checkout (checkout calls payment, payment calls ledger), in Dubbo terms.
const family = buildDependencyGraph({
  dubbo: {
    providers: [
      { interface: 'Ledger', application: 'ledger-app' },
      { interface: 'Payment', application: 'payment-app' },
      { interface: 'Checkout', application: 'checkout-app' },
    ],
    consumers: [
      { interface: 'Ledger', application: 'payment-app' },
      { interface: 'Payment', application: 'checkout-app' },
    ],
  },
});

function names(waves: ReturnType<typeof planWaves>): string[][] {
  return waves.map((w) => w.services.map((s) => s.service));
}

describe('the dependency graph', () => {
  it('turns consumer registrations into calls between the services each application provides', () => {
    expect(family.calls.get('Payment')).toEqual(['Ledger']);
    expect(family.calls.get('Checkout')).toEqual(['Payment']);
    expect(family.evidence.get('Payment\nLedger')).toBe('payment-app consumes it in ZooKeeper');
  });

  it('keeps a consumer that provides nothing as a node of its own and sums observed rates', () => {
    const graph = buildDependencyGraph({ eureka: { apps: ['GATEWAY', 'ORDERS'] }, traffic: [{ from: 'GATEWAY', to: 'ORDERS', callsPerSecond: 40 }, { from: 'web', to: 'ORDERS', callsPerSecond: 2 }] });
    expect(graph.nodes).toEqual(['GATEWAY', 'ORDERS', 'web']);
    expect(graph.calls.get('web')).toEqual(['ORDERS']);
    expect(graph.inboundCallsPerSecond.get('ORDERS')).toBe(42);
  });

  it('rejects a malformed graph file with the key path', () => {
    try {
      buildDependencyGraph({ dubbo: { consumers: [{ interface: 'X' }] } } as never);
      throw new Error('accepted');
    } catch (err) {
      expect(isMeshBridgeError(err) && err.code).toBe('CUTOVER_BAD_GRAPH');
      expect((err as Error).message).toContain('dubbo.consumers.0.application');
    }
  });

  it('finds strongly connected components, callees before callers', () => {
    const graph = buildDependencyGraph({ traffic: [{ from: 'a', to: 'b' }, { from: 'b', to: 'c' }, { from: 'c', to: 'b' }, { from: 'c', to: 'd' }] });
    expect(stronglyConnectedComponents(graph)).toEqual([['d'], ['b', 'c'], ['a']]);
  });

  it('does not run out of stack on a long chain', () => {
    const traffic = Array.from({ length: 20_000 }, (_, i) => ({ from: `s${i}`, to: `s${i + 1}` }));
    expect(stronglyConnectedComponents(buildDependencyGraph({ traffic }))).toHaveLength(20_001);
  });
});

describe('waves', () => {
  it('moves providers before the services that call them, with reasons', () => {
    const waves = planWaves(family, ['Checkout', 'Ledger', 'Payment'], 'providers_first', 10);
    expect(names(waves)).toEqual([['Ledger'], ['Payment'], ['Checkout']]);
    expect(waves[0].services[0].reason).toBe('calls no other service of this playbook');
    expect(waves[1].services[0].reason).toBe('calls Ledger (wave 1)');
    expect(waves[2].services[0].reason).toBe('calls Payment (wave 2)');
  });

  it('moves callers first when the playbook asks', () => {
    const waves = planWaves(family, ['Checkout', 'Ledger', 'Payment'], 'callers_first', 10);
    expect(names(waves)).toEqual([['Checkout'], ['Payment'], ['Ledger']]);
    expect(waves[2].services[0].reason).toBe('is called by Payment (wave 2)');
  });

  it('orders through services that are not moving', () => {
    const waves = planWaves(family, ['Checkout', 'Ledger'], 'providers_first', 10);
    expect(names(waves)).toEqual([['Ledger'], ['Checkout']]);
    expect(waves[1].services[0].reason).toBe('calls Ledger (wave 1) through Payment');
  });

  it('keeps a call cycle together', () => {
    const graph = buildDependencyGraph({ traffic: [{ from: 'a', to: 'b' }, { from: 'b', to: 'c' }, { from: 'c', to: 'b' }, { from: 'c', to: 'd' }] });
    const waves = planWaves(graph, ['a', 'b', 'c', 'd'], 'providers_first', 10);
    expect(names(waves)).toEqual([['d'], ['b', 'c'], ['a']]);
    expect(waves[1].services[0].cycle).toEqual(['c']);
    expect(waves[1].services[0].reason).toBe('calls d (wave 1); in a call cycle with b, c: they move together');
  });

  it('caps the services per wave and says why a service waits', () => {
    const graph = buildDependencyGraph({ eureka: { apps: ['a', 'b', 'c', 'd', 'e'] } });
    const waves = planWaves(graph, ['a', 'b', 'c', 'd', 'e'], 'providers_first', 2);
    expect(names(waves)).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    expect(waves[2].services[0].reason).toContain('wave 1 reached the cap of 2 services');
  });

  it('lets a cycle larger than the cap exceed it rather than split it', () => {
    const graph = buildDependencyGraph({ traffic: [{ from: 'a', to: 'b' }, { from: 'b', to: 'c' }, { from: 'c', to: 'a' }] });
    const waves = planWaves(graph, ['a', 'b', 'c'], 'providers_first', 2);
    expect(names(waves)).toEqual([['a', 'b', 'c']]);
    expect(waves[0].services[0].reason).toContain('larger than the cap of 2');
  });

  it('places a service the graph does not know in the first wave', () => {
    const waves = planWaves(family, ['Unknown', 'Ledger'], 'providers_first', 10);
    expect(names(waves)).toEqual([['Ledger', 'Unknown']]);
  });

  it('rejects a bad cap and a service listed twice', () => {
    expect(() => planWaves(family, ['Ledger'], 'providers_first', 0)).toThrow(/maxServicesPerWave/);
    expect(() => planWaves(family, ['Ledger', 'Ledger'], 'providers_first', 3)).toThrow(/listed twice/);
  });
});
