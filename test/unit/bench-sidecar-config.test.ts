// The sidecar benchmark's configs stay valid as the config schema and the filters change, and the
// filters config admits the bench's requests (bench:sidecar measures filters that match and admit).
import { admittingFilters, sidecarConfig } from '../../bench/support/sidecar-child';
import { validateSidecarConfig } from '../../src/mesh-sidecar/config';
import { buildFilterChain, FilterSpec, LocalReply } from '../../src/proxy/filters';
import { testRequest } from '../../src/proxy/filters/test-request';
import { silentLogger } from '../../src/telemetry/logger';
import { Registry } from '../../src/telemetry/metrics';

const ports = { http: 15101, dubbo: 15102, admin: 15103 };
const upstreams = { http: 15201, dubbo: 15202 };

describe('bench:sidecar configs', () => {
  it('validate with and without filters, with every filter the bench names', () => {
    expect(validateSidecarConfig(sidecarConfig(upstreams, ports, false)).inbound?.filters).toEqual([]);
    const config = validateSidecarConfig(sidecarConfig(upstreams, ports, true));
    const names = ['authz', 'rate-limit', 'circuit-breaker', 'fault', 'isolation', 'access-log'];
    expect(config.inbound?.filters.map((f) => f.name)).toEqual(names);
    expect(config.dubbo?.inbound?.filters.map((f) => f.name)).toEqual(names);
  });

  it('admit the bench requests of both protocols through every filter, many times over', () => {
    for (const [protocol, method, callerKey] of [
      ['http', 'GET /', 'x-caller-app'],
      ['dubbo', 'echo', 'application'],
    ] as const) {
      const chain = buildFilterChain(admittingFilters(method, callerKey) as FilterSpec[], { logger: silentLogger(), metrics: new Registry() });
      for (let i = 0; i < 1000; i++) {
        const request = testRequest({ protocol, method, remoteAddress: `127.0.0.1:${40000 + i}`, app: 'bench-caller', attributes: { [callerKey]: 'bench-caller' } });
        let reply: LocalReply | undefined | 'not called' = 'not called';
        chain.run(request, i, (r) => (reply = r));
        expect(reply).toBeUndefined();
        chain.complete(request, 'ok', 500, i);
      }
    }
  });
});
