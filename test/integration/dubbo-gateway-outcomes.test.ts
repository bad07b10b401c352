// How Dubbo calls through the bridge end, in the data path's failure classes, against real
// sockets: business exceptions are the application's (counted as errors, never ejecting the
// instance), status 100 is an overloaded upstream, and a consumer that hangs up is never held
// against the provider it was waiting for.
import { Catalog, Instance, instanceDefaults } from '../../src/catalog';
import { encodeResponse } from '../../src/dubbo-codec';
import { DubboServicePolicy } from '../../src/proxy/dubbo/dubbo-listener';
import { Registry, metricValue } from '../../src/telemetry/metrics';
import { RawDubboClient } from '../support/dubbo-client';
import { CodecProvider, startCodecProvider } from '../support/dubbo-codec-provider';
import { SofaProvider, startSofaProvider } from '../support/dubbo-peers';
import { dubboGateway } from '../support/gateway';
import { waitFor } from '../support/wait';

const IFACE = 'com.example.demo.OrderService';

function instanceAt(port: number, version = ''): Instance {
  return { ...instanceDefaults(), id: `127.0.0.1:${port}`, service: IFACE, protocol: 'dubbo', host: '127.0.0.1', port, stack: 'legacy', version, origin: { source: 'static' } };
}

const policy: DubboServicePolicy = { idempotentMethods: new Set(), retries: 0, timeoutMs: 3000 };
const thrown = { $class: 'java.lang.IllegalStateException', $: { detailMessage: 'no such order' } };

/** A bridge over one instance, with a consumer connected; `done` stops both. */
async function bridgeOver(port: number, version = '', timeoutMs = 3000) {
  const catalog = new Catalog();
  catalog.replaceSource('static', IFACE, [instanceAt(port, version)]);
  const metrics = new Registry();
  const gateway = dubboGateway(catalog, { metrics, policy: () => ({ ...policy, timeoutMs }) });
  await gateway.listener.start();
  const client = await RawDubboClient.connect(gateway.listener.address.port);
  const done = async (): Promise<void> => {
    client.close();
    await gateway.stop();
  };
  return { metrics, gateway, client, done };
}

describe('Dubbo call outcomes', () => {
  let provider: CodecProvider;

  beforeAll(async () => {
    provider = await startCodecProvider({
      answer: (method, requestId) => {
        if (method === 'throws') return { bytes: encodeResponse({ requestId, exception: thrown }) };
        if (method === 'throwsWithAttachments') return { bytes: encodeResponse({ requestId, exception: thrown, attachments: { trace: 't1' } }) };
        if (method === 'busy') return { bytes: encodeResponse({ requestId, status: 100, errorMessage: 'thread pool is exhausted' }) };
        if (method === 'slow') return { bytes: encodeResponse({ requestId, value: 'late' }), delayMs: 1500 };
        return { bytes: encodeResponse({ requestId, value: 'fine' }) };
      },
    });
  });
  afterAll(async () => provider?.close());

  it('counts a status-20 exception result as an application exception: an error in stats, never an ejection', async () => {
    const { metrics, gateway, client, done } = await bridgeOver(provider.port);
    try {
      for (let i = 0; i < 20; i++) {
        const reply = await client.call({ path: IFACE, method: i % 2 === 0 ? 'throws' : 'throwsWithAttachments' });
        expect(reply).toMatchObject({ status: 20, kind: 'exception' });
      }
      expect((await client.call({ path: IFACE, method: 'fine' })).value).toBe('fine');
      expect(await metricValue(metrics, 'mesh_bridge_requests_total', { outcome: 'error' })).toBe(20);
      expect(await metricValue(metrics, 'mesh_bridge_dubbo_upstream_failures_total', { reason: 'application_exception' })).toBe(20);
      expect(gateway.routes.outliers.isEjected(provider.address, Date.now())).toBe(false);
    } finally {
      await done();
    }
  });

  it('counts status 100 from a provider as upstream_overloaded and passes it on', async () => {
    const { metrics, client, done } = await bridgeOver(provider.port);
    try {
      expect((await client.call({ path: IFACE, method: 'busy' })).status).toBe(100);
      expect(await metricValue(metrics, 'mesh_bridge_dubbo_upstream_failures_total', { reason: 'upstream_overloaded' })).toBe(1);
      expect(await metricValue(metrics, 'mesh_bridge_requests_total', { outcome: 'error' })).toBe(1);
    } finally {
      await done();
    }
  });

  it("counts sofa-rpc-node's business exceptions (status 80, a string body) as application exceptions", async () => {
    const sofa: SofaProvider = await startSofaProvider({
      interface: IFACE,
      version: '1.0.0',
      register: false,
      methods: {
        place: async () => {
          throw new Error('out of stock');
        },
      },
    });
    const { metrics, gateway, client, done } = await bridgeOver(sofa.port, '1.0.0');
    try {
      for (let i = 0; i < 10; i++) {
        const reply = await client.call({ path: IFACE, version: '1.0.0', method: 'place', parameterTypes: 'Ljava/lang/String;', args: ['x'] });
        expect(reply.status).toBe(80);
        expect(reply.errorMessage).toContain('out of stock');
      }
      expect(await metricValue(metrics, 'mesh_bridge_dubbo_upstream_failures_total', { reason: 'application_exception' })).toBe(10);
      expect(gateway.routes.outliers.isEjected(sofa.address, Date.now())).toBe(false);
    } finally {
      await done();
      await sofa.stop();
    }
  });

  it('never counts impatient consumers against a slow but healthy provider', async () => {
    // The bridge gives up after 500 ms; the provider answers after 1.5 s; the consumers hang up after 100 ms.
    const { metrics, gateway, done } = await bridgeOver(provider.port, '', 500);
    try {
      for (let round = 0; round < 3; round++) {
        const impatient = await Promise.all(Array.from({ length: 5 }, () => RawDubboClient.connect(gateway.listener.address.port)));
        for (const client of impatient) void client.call({ path: IFACE, method: 'slow' }).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 100));
        for (const client of impatient) client.close();
      }
      await waitFor('the hang-ups to be counted', async () => (await metricValue(metrics, 'mesh_bridge_dubbo_upstream_failures_total', { reason: 'caller_gone' })) === 15);
      // Past the moment the bridge's own 500 ms deadline, and the provider's answers, would have landed.
      await new Promise((r) => setTimeout(r, 1800));
      expect(await metricValue(metrics, 'mesh_bridge_requests_total', { outcome: 'error' })).toBe(0);
      expect(await metricValue(metrics, 'mesh_bridge_dubbo_upstream_failures_total', { reason: 'response_timeout' })).toBe(0);
      expect(gateway.routes.outliers.isEjected(provider.address, Date.now())).toBe(false);
      const patient = await RawDubboClient.connect(gateway.listener.address.port);
      expect((await patient.call({ path: IFACE, method: 'fine' })).value).toBe('fine');
      patient.close();
      expect(gateway.listener.pendingOf(provider.address)).toBe(0);
    } finally {
      await done();
    }
  });
});
