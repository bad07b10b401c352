import { Registry } from 'prom-client';
import { silentLogger } from '../../telemetry/logger';
import { buildFilterChain } from './index';
import { testRequest } from './test-request';

const deps = { logger: silentLogger(), metrics: new Registry() };

describe('buildFilterChain', () => {
  it('builds the named filters in order', () => {
    const chain = buildFilterChain([{ name: 'authz', config: { rules: [{ deny: { apps: ['x'] } }] } }, { name: 'rate-limit', config: { rules: [{ perSecond: 5 }] } }], deps);
    expect(chain.filters.map((f) => f.name)).toEqual(['authz', 'rate-limit']);
  });

  it('names an unknown filter and the known ones', () => {
    expect(() => buildFilterChain([{ name: 'ratelimit' }], deps)).toThrow(/filters\[0\]\.name: unknown filter "ratelimit"; known: .*rate-limit/);
  });

  it("makes the identity a filter names the whole chain's: match.callerApp reads it", () => {
    const chain = buildFilterChain(
      [
        { name: 'rate-limit', config: { rules: [{ match: { callerApp: 'reports' }, perSecond: 0.001, burst: 1 }] } },
        { name: 'authz', config: { identity: { attachment: 'x-app' }, rules: [{ deny: { apps: ['nobody'] } }] } },
      ],
      deps,
    );
    const request = testRequest({ app: 'web', attributes: { 'x-app': 'reports' } });
    const decide = (): unknown => chain.filters[0].onRequest(request, 0, { resume: () => undefined });
    expect(decide()).toBeUndefined();
    expect(decide()).toMatchObject({ refusal: 'rate_limited' });
  });

  it('refuses filters naming two identity sources, with the key path of the second', () => {
    expect(() =>
      buildFilterChain(
        [
          { name: 'authz', config: { identity: { header: 'X-App' }, rules: [{ deny: { apps: ['x'] } }] } },
          { name: 'access-log', config: { identity: { header: 'x-app' } } },
          { name: 'access-log', config: { identity: { header: 'x-other' } } },
        ],
        deps,
        'outbound.filters',
      ),
    ).toThrow(/^outbound\.filters\[2\]\.config\.identity: .*x-other.* differs from outbound\.filters\[0\]\.config\.identity/);
  });

  it('names the key path of a bad config', () => {
    expect(() => buildFilterChain([{ name: 'rate-limit', config: { rules: [{ perSecond: -1 }] } }], deps, 'sidecar.outbound.filters')).toThrow(
      /sidecar\.outbound\.filters\[0\]\.config\.rules\[0\]\.perSecond/,
    );
  });
});
