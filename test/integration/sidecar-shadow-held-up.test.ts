// The HTTP mirror's deadline for a copy judges the copy only after reading what the other stack
// already sent: a timer runs before the reads waiting in the kernel, so after the event loop was
// held up (a long garbage collection) a copy answered in time looked late. The mirror and the
// other stack's server run in this process, so holding up the server holds up the mirror.
import { Server, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { Catalog, instanceDefaults } from '../../src/catalog';
import { HttpMirror } from '../../src/proxy/mirror/http-mirror';
import { shadowConfigSchema } from '../../src/proxy/mirror/mirror-config';
import { Shadow } from '../../src/proxy/mirror/shadow';
import { ServiceRoutes } from '../../src/proxy/router/service-routes';
import { StackWeights } from '../../src/proxy/router/stack-weights';
import { Registry } from '../../src/telemetry/metrics';
import { holdUpEventLoop } from '../support/dubbo-codec-provider';
import { waitFor } from '../support/wait';

describe('HTTP mirror deadline after a held-up event loop', () => {
  let mesh: Server;
  afterEach(async () => {
    if (mesh?.listening) await new Promise((done) => mesh.close(done));
  });

  it("compares a copy whose answer arrived before the copy's deadline though the loop was held up past it", async () => {
    // Answered 100 ms into a 300 ms deadline; then the process is held up until well past it.
    mesh = createServer((_req, res) => {
      setTimeout(() => {
        setImmediate(() => {
          res.end('{"id":1}');
          holdUpEventLoop(700);
        });
      }, 100);
    });
    await new Promise<void>((done) => mesh.listen(0, '127.0.0.1', done));
    const port = (mesh.address() as AddressInfo).port;
    const catalog = new Catalog();
    catalog.replaceSource('static', 'USERS', [{ ...instanceDefaults(), id: `127.0.0.1:${port}`, service: 'USERS', protocol: 'http', host: '127.0.0.1', port, stack: 'mesh', origin: { source: 'static' } }]);
    const routes = new ServiceRoutes(catalog, new StackWeights(), () => 0, 'http');
    const shadow = new Shadow(new Registry(), shadowConfigSchema.parse({ timeoutMs: 300, http: [{ service: 'USERS' }] }));
    const mirror = new HttpMirror(shadow, routes);
    try {
      const call = mirror.start('USERS', 'GET', 'GET /users/1 HTTP/1.1\r\nHost: users\r\n\r\n', 'legacy', null, true);
      expect(call).toBeDefined();
      call?.primaryHead(200, []);
      call?.primaryBody(Buffer.from('{"id":1}'));
      call?.primaryEnded('ok');
      const row = () => (shadow.report.toJSON().methods as Array<Record<string, unknown>>).find((r) => r.method === 'GET');
      await waitFor('the copy to be judged', () => row()?.compared === 1 || row()?.shadowErrors === 1, 10_000);
      expect(row()).toMatchObject({ compared: 1, matched: 1, shadowErrors: 0 });
    } finally {
      shadow.close();
      routes.close();
    }
  });
});
