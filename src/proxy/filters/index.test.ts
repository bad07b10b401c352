import { Registry } from 'prom-client';
import { silentLogger } from '../../telemetry/logger';
import { buildFilterChain } from './index';

const deps = { logger: silentLogger(), metrics: new Registry() };

describe('buildFilterChain', () => {
  it('builds the named filters in order', () => {
    const chain = buildFilterChain([{ name: 'authz', config: { rules: [{ deny: { apps: ['x'] } }] } }, { name: 'rate-limit', config: { rules: [{ perSecond: 5 }] } }], deps);
    expect(chain.filters.map((f) => f.name)).toEqual(['authz', 'rate-limit']);
  });

  it('names an unknown filter and the known ones', () => {
    expect(() => buildFilterChain([{ name: 'ratelimit' }], deps)).toThrow(/filters\[0\]\.name: unknown filter "ratelimit"; known: .*rate-limit/);
  });

  it('names the key path of a bad config', () => {
    expect(() => buildFilterChain([{ name: 'rate-limit', config: { rules: [{ perSecond: -1 }] } }], deps, 'sidecar.outbound.filters')).toThrow(
      /sidecar\.outbound\.filters\[0\]\.config\.rules\[0\]\.perSecond/,
    );
  });
});
