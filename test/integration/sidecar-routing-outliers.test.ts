// Outlier detection in the sidecar, seen from a real apache-dubbo-js consumer: of two sofa-rpc-node
// providers, one starts breaking every connection; after the configured run of failures it is
// ejected (its calls retried elsewhere meanwhile, so the caller sees success), every call goes to
// the other, /status and /metrics show it; once it is healthy and its ejection ends, it takes calls
// again. When both fail, both are ejected but only one (the capped share) is routed around.
import { Server, Socket, connect, createServer } from 'node:net';
import { SofaProvider, java, startSofaProvider } from '../support/dubbo-peers';
import { adminJson } from '../support/sidecar-child';
import { SidecarDubboLab, startSidecarDubboLab } from '../support/sidecar-dubbo-lab';
import { waitFor } from '../support/wait';

const IFACE = 'com.example.demo.InventoryService';
const VERSION = '1.0.0';

/** A relay to a provider that, while `failing`, resets every connection as soon as bytes arrive. */
async function switchableRelay(targetPort: number): Promise<{ port: number; setFailing(on: boolean): void; close(): Promise<void> }> {
  let failing = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    if (failing) {
      client.once('data', () => client.resetAndDestroy());
      return;
    }
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => undefined);
    client.on('close', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    port: (server.address() as { port: number }).port,
    setFailing(on) {
      failing = on;
      if (on) for (const socket of sockets) socket.resetAndDestroy();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

describe('mesh-bridge sidecar: outlier detection per upstream set', () => {
  const providers: SofaProvider[] = [];
  let relay: Awaited<ReturnType<typeof switchableRelay>>;
  let steadyRelay: Awaited<ReturnType<typeof switchableRelay>>;
  let lab: SidecarDubboLab;

  beforeAll(async () => {
    for (const name of ['steady', 'flaky']) {
      providers.push(await startSofaProvider({ interface: IFACE, version: VERSION, methods: { who: async () => name }, register: false }));
    }
    steadyRelay = await switchableRelay(providers[0].port);
    relay = await switchableRelay(providers[1].port);
    lab = await startSidecarDubboLab(
      {
        app: 'shop',
        admin: { listen: '127.0.0.1:0' },
        dubbo: {
          outbound: {
            listen: '127.0.0.1:0',
            outlierDetection: { consecutiveGatewayFailures: 3, baseEjectionMs: 3000, successRate: null },
            services: [{ name: IFACE, legacy: [`127.0.0.1:${steadyRelay.port}`, `127.0.0.1:${relay.port}`], methods: { who: { idempotent: true } } }],
          },
        },
      },
      { interface: IFACE, version: VERSION, methods: ['who'] },
    );
  }, 90_000);

  afterAll(async () => {
    await lab?.stop();
    await relay?.close();
    await steadyRelay?.close();
    for (const p of providers) await p.stop();
  });

  const who = async (): Promise<string> => {
    const { err, res } = await lab.consumer.call<string>('who', [java.String('x')]);
    if (err !== null) throw err;
    return String(res);
  };
  const ejected = async (): Promise<Record<string, { ejected: string[]; routedAround: string[] }>> => {
    const status = (await adminJson(lab.sidecar, '/status')) as { stacks: Record<string, { ejectedByService: Record<string, { ejected: string[]; routedAround: string[] }> }> };
    return status.stacks['dubbo.outbound'].ejectedByService;
  };
  const gauge = 'stack="dubbo.outbound",service="com.example.demo.InventoryService"';

  it('ejects the provider that keeps failing, sends everything to the other, and takes it back once healthy', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < 2; i++) seen.add(await who());
    expect(seen).toEqual(new Set(['steady', 'flaky']));

    relay.setFailing(true);
    // Its calls are retried on the steady provider: the caller sees no failure while it is being ejected.
    await waitFor(
      'the failing provider to be ejected',
      async () => {
        expect(await who()).toBe('steady');
        return (await ejected())[IFACE]?.ejected.length === 1;
      },
      15_000,
    );
    expect((await ejected())[IFACE]).toEqual({ ejected: [`127.0.0.1:${relay.port}`], routedAround: [`127.0.0.1:${relay.port}`] });
    expect(await lab.metric('mesh_sidecar_outlier_ejected_instances', gauge)).toBe(1);
    expect(await lab.metric('mesh_sidecar_outlier_ejections_total', 'stack="dubbo.outbound"')).toBe(1);
    for (let i = 0; i < 10; i++) expect(await who()).toBe('steady');

    relay.setFailing(false);
    await waitFor('the ejection to end', async () => (await ejected())[IFACE] === undefined, 15_000);
    expect(await lab.metric('mesh_sidecar_outlier_ejected_instances', gauge)).toBe(0);
    const back = new Set<string>();
    for (let i = 0; i < 40 && back.size < 2; i++) back.add(await who());
    expect(back).toEqual(new Set(['steady', 'flaky']));
  });

  it('routes around at most its share of a set (10 %, but one) even when every instance is ejected', async () => {
    relay.setFailing(true);
    steadyRelay.setFailing(true);
    try {
      await waitFor(
        'both providers to be ejected',
        async () => {
          await lab.consumer.call('who', [java.String('x')]); // fails: nothing healthy is left
          return (await ejected())[IFACE]?.ejected.length === 2;
        },
        20_000,
      );
      const { routedAround } = (await ejected())[IFACE];
      expect(routedAround).toHaveLength(1);
      expect(await lab.metric('mesh_sidecar_outlier_ejected_instances', gauge)).toBe(2);
    } finally {
      relay.setFailing(false);
      steadyRelay.setFailing(false);
    }
  });
});
