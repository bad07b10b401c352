// The Dubbo mirror against a provider of the other stack that says READONLY (it is shutting down)
// and then answers nothing more, with the connection left open: the copies already on that
// connection must still end at their deadline (a shadow error), so their in-flight slots come
// back, while new copies go on a new connection. Real sockets, the mirror as the sidecar wires it.
import { Server, Socket, createServer } from 'node:net';
import { Catalog, instanceDefaults } from '../../src/catalog';
import { Frame, FrameDecoder, encodeRequest, encodeResponse, readRoutingView } from '../../src/dubbo-codec';
import { encodeReadonlyEvent } from '../../src/proxy/dubbo/readonly-event';
import { DubboMirror } from '../../src/proxy/mirror/dubbo-mirror';
import { shadowConfigSchema } from '../../src/proxy/mirror/mirror-config';
import { Shadow } from '../../src/proxy/mirror/shadow';
import { ServiceRoutes } from '../../src/proxy/router/service-routes';
import { StackWeights } from '../../src/proxy/router/stack-weights';
import { Registry, metricValue } from '../../src/telemetry/metrics';
import { waitFor } from '../support/wait';

const IFACE = 'com.example.demo.RatesService';

function frameOf(bytes: Buffer): Frame {
  let out: Frame | undefined;
  new FrameDecoder().push(bytes, (frame) => (out = frame));
  return out as Frame;
}

describe('Dubbo mirror: a provider that says READONLY and goes silent', () => {
  let server: Server;
  const sockets = new Set<Socket>();
  let readonlySent = 0;

  beforeAll(async () => {
    // Answers `ping`; to `hang` it answers nothing and says READONLY, keeping the connection open.
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
      const decoder = new FrameDecoder();
      socket.on('data', (chunk) =>
        decoder.push(chunk, (frame) => {
          if (!frame.header.isRequest || frame.header.event) return;
          const method = readRoutingView(frame.body).method;
          if (method === 'hang') {
            readonlySent++;
            socket.write(encodeReadonlyEvent(BigInt(1000 + readonlySent)));
          } else socket.write(encodeResponse({ requestId: frame.header.requestId, value: method }));
        }),
      );
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((done) => server.close(done));
  });

  it('ends the copies left on the READONLY connection at their deadline and gives their slots back', async () => {
    const port = (server.address() as { port: number }).port;
    const catalog = new Catalog();
    catalog.replaceSource('static', IFACE, [{ ...instanceDefaults(), id: `127.0.0.1:${port}`, service: IFACE, protocol: 'dubbo', host: '127.0.0.1', port, stack: 'mesh', origin: { source: 'static' } }]);
    const routes = new ServiceRoutes(catalog, new StackWeights(), () => 0, 'dubbo');
    const metrics = new Registry();
    const shadow = new Shadow(metrics, shadowConfigSchema.parse({ timeoutMs: 300, dubbo: [{ service: IFACE, mirrorWrites: true }] }));
    const mirror = new DubboMirror(shadow, routes);
    const row = (method: string): Record<string, unknown> | undefined => (shadow.report.toJSON().methods as Array<Record<string, unknown>>).find((r) => r.method === method);
    const mirrorOnce = (method: string, id: bigint): void => {
      const call = mirror.start(IFACE, '', '', method, frameOf(encodeRequest({ requestId: id, path: IFACE, method, parameterTypes: '', args: [] })), 'legacy');
      expect(call).toBeDefined();
      call?.primaryAnswered(encodeResponse({ requestId: id, value: method }));
      call?.primaryEnded('ok');
    };
    try {
      mirrorOnce('hang', 1n);
      await waitFor('the provider to say READONLY', () => readonlySent === 1);
      // The next copy goes on a new connection and is compared.
      mirrorOnce('ping', 2n);
      await waitFor('the ping copy to be compared', () => row('ping')?.matched === 1);
      await waitFor('the copy left on the READONLY connection to end at its deadline', () => row('hang')?.shadowErrors === 1, 5000);
      expect(String(row('hang')?.lastError)).toContain('did not answer in time');
      expect(await metricValue(metrics, 'mesh_bridge_shadow_in_flight', {})).toBe(0);
    } finally {
      mirror.close();
      routes.close();
    }
  });
});
