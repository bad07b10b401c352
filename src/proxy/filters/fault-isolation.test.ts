import { FaultClock, FaultInjectionFilter, faultConfigSchema } from './fault-injection';
import { FilterChain } from './filter-chain';
import { IsolationFilter, isolationConfigSchema } from './isolation';
import { testRequest } from './test-request';

function fakeClock(randoms: number[]): FaultClock & { pending: Array<() => void>; delays: number[] } {
  const pending: Array<() => void> = [];
  const delays: number[] = [];
  return {
    pending,
    delays,
    random: () => randoms.shift() ?? 0.99,
    schedule: (ms, run) => {
      delays.push(ms);
      pending.push(run);
      return pending.length - 1;
    },
    cancel: (handle) => {
      pending[handle as number] = () => undefined;
    },
  };
}

describe('FaultInjectionFilter', () => {
  it('aborts the configured share of matching calls, naming the rule', () => {
    const filter = new FaultInjectionFilter(faultConfigSchema.parse({ rules: [{ name: 'chaos', match: { method: 'sayHello' }, abort: { percent: 30 } }] }), fakeClock([0.1, 0.5]));
    expect(filter.onRequest(testRequest(), 0, { resume: () => undefined })).toMatchObject({ refusal: 'fault_injected', message: 'fault injected by chaos' });
    expect(filter.onRequest(testRequest(), 0, { resume: () => undefined })).toBeUndefined();
    expect(filter.onRequest(testRequest({ method: 'other' }), 0, { resume: () => undefined })).toBeUndefined();
  });

  it('holds a delayed call and lets it continue through the rest of the chain afterwards', () => {
    const clock = fakeClock([0.0]);
    const fault = new FaultInjectionFilter(faultConfigSchema.parse({ rules: [{ delay: { ms: 250, percent: 100 } }] }), clock);
    const later = jest.fn();
    const done = jest.fn();
    new FilterChain([fault, { name: 'later', onRequest: later }]).run(testRequest(), 0, done);
    expect(clock.delays).toEqual([250]);
    expect(done).not.toHaveBeenCalled();
    clock.pending[0]();
    expect(later).toHaveBeenCalledTimes(1);
    expect(done).toHaveBeenCalledWith(undefined);
  });
});

describe('IsolationFilter', () => {
  it('caps calls in flight per service and frees a slot when a call completes', () => {
    const filter = new IsolationFilter(isolationConfigSchema.parse({ rules: [{ maxConcurrent: 2 }] }));
    const a = testRequest();
    const b = testRequest();
    expect(filter.onRequest(a)).toBeUndefined();
    expect(filter.onRequest(b)).toBeUndefined();
    expect(filter.onRequest(testRequest())).toMatchObject({ refusal: 'bulkhead_full' });
    // another service has a bulkhead of its own
    expect(filter.onRequest(testRequest({ service: 'com.example.Other' }))).toBeUndefined();
    filter.onComplete(a);
    filter.onComplete(a); // a second report of the same call frees nothing more
    expect(filter.inFlight('com.example.Greeter')).toBe(1);
    expect(filter.onRequest(testRequest())).toBeUndefined();
  });
});

describe('IsolationFilter past maxServices', () => {
  it('sends services past maxServices with calls in flight to the shared * bulkhead; services with none in flight do not count', () => {
    const filter = new IsolationFilter(isolationConfigSchema.parse({ rules: [{ maxConcurrent: 1 }], maxServices: 1 }));
    const a = testRequest({ service: 'A' });
    expect(filter.onRequest(a)).toBeUndefined();
    filter.onComplete(a);
    // A is idle: B gets a bulkhead of its own
    const b = testRequest({ service: 'B' });
    expect(filter.onRequest(b)).toBeUndefined();
    expect(filter.inFlight('B')).toBe(1);
    // B is busy: A and C share *, one call at a time
    const c = testRequest({ service: 'C' });
    expect(filter.onRequest(c)).toBeUndefined();
    expect(filter.inFlight('*')).toBe(1);
    expect(filter.onRequest(testRequest({ service: 'A' }))).toMatchObject({ refusal: 'bulkhead_full', message: expect.stringContaining('for A') });
    filter.onComplete(b);
    filter.onComplete(c);
    for (let i = 0; i < 3; i++) {
      const again = testRequest({ service: 'A' });
      expect(filter.onRequest(again)).toBeUndefined();
      expect(filter.inFlight('A')).toBe(1);
      filter.onComplete(again);
    }
    expect(['A', 'B', 'C', '*'].map((s) => filter.inFlight(s))).toEqual([0, 0, 0, 0]);
  });
});
