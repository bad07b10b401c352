// Authorization by the caller's claimed identity, seen from real callers: an apache-dubbo-js consumer
// calling a sofa-rpc-node app through the sidecar's Dubbo inbound stack names its application in the
// `application` attachment; node:http callers name theirs in a header the config chooses. Every
// denial says the identity was unverified: in the message, the metric label and the access log.
// The identity source is the chain's: a rate limit's or a degradation's match.callerApp reads the
// header authz reads, and the access log says which kind of local answer a call got.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, Server, createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { DubboJsConsumer, SofaProvider, java, registerProvider, startDubboJsConsumer, startSofaProvider } from '../support/dubbo-peers';
import { SidecarChild, adminJson, startSidecar } from '../support/sidecar-child';
import { waitFor } from '../support/wait';
import { ZookeeperServer } from '../support/zookeeper';

const IFACE = 'com.example.demo.LedgerService';
const VERSION = '1.0.0';

function httpCall(port: number, headers: Record<string, string>, agent: Agent): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, path: '/ledger', headers: { host: 'ledger', ...headers }, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', fail);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', fail);
    req.end();
  });
}

describe('mesh-bridge sidecar: authz by claimed identity, seen from real callers', () => {
  let dir: string;
  let provider: SofaProvider;
  let app: Server;
  let sidecar: SidecarChild;
  let zk: ZookeeperServer;
  let registration: { unregister(): Promise<void> } | undefined;
  const consumers: DubboJsConsumer[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: 2 });
  const authzRules = [
    { name: 'no-batch-jobs', deny: { apps: ['batch-jobs'] } },
    { name: 'known-callers', allow: { apps: ['web', 'batch-jobs'] } },
  ];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sidecar-identity-'));
    provider = await startSofaProvider({ interface: IFACE, version: VERSION, register: false, methods: { balance: async (id: unknown) => `balance:${String(id)}` } });
    app = createServer((req, res) => {
      req.resume();
      res.end('ledger app');
    });
    await new Promise<void>((done) => app.listen(0, '127.0.0.1', done));
    const file = join(dir, 'sidecar.yaml');
    writeFileSync(
      file,
      stringify({
        app: 'ledger',
        log: { level: 'info' },
        admin: { listen: '127.0.0.1:0' },
        inbound: {
          listen: '127.0.0.1:0',
          app: `127.0.0.1:${(app.address() as { port: number }).port}`,
          filters: [
            { name: 'access-log', config: { sample: 1, identity: { header: 'x-app-name' } } },
            { name: 'authz', config: { identity: { header: 'X-App-Name' }, rules: authzRules } },
            { name: 'rate-limit', config: { rules: [{ name: 'web-bursts', match: { callerApp: 'web', attributes: { 'x-burst': 'yes' } }, perSecond: 0.001, burst: 1 }] } },
            { name: 'degrade', config: { rules: [{ name: 'web-fallback', mode: 'force', match: { callerApp: 'web', attributes: { 'x-degrade': 'yes' } }, answer: { type: 'http', status: 200, body: 'fallback ledger' } }] } },
          ],
        },
        dubbo: {
          inbound: {
            listen: '127.0.0.1:0',
            app: `127.0.0.1:${provider.port}`,
            filters: [{ name: 'access-log', config: { sample: 1 } }, { name: 'authz', config: { rules: authzRules } }],
          },
        },
      }),
    );
    sidecar = await startSidecar(file);
    zk = await ZookeeperServer.start();
    registration = await registerProvider(zk.connectString, { interface: IFACE, version: VERSION, port: sidecar.ports['dubbo.inbound'], methods: ['balance'], application: 'ledger-sidecar' });
    // apache-dubbo-js sends its configured application name as the `application` attachment.
    for (const application of ['web', 'batch-jobs']) consumers.push(await startDubboJsConsumer({ zk: zk.connectString, interface: IFACE, version: VERSION, methods: ['balance'], application }));
  }, 90_000);

  afterAll(async () => {
    agent.destroy();
    for (const consumer of consumers) await consumer.stop();
    await registration?.unregister();
    await zk?.destroy();
    await sidecar?.stop();
    await provider?.stop();
    if (app) {
      app.closeAllConnections();
      await new Promise<void>((done) => app.close(() => done()));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('denies an apache-dubbo-js consumer by the application it names, saying it was unverified, and admits another', async () => {
    const [web, batch] = consumers;
    expect(await web.call('balance', [java.String('a-1')])).toMatchObject({ err: null, res: 'balance:a-1' });
    const denied = await batch.call('balance', [java.String('a-2')]);
    expect(denied.res).toBeNull();
    expect(String(denied.err?.message)).toContain('application "batch-jobs" (unverified) from 127.0.0.1 is denied by no-batch-jobs');
    const metrics = String((await adminJson(sidecar, '/metrics')).text);
    expect(metrics).toContain('mesh_sidecar_authz_denied_total{stack="dubbo.inbound",rule="no-batch-jobs",identity="unverified"} 1');
    await waitFor('the access log line of the denied call', () => /"callerApp":"batch-jobs","callerIdentity":"unverified","outcome":"bridge_refusal"/.test(sidecar.output()));
  });

  it('reads an HTTP caller identity from the configured header only, and counts a caller naming none apart', async () => {
    expect(await httpCall(sidecar.inbound, { 'x-app-name': 'web' }, agent)).toMatchObject({ status: 200, body: 'ledger app' });
    const denied = await httpCall(sidecar.inbound, { 'x-app-name': 'batch-jobs' }, agent);
    expect(denied.status).toBe(403);
    expect(denied.body).toContain('application \\"batch-jobs\\" (unverified) from 127.0.0.1 is denied by no-batch-jobs');
    // The default header is not the configured one: this caller named no application.
    const unnamed = await httpCall(sidecar.inbound, { 'x-caller-app': 'web' }, agent);
    expect(unnamed.status).toBe(403);
    expect(unnamed.body).toContain('a caller naming no application from 127.0.0.1 is not allowed by known-callers');
    const metrics = String((await adminJson(sidecar, '/metrics')).text);
    expect(metrics).toContain('mesh_sidecar_authz_denied_total{stack="inbound",rule="no-batch-jobs",identity="unverified"} 1');
    expect(metrics).toContain('mesh_sidecar_authz_denied_total{stack="inbound",rule="known-callers",identity="none"} 1');
    await waitFor('the access log line of the unnamed caller', () => /"protocol":"http".*"callerIdentity":"none","outcome":"bridge_refusal"/.test(sidecar.output()));
  });

  it("reads every rule's match.callerApp from the chain's identity source, and logs which kind of local answer a call got", async () => {
    // The rate limit and the degradation name the caller by the header authz reads (x-app-name).
    expect((await httpCall(sidecar.inbound, { 'x-app-name': 'web', 'x-burst': 'yes' }, agent)).status).toBe(200);
    expect((await httpCall(sidecar.inbound, { 'x-app-name': 'web', 'x-burst': 'yes' }, agent)).status).toBe(429);
    expect(await httpCall(sidecar.inbound, { 'x-app-name': 'web', 'x-degrade': 'yes' }, agent)).toMatchObject({ status: 200, body: 'fallback ledger' });
    // The listener's default header names nobody here: the rules do not apply.
    expect(await httpCall(sidecar.inbound, { 'x-app-name': 'batch-jobs', 'x-caller-app': 'web', 'x-degrade': 'yes' }, agent)).toMatchObject({ status: 403 });
    await waitFor('the access log lines of the limited and the degraded calls', () => {
      const out = sidecar.output();
      return /"callerApp":"web","callerIdentity":"unverified","outcome":"bridge_refusal","refusal":"rate_limited"/.test(out) && /"callerApp":"web","callerIdentity":"unverified","outcome":"bridge_refusal","refusal":"degraded"/.test(out);
    });
    expect(sidecar.output()).not.toMatch(/"outcome":"ok","refusal"/);
  });
});
