// Filter config as operators write it: a rule naming an HTTP app in another case than the catalog's
// (Eureka upper-cases app names) still applies, seen from a real caller; values that would make a
// filter do something else than it says (an allow-list of every address, a bucket no call can
// pass, a slow-call rule without its threshold, two identity sources) are refused by --check with
// their key paths.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { buildFilterChain } from '../../src/proxy/filters';
import { silentLogger } from '../../src/telemetry/logger';
import { Registry } from '../../src/telemetry/metrics';
import { gatewayTo, okResponse, rawCaller, rawUpstream } from '../support/http-raw';
import { waitFor } from '../support/wait';

describe('filter config as written', () => {
  it('applies a rule naming an HTTP app in lower case to the app Eureka knows in upper case', async () => {
    const upstream = await rawUpstream(() => okResponse('fine'));
    const filters = buildFilterChain([{ name: 'authz', config: { rules: [{ name: 'no-batch', match: { service: 'greeting-service' }, deny: { apps: ['batch'] } }] } }], {
      logger: silentLogger(),
      metrics: new Registry(),
    });
    const gateway = await gatewayTo([upstream.port], { filters });
    try {
      const caller = await rawCaller(gateway.listener.address.port);
      caller.socket.write('GET /a HTTP/1.1\r\nHost: greeting-service\r\nX-Caller-App: batch\r\n\r\nGET /b HTTP/1.1\r\nHost: greeting-service\r\nX-Caller-App: web\r\n\r\n');
      await waitFor('two answers', () => caller.reader.responses.length === 2);
      expect(caller.reader.responses.map((r) => r.status)).toEqual([403, 200]);
      expect(upstream.requests.map((r) => r.url)).toEqual(['/b']);
      caller.socket.destroy();
    } finally {
      await gateway.stop();
      await upstream.close();
    }
  });

  it('opens an HTTP breaker kept per method on errors from paths that differ only by an id', async () => {
    const upstream = await rawUpstream(() => 'HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\ndown');
    const filters = buildFilterChain([{ name: 'circuit-breaker', config: { rules: [{ name: 'orders', match: { method: 'GET /orders/' }, errorCount: 3, openMs: 60_000 }] } }], {
      logger: silentLogger(),
      metrics: new Registry(),
    });
    const gateway = await gatewayTo([upstream.port], { filters });
    try {
      const caller = await rawCaller(gateway.listener.address.port);
      for (const [i, path] of ['/orders/1', '/orders/2?full=1', '/orders/3', '/orders/4'].entries()) {
        caller.socket.write(`GET ${path} HTTP/1.1\r\nHost: greeting-service\r\n\r\n`);
        await waitFor(`the answer to ${path}`, () => caller.reader.responses.length === i + 1);
      }
      expect(caller.reader.responses.map((r) => r.status)).toEqual([500, 500, 500, 503]);
      expect(caller.reader.responses[3].headers['x-mesh-bridge-error']).toBe('HTTP_CIRCUIT_OPEN');
      caller.socket.destroy();
    } finally {
      await gateway.stop();
      await upstream.close();
    }
  });

  it('--check refuses values a filter would not do what it says with, each with its key path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'filters-config-'));
    try {
      const file = join(dir, 'bad.yaml');
      writeFileSync(
        file,
        stringify({
          app: 'orders',
          admin: { listen: '127.0.0.1:0' },
          outbound: {
            listen: '127.0.0.1:0',
            filters: [
              { name: 'authz', config: { identity: { header: 'x-app' }, rules: [{ allow: { addresses: ['10.0.0.0/'] } }] } },
              { name: 'rate-limit', config: { rules: [{ perSecond: 5, burst: 0.5 }] } },
              { name: 'circuit-breaker', config: { rules: [{ errorRatio: 0.5, slowCallRatio: 0.5 }] } },
              { name: 'access-log', config: { identity: { header: 'x-caller' } } },
            ],
            services: [{ name: 'stock', legacy: ['127.0.0.1:1'] }],
          },
        }),
      );
      const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'sidecar', '--config', file, '--check'], { cwd: resolve(__dirname, '../..'), encoding: 'utf8', timeout: 30_000 });
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(`${file}: 4 problems`);
      expect(run.stderr).toContain('outbound.filters[0].config.rules[0].allow.addresses[0]: expected an address or CIDR range');
      expect(run.stderr).toContain('outbound.filters[1].config.rules[0].burst: Too small: expected number to be >=1');
      expect(run.stderr).toContain('outbound.filters[2].config.rules[0].slowCallRatio: slowCallMs and slowCallRatio go together');
      expect(run.stderr).toContain('outbound.filters[3].config.identity: {"header":"x-caller"} differs from outbound.filters[0].config.identity');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('HTTP header names in rules', () => {
  it('match a header named in any case, as HTTP compares them', async () => {
    const upstream = await rawUpstream(() => okResponse('fine'));
    const filters = buildFilterChain([{ name: 'authz', config: { rules: [{ name: 'no-tests', match: { attributes: { 'X-Env': 'test' } }, deny: { addresses: ['0.0.0.0/0'] } }] } }], {
      logger: silentLogger(),
      metrics: new Registry(),
    });
    const gateway = await gatewayTo([upstream.port], { filters });
    try {
      const caller = await rawCaller(gateway.listener.address.port);
      caller.socket.write('GET /a HTTP/1.1\r\nHost: greeting-service\r\nx-env: test\r\n\r\nGET /b HTTP/1.1\r\nHost: greeting-service\r\nX-ENV: prod\r\n\r\n');
      await waitFor('two answers', () => caller.reader.responses.length === 2);
      expect(caller.reader.responses.map((r) => r.status)).toEqual([403, 200]);
      caller.socket.destroy();
    } finally {
      await gateway.stop();
      await upstream.close();
    }
  });
});
