import { EurekaInstance, parseEurekaInstance } from './eureka-instance';
import { appsHashcode, EurekaRegistry } from './eureka-registry';

const T0 = 1_700_000_000_000;

function instance(app: string, id: string, overrides: Record<string, unknown> = {}): EurekaInstance {
  return parseEurekaInstance(
    {
      instance: {
        instanceId: id,
        app,
        hostName: `${id}.local`,
        ipAddr: '10.0.0.1',
        status: 'UP',
        port: { $: 8080, '@enabled': 'true' },
        dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
        leaseInfo: { renewalIntervalInSecs: 30, durationInSecs: 90 },
        lastDirtyTimestamp: T0,
        ...overrides,
      },
    },
    T0,
  );
}

/** Heartbeats every lease in `ids` every 30 s from `from` to `to`. */
function heartbeat(registry: EurekaRegistry, app: string, ids: string[], from: number, to: number): void {
  for (let t = from; t <= to; t += 30_000) for (const id of ids) registry.renew(app, id, t);
}

describe('EurekaRegistry', () => {
  it('registers an instance, serves it in the full view and counts it in the hash code', () => {
    const registry = new EurekaRegistry();
    expect(registry.register(instance('orders', 'o-1'), T0)).toBe('ADDED');
    const view = registry.fullView();
    expect(view.applications).toHaveLength(1);
    expect(view.applications[0]?.name).toBe('ORDERS');
    expect(view.applications[0]?.instances[0]?.instance.instanceId).toBe('o-1');
    expect(view.appsHashcode).toBe('UP_1_');
    expect(view.versionsDelta).toBe(1);
    expect(registry.leaseCount).toBe(1);
  });

  it('computes the hash code as Eureka does: status counts sorted by status name', () => {
    expect(appsHashcode(['UP', 'DOWN', 'UP', 'UP', 'OUT_OF_SERVICE'])).toBe('DOWN_1_OUT_OF_SERVICE_1_UP_3_');
    expect(appsHashcode([])).toBe('');
  });

  it('reports a re-registration as MODIFIED and keeps the registration time', () => {
    const registry = new EurekaRegistry();
    registry.register(instance('orders', 'o-1'), T0);
    expect(registry.register(instance('orders', 'o-1', { lastDirtyTimestamp: T0 + 5 }), T0 + 10_000)).toBe('MODIFIED');
    const view = registry.instance('ORDERS', 'o-1');
    expect(view?.lease.registrationTimestamp).toBe(T0);
    expect(view?.lease.lastRenewalTimestamp).toBe(T0 + 10_000);
    expect(registry.leaseCount).toBe(1);
  });

  it('keeps held data when a re-registration is older by lastDirtyTimestamp', () => {
    const registry = new EurekaRegistry();
    registry.register(instance('orders', 'o-1', { metadata: { zone: 'b' }, lastDirtyTimestamp: T0 + 100 }), T0);
    registry.register(instance('orders', 'o-1', { metadata: { zone: 'a' }, lastDirtyTimestamp: T0 }), T0 + 1000);
    expect(registry.instance('ORDERS', 'o-1')?.instance.metadata).toEqual({ zone: 'b' });
  });

  it('answers a heartbeat for an unknown instance with unknown, and one with newer dirty data with dirty', () => {
    const registry = new EurekaRegistry();
    expect(registry.renew('orders', 'nope', T0)).toBe('unknown');
    registry.register(instance('orders', 'o-1'), T0);
    expect(registry.renew('orders', 'o-1', T0 + 30_000)).toBe('renewed');
    expect(registry.renew('orders', 'o-1', T0 + 30_000, T0)).toBe('renewed');
    expect(registry.renew('orders', 'o-1', T0 + 30_000, T0 + 1)).toBe('dirty');
  });

  it('cancels a lease and reports it DELETED in the delta', () => {
    const registry = new EurekaRegistry();
    registry.register(instance('orders', 'o-1'), T0);
    expect(registry.cancel('orders', 'o-1', T0 + 1000)).toBe(true);
    expect(registry.cancel('orders', 'o-1', T0 + 1000)).toBe(false);
    expect(registry.fullView().applications).toEqual([]);
    const delta = registry.deltaView(T0 + 2000);
    expect(delta.applications[0]?.instances.map((v) => [v.instance.instanceId, v.actionType])).toEqual([['o-1', 'DELETED']]);
    expect(delta.appsHashcode).toBe('');
    expect(registry.leaseCount).toBe(0);
  });

  it('applies a status override, holds it against the client UP, and lets a client DOWN through', () => {
    const registry = new EurekaRegistry();
    registry.register(instance('orders', 'o-1'), T0);
    expect(registry.setStatusOverride('orders', 'o-1', 'OUT_OF_SERVICE', T0 + 1)).toBe(true);
    expect(registry.instance('ORDERS', 'o-1')?.instance.status).toBe('OUT_OF_SERVICE');
    expect(registry.instance('ORDERS', 'o-1')?.instance.overriddenStatus).toBe('OUT_OF_SERVICE');
    // The client re-registers saying UP: the override wins.
    registry.register(instance('orders', 'o-1', { lastDirtyTimestamp: T0 + 2 }), T0 + 2);
    expect(registry.instance('ORDERS', 'o-1')?.instance.status).toBe('OUT_OF_SERVICE');
    // A client saying DOWN is believed whatever the override.
    registry.register(instance('orders', 'o-1', { status: 'DOWN', lastDirtyTimestamp: T0 + 3 }), T0 + 3);
    expect(registry.instance('ORDERS', 'o-1')?.instance.status).toBe('DOWN');
    expect(registry.setStatusOverride('orders', 'nope', 'UP', T0)).toBe(false);
  });

  it('removes an override, taking the given status (UNKNOWN when none)', () => {
    const registry = new EurekaRegistry();
    registry.register(instance('orders', 'o-1'), T0);
    registry.setStatusOverride('orders', 'o-1', 'OUT_OF_SERVICE', T0 + 1);
    expect(registry.removeStatusOverride('orders', 'o-1', undefined, T0 + 2)).toBe(true);
    expect(registry.instance('ORDERS', 'o-1')?.instance.status).toBe('UNKNOWN');
    expect(registry.instance('ORDERS', 'o-1')?.instance.overriddenStatus).toBe('UNKNOWN');
    registry.register(instance('orders', 'o-1', { lastDirtyTimestamp: T0 + 3 }), T0 + 3);
    expect(registry.instance('ORDERS', 'o-1')?.instance.status).toBe('UP');
    expect(registry.fullView().appsHashcode).toBe('UP_1_');
  });

  it('evicts a lease not renewed within its duration, and keeps one that was', () => {
    const registry = new EurekaRegistry();
    registry.register(instance('orders', 'o-1', { leaseInfo: { durationInSecs: 90 } }), T0);
    registry.register(instance('orders', 'o-2', { leaseInfo: { durationInSecs: 90 } }), T0);
    registry.register(instance('orders', 'o-3', { leaseInfo: { durationInSecs: 90 } }), T0);
    registry.register(instance('orders', 'o-4', { leaseInfo: { durationInSecs: 90 } }), T0);
    registry.register(instance('orders', 'o-5', { leaseInfo: { durationInSecs: 90 } }), T0);
    registry.register(instance('orders', 'o-6', { leaseInfo: { durationInSecs: 90 } }), T0);
    registry.register(instance('orders', 'o-7', { leaseInfo: { durationInSecs: 90 } }), T0);
    heartbeat(registry, 'orders', ['o-1', 'o-2', 'o-3', 'o-4', 'o-5', 'o-6'], T0 + 30_000, T0 + 120_000);
    expect(registry.evict(T0 + 90_000)).toEqual([]);
    const evicted = registry.evict(T0 + 120_001);
    expect(registry.selfPreservationActive).toBe(false);
    expect(evicted.map((i) => i.instanceId)).toEqual(['o-7']);
    expect(registry.leaseCount).toBe(6);
    expect(registry.deltaView(T0 + 120_002).applications[0]?.instances.find((v) => v.instance.instanceId === 'o-7')?.actionType).toBe('DELETED');
  });

  it('honours each lease its own duration', () => {
    const registry = new EurekaRegistry({ selfPreservation: false });
    registry.register(instance('orders', 'short', { leaseInfo: { durationInSecs: 5, renewalIntervalInSecs: 1 } }), T0);
    registry.register(instance('orders', 'long', { leaseInfo: { durationInSecs: 600 } }), T0);
    expect(registry.evict(T0 + 5000)).toEqual([]);
    expect(registry.evict(T0 + 5001).map((i) => i.instanceId)).toEqual(['short']);
    expect(registry.evict(T0 + 300_000)).toEqual([]);
  });

  it('enters self-preservation and evicts nothing when most leases stop renewing at once', () => {
    const registry = new EurekaRegistry();
    const ids = Array.from({ length: 10 }, (_, i) => `o-${i}`);
    for (const id of ids) registry.register(instance('orders', id), T0);
    heartbeat(registry, 'orders', ids, T0 + 30_000, T0 + 120_000);
    // A network partition: only two keep renewing.
    heartbeat(registry, 'orders', ['o-0', 'o-1'], T0 + 150_000, T0 + 400_000);
    expect(registry.evict(T0 + 400_000)).toEqual([]);
    expect(registry.selfPreservationActive).toBe(true);
    expect(registry.leaseCount).toBe(10);
    expect(registry.renewalsInWindow(T0 + 400_000)).toBeLessThan(registry.expectedRenewalsInWindow(T0 + 400_000) * 0.85);
  });

  it('leaves self-preservation once renewals recover', () => {
    const registry = new EurekaRegistry();
    const ids = ['a', 'b', 'c'];
    for (const id of ids) registry.register(instance('orders', id), T0);
    expect(registry.evict(T0 + 200_000)).toEqual([]);
    expect(registry.selfPreservationActive).toBe(true);
    heartbeat(registry, 'orders', ids, T0 + 210_000, T0 + 270_000);
    registry.evict(T0 + 270_000);
    expect(registry.selfPreservationActive).toBe(false);
  });

  it('evicts without self-preservation when it is turned off', () => {
    const registry = new EurekaRegistry({ selfPreservation: false });
    for (const id of ['a', 'b', 'c']) registry.register(instance('orders', id), T0);
    // Eureka evicts at most 15% of the registry per run (at least one): three runs for three leases.
    expect(registry.evict(T0 + 91_000)).toHaveLength(1);
    expect(registry.evict(T0 + 91_000)).toHaveLength(1);
    expect(registry.evict(T0 + 91_000)).toHaveLength(1);
    expect(registry.selfPreservationActive).toBe(false);
    expect(registry.leaseCount).toBe(0);
  });

  it('keeps changes in the delta only for the retention window, latest change per instance', () => {
    const registry = new EurekaRegistry({ deltaRetentionMs: 180_000 });
    registry.register(instance('orders', 'o-1'), T0);
    registry.register(instance('orders', 'o-2'), T0 + 100_000);
    registry.setStatusOverride('orders', 'o-2', 'OUT_OF_SERVICE', T0 + 110_000);
    const early = registry.deltaView(T0 + 120_000);
    expect(early.applications[0]?.instances.map((v) => [v.instance.instanceId, v.actionType])).toEqual([
      ['o-1', 'ADDED'],
      ['o-2', 'MODIFIED'],
    ]);
    expect(early.appsHashcode).toBe('OUT_OF_SERVICE_1_UP_1_');
    const late = registry.deltaView(T0 + 200_000);
    expect(late.applications[0]?.instances.map((v) => v.instance.instanceId)).toEqual(['o-2']);
    expect(registry.deltaView(T0 + 400_000).applications).toEqual([]);
    expect(late.versionsDelta).toBe(3);
  });

  it('serves external instances beside registered ones, with their changes in the delta', () => {
    const registry = new EurekaRegistry({ selfPreservation: false });
    registry.register(instance('orders', 'o-1'), T0);
    expect(registry.replaceExternal('zookeeper', [instance('orders', 'zk-1'), instance('billing', 'b-1')], T0 + 1)).toBe(2);
    expect(registry.replaceExternal('zookeeper', [instance('orders', 'zk-1'), instance('billing', 'b-1')], T0 + 2)).toBe(0);
    const full = registry.fullView();
    expect(full.applications.map((a) => [a.name, a.instances.length])).toEqual([
      ['BILLING', 1],
      ['ORDERS', 2],
    ]);
    expect(full.appsHashcode).toBe('UP_3_');
    expect(registry.registeredInstances('orders').map((i) => i.instanceId)).toEqual(['o-1']);
    expect(registry.leaseCount).toBe(1);
    registry.replaceExternal('zookeeper', [instance('orders', 'zk-1')], T0 + 3);
    expect(registry.application('billing')).toBeUndefined();
    const delta = registry.deltaView(T0 + 4);
    expect(delta.applications.find((a) => a.name === 'BILLING')?.instances[0]?.actionType).toBe('DELETED');
    // External instances hold no lease and are never evicted.
    expect(registry.evict(T0 + 10_000_000).map((i) => i.instanceId)).toEqual(['o-1']);
    expect(registry.application('orders')?.instances.map((v) => v.instance.instanceId)).toEqual(['zk-1']);
  });

  it('prefers a registered instance over an external one with the same id', () => {
    const registry = new EurekaRegistry();
    registry.register(instance('orders', 'same', { ipAddr: '10.0.0.9' }), T0);
    registry.upsertExternal('mesh', instance('orders', 'same', { ipAddr: '10.0.0.1' }), T0);
    expect(registry.application('orders')?.instances.map((v) => v.instance.ipAddr)).toEqual(['10.0.0.9']);
  });
});
