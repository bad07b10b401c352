// What a filter keeps for callers it does not control stays small: a hot-parameter rate limit keyed
// on a header keeps one bucket per value, up to maxKeys, and a caller sending long distinct values
// must not make the process hold maxKeys times the value's size. Real callers, real listener.
import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pino from 'pino';
import { buildFilterChain } from '../../src/proxy/filters';
import { silentLogger } from '../../src/telemetry/logger';
import { Registry } from '../../src/telemetry/metrics';
import { gatewayTo, okResponse, rawCaller, rawUpstream } from '../support/http-raw';
import { waitFor } from '../support/wait';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe('filter state bounds', () => {
  it('keeps a hot-parameter key of any length in a bounded size: 2,000 distinct 8 KiB header values hold well under 2 MiB', async () => {
    const upstream = await rawUpstream(() => okResponse('fine'));
    const filters = buildFilterChain([{ name: 'rate-limit', config: { rules: [{ name: 'per-token', perSecond: 100, key: { attribute: 'x-token' } }] } }], {
      logger: silentLogger(),
      metrics: new Registry(),
    });
    const gateway = await gatewayTo([upstream.port], { filters });
    try {
      const before = heapAfterGc();
      const callers = await Promise.all([0, 1, 2, 3].map(() => rawCaller(gateway.listener.address.port)));
      const PER_CALLER = 500;
      const pad = 'x'.repeat(8 * 1024);
      for (let batch = 0; batch < PER_CALLER; batch += 50) {
        callers.forEach((caller, c) => {
          let requests = '';
          for (let i = batch; i < batch + 50; i++) requests += `GET /t HTTP/1.1\r\nHost: greeting-service\r\nX-Token: ${c}-${i}-${pad}\r\n\r\n`;
          caller.socket.write(requests);
        });
        await waitFor('the batch to be answered', () => callers.every((caller) => caller.reader.responses.length >= batch + 50), 30_000, 5);
      }
      expect(callers.every((caller) => caller.reader.responses.every((r) => r.status === 200))).toBe(true);
      for (const caller of callers) {
        caller.reader.responses.length = 0;
        caller.socket.destroy();
      }
      upstream.requests.length = 0;
      await Promise.all(callers.map((c) => c.closed));
      const grown = heapAfterGc() - before;
      expect(grown).toBeLessThan(2 * 1024 * 1024);
    } finally {
      await gateway.stop();
      await upstream.close();
    }
  });
});

describe('circuit breakers past maxBreakers', () => {
  it('keeps an open breaker while calls for other services churn through the bound', async () => {
    const upstream = await rawUpstream(() => 'HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\ndown');
    const filters = buildFilterChain([{ name: 'circuit-breaker', config: { maxBreakers: 2, rules: [{ name: 'any', per: 'service', errorCount: 1, openMs: 60_000 }] } }], {
      logger: silentLogger(),
      metrics: new Registry(),
    });
    const gateway = await gatewayTo([upstream.port], { filters });
    try {
      const caller = await rawCaller(gateway.listener.address.port);
      const ask = async (host: string): Promise<string> => {
        const n = caller.reader.responses.length + 1;
        caller.socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
        await waitFor(`the answer for ${host}`, () => caller.reader.responses.length === n);
        const r = caller.reader.responses[n - 1];
        return `${r.status} ${r.headers['x-mesh-bridge-error'] ?? ''}`.trim();
      };
      expect(await ask('greeting-service')).toBe('500');
      expect(await ask('greeting-service')).toBe('503 HTTP_CIRCUIT_OPEN');
      // Calls for services nobody serves each make a breaker of their own.
      for (const host of ['other-1', 'other-2', 'other-3', 'other-4']) expect(await ask(host)).toBe('503 HTTP_NO_INSTANCE');
      expect(await ask('greeting-service')).toBe('503 HTTP_CIRCUIT_OPEN');
      expect(upstream.requests).toHaveLength(1);
      caller.socket.destroy();
    } finally {
      await gateway.stop();
      await upstream.close();
    }
  });
});

describe('access log under a flood of failures', () => {
  it('writes at most maxLinesPerSecond lines and counts the rest', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }));
    const filters = buildFilterChain([{ name: 'access-log', config: { maxLinesPerSecond: 5 } }], { logger, metrics: new Registry() });
    // No instance anywhere: every call fails at once.
    const gateway = await gatewayTo([], { filters });
    try {
      const started = Date.now();
      const caller = await rawCaller(gateway.listener.address.port);
      caller.socket.write('GET / HTTP/1.1\r\nHost: greeting-service\r\n\r\n'.repeat(50));
      await waitFor('fifty answers', () => caller.reader.responses.length === 50);
      caller.socket.destroy();
      await new Promise((r) => setImmediate(r));
      const seconds = (Date.now() - started) / 1000;
      expect(lines.length).toBeLessThanOrEqual(5 + Math.ceil(seconds * 5));
      expect((filters.filters[0] as unknown as { suppressed: number }).suppressed).toBe(50 - lines.length);
      expect(JSON.parse(lines[0])).toMatchObject({ access: true, outcome: 'bridge_refusal', refusal: 'no_instance' });
    } finally {
      await gateway.stop();
    }
  });
});
