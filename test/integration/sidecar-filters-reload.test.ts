// Filter counters across a reload, as Prometheus sees them: a reload replaces the filter objects,
// which count from zero; what the retired ones counted since the last scrape must still reach the
// totals (a counter never goes down and never loses what happened). The sidecar in a process of
// its own, a real upstream, node:http callers, SIGHUP.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, Server, createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { SwappableFilterChain } from '../../src/mesh-sidecar/swappable-chain';
import { FilterChain, buildFilterChain } from '../../src/proxy/filters';
import { silentLogger } from '../../src/telemetry/logger';
import { Registry } from '../../src/telemetry/metrics';
import { gatewayTo, okResponse, rawCaller, rawUpstream } from '../support/http-raw';
import { SidecarChild, adminJson, startSidecar } from '../support/sidecar-child';
import { waitFor } from '../support/wait';

function status(port: number, agent: Agent): Promise<number> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host: 'stock' }, agent }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', fail);
    req.end();
  });
}

function config(upstreamPort: number, ruleName: string): Record<string, unknown> {
  return {
    app: 'orders',
    admin: { listen: '127.0.0.1:0' },
    outbound: {
      listen: '127.0.0.1:0',
      filters: [
        { name: 'rate-limit', config: { rules: [{ name: ruleName, match: { service: 'stock' }, perSecond: 0.001, burst: 1 }] } },
        { name: 'degrade', config: { rules: [{ name: 'stock-off', mode: 'force', match: { service: 'stock', method: 'GET /off' }, answer: { type: 'null' } }] } },
      ],
      services: [{ name: 'stock', legacy: [`127.0.0.1:${upstreamPort}`] }],
    },
  };
}

describe('mesh-bridge sidecar: filter counters across reloads', () => {
  let dir: string;
  let upstream: Server;
  let sidecar: SidecarChild;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sidecar-reload-'));
    upstream = createServer((req, res) => {
      req.resume();
      res.end('stock');
    });
    await new Promise<void>((done) => upstream.listen(0, '127.0.0.1', done));
  });

  afterAll(async () => {
    agent.destroy();
    await sidecar?.stop();
    upstream.closeAllConnections();
    await new Promise<void>((done) => upstream.close(() => done()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('skips a chain while a reload left it empty, and applies the filters a later reload brings', async () => {
    const upstream = await rawUpstream(() => okResponse('fine'));
    const chain = new SwappableFilterChain(new FilterChain([]));
    const gateway = await gatewayTo([upstream.port], { filters: chain });
    try {
      const caller = await rawCaller(gateway.listener.address.port);
      const ask = async (n: number): Promise<number> => {
        caller.socket.write('GET / HTTP/1.1\r\nHost: greeting-service\r\nX-Caller-App: batch\r\n\r\n');
        await waitFor('an answer', () => caller.reader.responses.length === n);
        return caller.reader.responses[n - 1].status;
      };
      expect(await ask(1)).toBe(200);
      chain.swap(buildFilterChain([{ name: 'authz', config: { rules: [{ deny: { apps: ['batch'] } }] } }], { logger: silentLogger(), metrics: new Registry() }));
      expect(await ask(2)).toBe(403);
      chain.swap(new FilterChain([]));
      expect(await ask(3)).toBe(200);
      caller.socket.destroy();
    } finally {
      await gateway.stop();
      await upstream.close();
    }
  });

  it('keeps the refusals the replaced filters counted since the last scrape', async () => {
    const file = join(dir, 'sidecar.yaml');
    const port = (upstream.address() as { port: number }).port;
    writeFileSync(file, stringify(config(port, 'first')));
    sidecar = await startSidecar(file);
    const metric = async (): Promise<string> => String((await adminJson(sidecar, '/metrics')).text);
    expect(await status(sidecar.outbound, agent)).toBe(200);
    expect(await status(sidecar.outbound, agent)).toBe(429);
    // Scraped once: the first refusal is in.
    expect(await metric()).toContain('mesh_sidecar_filter_refusals_total{stack="outbound",filter="rate-limit"} 1');
    expect(await status(sidecar.outbound, agent)).toBe(429);
    expect(await status(sidecar.outbound, agent)).toBe(429);
    // Reloaded twice before the next scrape: the filters that refused these are gone by then.
    for (const name of ['second', 'third']) {
      writeFileSync(file, stringify(config(port, name)));
      sidecar.child.kill('SIGHUP');
      await waitFor(`the reload to ${name}`, async () => JSON.stringify((await adminJson(sidecar, '/status')).lastReload).includes('"outcome":"applied"') && JSON.stringify(await adminJson(sidecar, '/status')).includes(`"${name}"`));
      expect(await status(sidecar.outbound, agent)).toBe(200);
      expect(await status(sidecar.outbound, agent)).toBe(429);
    }
    const text = await metric();
    expect(text).toContain('mesh_sidecar_filter_refusals_total{stack="outbound",filter="rate-limit"} 5');
    // Scraped again: nothing counted twice.
    expect(await metric()).toContain('mesh_sidecar_filter_refusals_total{stack="outbound",filter="rate-limit"} 5');
  });
});
