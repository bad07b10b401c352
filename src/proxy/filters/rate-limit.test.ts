import { RateLimitFilter, TokenBucket, rateLimitConfigSchema } from './rate-limit';
import { testRequest } from './test-request';

describe('TokenBucket', () => {
  it('admits the burst, then the rate', () => {
    const bucket = new TokenBucket(10, 5, 0);
    let admitted = 0;
    for (let t = 0; t <= 1000; t += 1) if (bucket.take(t)) admitted++;
    // 5 at once, then 10 per second over one second
    expect(admitted).toBe(15);
  });
});

describe('RateLimitFilter', () => {
  it('admits about R x T over T seconds for a matching rule, and leaves others alone', () => {
    const filter = new RateLimitFilter(rateLimitConfigSchema.parse({ rules: [{ match: { method: 'sayHello' }, perSecond: 100 }] }));
    let admitted = 0;
    for (let t = 0; t < 3000; t++) for (let k = 0; k < 5; k++) if (filter.onRequest(testRequest(), t) === undefined) admitted++;
    expect(admitted).toBeGreaterThanOrEqual(300);
    expect(admitted).toBeLessThanOrEqual(401);
    expect(filter.onRequest(testRequest({ method: 'other' }), 3000)).toBeUndefined();
  });

  it('keeps long key values apart by their digest: the same long value shares a bucket, another does not', () => {
    const filter = new RateLimitFilter(rateLimitConfigSchema.parse({ rules: [{ perSecond: 1, burst: 1, key: { attribute: 'token' } }] }));
    const long = 'a'.repeat(1000);
    expect(filter.onRequest(testRequest({ attributes: { token: long } }), 0)).toBeUndefined();
    expect(filter.onRequest(testRequest({ attributes: { token: `${long}` } }), 0)).toMatchObject({ refusal: 'rate_limited', message: expect.stringContaining('token="aaaa') });
    expect(filter.onRequest(testRequest({ attributes: { token: `${long}b` } }), 0)).toBeUndefined();
  });

  it('holds one hot key while other keys pass, naming the limit and the key', () => {
    const filter = new RateLimitFilter(rateLimitConfigSchema.parse({ rules: [{ name: 'per-user', perSecond: 1, burst: 2, key: { attribute: 'userId' } }] }));
    const hot = testRequest({ attributes: { userId: 'u1' } });
    expect(filter.onRequest(hot, 0)).toBeUndefined();
    expect(filter.onRequest(hot, 0)).toBeUndefined();
    expect(filter.onRequest(hot, 0)).toMatchObject({ refusal: 'rate_limited', message: expect.stringMatching(/per-user.*userId="u1"/) });
    expect(filter.onRequest(testRequest({ attributes: { userId: 'u2' } }), 0)).toBeUndefined();
  });

  it('keeps at most maxKeys buckets however many keys callers invent', () => {
    const filter = new RateLimitFilter(rateLimitConfigSchema.parse({ rules: [{ perSecond: 1, key: { attribute: 'k' }, maxKeys: 100 }] }));
    for (let i = 0; i < 10_000; i++) filter.onRequest(testRequest({ attributes: { k: `v${i}` } }), 0);
    expect((filter as unknown as { buckets: Array<{ size: number }> }).buckets[0].size).toBe(100);
    expect(filter.evictions()).toEqual([9_900]);
  });

  it('keys on a Dubbo argument by value, strings and numbers apart, and shares one bucket where there is none', () => {
    const filter = new RateLimitFilter(rateLimitConfigSchema.parse({ rules: [{ name: 'hot-arg', perSecond: 1, burst: 1, key: { argument: 1 } }] }));
    const call = (args: Array<string | number | undefined>) => filter.onRequest(testRequest({ args }), 0);
    expect(call(['x', 'hot'])).toBeUndefined();
    expect(call(['y', 'hot'])).toMatchObject({ message: 'rate limit hot-arg (1/s) for argument 1="hot" reached' });
    expect(call(['x', 7])).toBeUndefined();
    expect(call(['x', '7'])).toBeUndefined();
    expect(call(['x', 7])).toMatchObject({ message: expect.stringContaining('for argument 1=7 reached') });
    expect(call(['x'])).toBeUndefined();
    expect(call(['x', undefined])).toMatchObject({ refusal: 'rate_limited' });
  });

  it('refuses a config without a rate', () => {
    expect(() => rateLimitConfigSchema.parse({ rules: [{ burst: 3 }] })).toThrow(/perSecond/);
  });
});
