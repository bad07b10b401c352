// What a filter keeps for callers it does not control stays small: a hot-parameter rate limit keyed
// on a header keeps one bucket per value, up to maxKeys, and a caller sending long distinct values
// must not make the process hold maxKeys times the value's size. Real callers, real listener.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
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
