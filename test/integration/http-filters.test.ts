// The filter seam of the HTTP connection manager: filters see a protocol-neutral request before the
// router, may answer it (in HTTP's form), hold it and let it go, and see how it ended.
import type { Filter, FilterContext, ProxyRequest } from '../../src/proxy/filters/filter';
import { FilterChain } from '../../src/proxy/filters/filter-chain';
import type { Outcome } from '../../src/proxy/failure-class';
import { gatewayTo, okResponse, rawCaller, rawUpstream } from '../support/http-raw';
import { waitFor } from '../support/wait';

describe('HTTP listener filter chain', () => {
  it('lets filters answer, hold and watch requests before routing', async () => {
    const upstream = await rawUpstream((request) => okResponse(`answer ${request.url}`));
    const seen: string[] = [];
    const completed: Array<[string, Outcome]> = [];
    const deny: Filter = {
      name: 'deny',
      onRequest: (request: ProxyRequest) => {
        seen.push(`${request.protocol} ${request.service} ${request.method} caller=${request.callerApp()} x=${request.attribute('x-tag')}`);
        return request.method.includes('/forbidden') ? { outcome: 'bridge_refusal', refusal: 'denied', message: 'rule no-forbidden' } : undefined;
      },
      onComplete: (request, outcome) => void completed.push([request.method, outcome]),
    };
    const hold: Filter = {
      name: 'hold',
      onRequest: (request: ProxyRequest, _now: number, context: FilterContext) => {
        if (!request.method.includes('/later')) return undefined;
        setTimeout(() => context.resume(), 50);
        return 'held';
      },
    };
    const gateway = await gatewayTo([upstream.port], { filters: new FilterChain([deny, hold]) });
    try {
      const caller = await rawCaller(gateway.listener.address.port);
      caller.socket.write(
        'GET /later HTTP/1.1\r\nHost: greeting-service\r\nX-Caller-App: orders\r\nX-Tag: t1\r\n\r\n' +
          'GET /forbidden HTTP/1.1\r\nHost: greeting-service\r\n\r\n' +
          'GET /now HTTP/1.1\r\nHost: greeting-service\r\n\r\n',
      );
      await waitFor('three answers', () => caller.reader.responses.length === 3);
      expect(caller.reader.responses.map((r) => [r.status, r.status === 200 ? r.body : r.headers['x-mesh-bridge-error']])).toEqual([
        [200, 'answer /later'],
        [403, 'HTTP_DENIED'],
        [200, 'answer /now'],
      ]);
      expect(upstream.requests.map((r) => r.url).sort()).toEqual(['/later', '/now']);
      expect(seen[0]).toBe('http GREETING-SERVICE GET /later caller=orders x=t1');
      expect(completed.sort()).toEqual([
        ['GET /forbidden', 'bridge_refusal'],
        ['GET /later', 'ok'],
        ['GET /now', 'ok'],
      ]);
      caller.socket.destroy();
    } finally {
      await gateway.stop(500);
      await upstream.close();
    }
  });
});
