// The filter chain seam of the Dubbo path: filters see each request before routing, may answer it
// (in Dubbo's own form), hold and resume it, and see how each call ended.
import { Catalog, instanceDefaults } from '../../src/catalog';
import { encodeResponse } from '../../src/dubbo-codec';
import type { Outcome } from '../../src/proxy/failure-class';
import type { Filter, FilterContext, ProxyRequest } from '../../src/proxy/filters/filter';
import { FilterChain } from '../../src/proxy/filters/filter-chain';
import { RawDubboClient } from '../support/dubbo-client';
import { CodecProvider, startCodecProvider } from '../support/dubbo-codec-provider';
import { dubboGateway } from '../support/gateway';

const IFACE = 'com.example.demo.AccountService';

describe('Dubbo filter chain', () => {
  let provider: CodecProvider;
  beforeAll(async () => {
    provider = await startCodecProvider({
      answer: (method, requestId) =>
        method === 'throws' ? { bytes: encodeResponse({ requestId, exception: new Error('closed account') }) } : { bytes: encodeResponse({ requestId, value: method }) },
    });
  });
  afterAll(async () => provider?.close());

  it('lets filters answer, hold and resume requests, and tells them how each call ended', async () => {
    const seen: Array<{ method: string; app: string | undefined; outcome: Outcome }> = [];
    const deny: Filter = {
      name: 'deny-secret',
      onRequest: (request) => (request.method === 'secret' ? { outcome: 'bridge_refusal', refusal: 'denied', message: 'secret is not for you' } : undefined),
    };
    const hold: Filter = {
      name: 'hold-slowly',
      onRequest: (request: ProxyRequest, _now: number, context: FilterContext) => {
        if (request.method !== 'held') return undefined;
        setTimeout(() => context.resume(), 50);
        return 'held';
      },
      onComplete: (request, outcome) => seen.push({ method: request.method, app: request.callerApp(), outcome }),
    };
    const catalog = new Catalog();
    catalog.replaceSource('static', IFACE, [{ ...instanceDefaults(), id: provider.address, service: IFACE, protocol: 'dubbo', host: '127.0.0.1', port: provider.port, stack: 'legacy', origin: { source: 'static' } }]);
    const gateway = dubboGateway(catalog, { filters: new FilterChain([deny, hold]), policy: () => ({ idempotentMethods: new Set(), retries: 0, timeoutMs: 3000 }) });
    await gateway.listener.start();
    const client = await RawDubboClient.connect(gateway.listener.address.port);
    try {
      const denied = await client.call({ path: IFACE, method: 'secret' });
      expect(denied.status).toBe(70);
      expect(denied.errorMessage).toBe('secret is not for you');
      expect(provider.requests()).toBe(0);
      const started = Date.now();
      expect((await client.call({ path: IFACE, method: 'held', attachments: { application: 'teller' } })).value).toBe('held');
      expect(Date.now() - started).toBeGreaterThanOrEqual(45);
      expect((await client.call({ path: IFACE, method: 'throws' })).kind).toBe('exception');
      expect(seen).toEqual([
        { method: 'secret', app: undefined, outcome: 'bridge_refusal' },
        { method: 'held', app: 'teller', outcome: 'ok' },
        { method: 'throws', app: undefined, outcome: 'application_exception' },
      ]);
    } finally {
      client.close();
      await gateway.stop();
    }
  });
});
