import type { Filter, FilterContext } from '../proxy/filters/filter';
import { FilterChain } from '../proxy/filters/filter-chain';
import { testRequest } from '../proxy/filters/test-request';
import { SwappableFilterChain } from './swappable-chain';

/** A filter that records what it saw; holds a request when told to. */
function recorder(name: string, log: string[], hold?: { context?: FilterContext }): Filter {
  return {
    name,
    onRequest: (request, _now, context) => {
      log.push(`${name} saw ${request.method}`);
      if (hold === undefined) return undefined;
      hold.context = context;
      return 'held';
    },
    onComplete: (request, outcome) => void log.push(`${name} ended ${request.method} ${outcome}`),
  };
}

describe('SwappableFilterChain', () => {
  it('runs new requests through the newest chain and reports each end to the chain that admitted it', () => {
    const log: string[] = [];
    const swappable = new SwappableFilterChain(new FilterChain([recorder('old', log)]));
    const before = testRequest({ method: 'GET /a' });
    swappable.run(before, 0, () => undefined);
    swappable.swap(new FilterChain([recorder('new', log)]));
    const after = testRequest({ method: 'GET /b' });
    swappable.run(after, 0, () => undefined);
    swappable.complete(before, 'ok', 1, 0);
    swappable.complete(after, 'ok', 1, 0);
    swappable.complete(after, 'ok', 1, 0); // a second end is not reported twice
    expect(log).toEqual(['old saw GET /a', 'new saw GET /b', 'old ended GET /a ok', 'new ended GET /b ok']);
  });

  it('resumes a request held across a swap in the chain that held it', () => {
    const log: string[] = [];
    const hold: { context?: FilterContext } = {};
    const swappable = new SwappableFilterChain(new FilterChain([recorder('delay', log, hold), recorder('old-next', log)]));
    const request = testRequest({ method: 'GET /held' });
    let released = false;
    swappable.run(request, 0, () => (released = true));
    swappable.swap(new FilterChain([recorder('new', log)]));
    hold.context?.resume();
    expect(released).toBe(true);
    expect(log).toEqual(['delay saw GET /held', 'old-next saw GET /held']);
  });

  it('is empty while its chain is (the listener skips it per request), and lets requests through then', () => {
    const swappable = new SwappableFilterChain(new FilterChain([]));
    expect(swappable.empty).toBe(true);
    swappable.swap(new FilterChain([{ name: 'any', onRequest: () => undefined }]));
    expect(swappable.empty).toBe(false);
    swappable.swap(new FilterChain([]));
    let reply: unknown = 'not called';
    swappable.run(testRequest({}), 0, (r) => (reply = r));
    expect(reply).toBeUndefined();
  });
});
