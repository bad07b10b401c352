import { testRequest } from '../filters/test-request';
import { DEFAULT_RETRY_BUDGET, UpstreamCaps, retriesAllowed } from './upstream-caps';

const SERVICE = 'com.example.Greeter';

function capsWith(caps: { maxRequests?: number; maxRetries?: number; maxPending?: number; maxConnections?: number; budgetPercent?: number; minRetryConcurrency?: number }) {
  const counted = { retried: 0, budget: 0, cap: 0, overCap: 0 };
  const retryBudget = { ...DEFAULT_RETRY_BUDGET, ...caps };
  const upstream = new UpstreamCaps(
    { retried: () => void counted.retried++, refused: (_, reason) => void counted[reason]++, overCap: () => void counted.overCap++ },
    new Map([[SERVICE, { maxRequests: caps.maxRequests, maxRetries: caps.maxRetries, maxPending: caps.maxPending, maxConnections: caps.maxConnections, retryBudget, where: 'dubbo.outbound.services[0].caps' }]]),
  );
  return { upstream, counted };
}

describe('upstream caps', () => {
  it('allows retries in flight up to a share of the active requests, with a floor, under the maxRetries cap', () => {
    expect(retriesAllowed(0, { retryBudget: DEFAULT_RETRY_BUDGET })).toEqual({ allowed: 3, by: 'budget' });
    expect(retriesAllowed(100, { retryBudget: DEFAULT_RETRY_BUDGET })).toEqual({ allowed: 20, by: 'budget' });
    expect(retriesAllowed(100, { retryBudget: DEFAULT_RETRY_BUDGET, maxRetries: 5 })).toEqual({ allowed: 5, by: 'cap' });
  });

  it('refuses a request past maxRequests naming the cap, and admits again once one ends', () => {
    const { upstream } = capsWith({ maxRequests: 2 });
    const [a, b, c] = [testRequest({ service: SERVICE }), testRequest({ service: SERVICE }), testRequest({ service: SERVICE })];
    expect(upstream.onRequest(a)).toBeUndefined();
    expect(upstream.onRequest(b)).toBeUndefined();
    expect(upstream.onRequest(c)).toMatchObject({ outcome: 'bridge_refusal', refusal: 'bulkhead_full', message: expect.stringContaining('dubbo.outbound.services[0].caps.maxRequests') });
    upstream.onComplete(a);
    expect(upstream.onRequest(c)).toBeUndefined();
  });

  it('holds a retry slot per retried request until it ends, refusing and counting past the budget', () => {
    const { upstream, counted } = capsWith({ budgetPercent: 0, minRetryConcurrency: 1 });
    const [a, b] = [testRequest({ service: SERVICE }), testRequest({ service: SERVICE })];
    upstream.onRequest(a);
    upstream.onRequest(b);
    expect(upstream.tryRetry(a)).toBe(true);
    expect(upstream.tryRetry(a)).toBe(true); // its second retry reuses its slot
    expect(upstream.tryRetry(b)).toBe(false);
    upstream.onComplete(a);
    expect(upstream.tryRetry(b)).toBe(true);
    expect(counted).toEqual({ retried: 3, budget: 1, cap: 0, overCap: 0 });
  });

  it('keeps counting across a reload: a request admitted before releases what it took', () => {
    const { upstream } = capsWith({ maxRequests: 1, budgetPercent: 0, minRetryConcurrency: 1 });
    const a = testRequest({ service: SERVICE });
    upstream.onRequest(a);
    upstream.tryRetry(a);
    upstream.configure(new Map([[SERVICE, { maxRequests: 5, retryBudget: { budgetPercent: 0, minRetryConcurrency: 1 }, where: 'x' }]]));
    expect(upstream.snapshot()).toEqual([{ service: SERVICE, active: 0, retries: 1, maxRequests: 5, maxRetries: undefined, retriesAllowed: 1 }]);
    upstream.onComplete(a);
    expect(upstream.snapshot()[0].retries).toBe(0);
  });

  it('counts requests waiting for a connection until it is made or they end, refusing past maxPending', () => {
    const { upstream } = capsWith({ maxPending: 1 });
    const [a, b] = [testRequest({ service: SERVICE }), testRequest({ service: SERVICE })];
    upstream.onRequest(a);
    upstream.onRequest(b);
    let connecting = true;
    expect(upstream.admitPending(a, () => connecting)).toBeUndefined();
    expect(upstream.admitPending(b, () => connecting)).toMatchObject({ refusal: 'overloaded', message: `cap dubbo.outbound.services[0].caps.maxPending reached: 1 requests waiting for a connection for ${SERVICE}` });
    connecting = false;
    expect(upstream.admitPending(b, () => true)).toBeUndefined();
    upstream.onComplete(b);
    expect(upstream.admitPending(a, () => true)).toBeUndefined();
  });

  it('counts open connections (HTTP) until they close, refusing a new one past maxConnections', () => {
    const { upstream } = capsWith({ maxConnections: 1 });
    const a = testRequest({ service: SERVICE });
    upstream.onRequest(a);
    let open = true;
    expect(upstream.beforeConnect(a)).toBeUndefined();
    upstream.connecting(a, () => open, () => false);
    expect(upstream.beforeConnect(a)?.message).toContain('caps.maxConnections reached: 1 upstream connections open');
    open = false;
    expect(upstream.beforeConnect(a)).toBeUndefined();
  });
});
