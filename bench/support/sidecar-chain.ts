// The sidecar's filter chain alone, in-process: µs per request through a SwappableFilterChain of
// the bench's admitting filters (bench/support/sidecar-child.ts), run and completed, with the HTTP
// listener's own request view. For tuning the hot path without sockets in the way.
//
// Usage: npx tsx bench/support/sidecar-chain.ts [filters|none|authz|rate-limit|circuit-breaker|fault|isolation|access-log]
// Under the sidecar's own node flags, to see what it pays for per-request garbage with its 1 MB
// young generation (bench/sidecar.ts's BENCH_SIDECAR_NODE_FLAGS; the filters' base cost here was
// 1.7 µs a request with node's defaults and 4 µs with that flag):
//   node --max-semi-space-size=1 --import tsx bench/support/sidecar-chain.ts filters
// The access log writes to /dev/null with no redaction here; the sidecar's writes each sampled line
// through the redacting logger to its stdout (about 12 to 19 µs of CPU a line, 0.15 µs a request at 1%).
import pino from 'pino';
import { SwappableFilterChain } from '../../src/mesh-sidecar/swappable-chain';
import { buildFilterChain, FilterSpec } from '../../src/proxy/filters';
import { HttpProxyRequest } from '../../src/proxy/http/http-listener';
import { Registry } from '../../src/telemetry/metrics';
import { admittingFilters } from './sidecar-child';


const which = process.argv[2] ?? 'filters';
const specs = (admittingFilters('GET /', 'x-caller-app') as FilterSpec[]).filter((s) => which === 'filters' || (which !== 'none' && s.name === which));
const logger = pino({ level: 'info' }, pino.destination('/dev/null'));
const chain = new SwappableFilterChain(buildFilterChain(specs, { logger, metrics: new Registry() }));
const fields = ['Host', 'app', 'User-Agent', 'wrk', 'Accept', '*/*'];
const done = (reply: unknown): void => {
  if (reply !== undefined) throw new Error(`refused: ${JSON.stringify(reply)}`);
};

function microsPerRequest(count: number): number {
  const began = performance.now();
  const now = Date.now();
  for (let i = 0; i < count; i++) {
    const request = new HttpProxyRequest('bench-app', 'GET /', `127.0.0.1:${40000 + (i & 31)}`, fields);
    chain.run(request, now, done);
    chain.complete(request, 'ok', 500, now);
  }
  return ((performance.now() - began) * 1000) / count;
}

microsPerRequest(200_000);
const runs = [microsPerRequest(500_000), microsPerRequest(500_000), microsPerRequest(500_000)].sort((a, b) => a - b);
process.stdout.write(`${which === 'none' ? 'no filters' : which}: ${runs[1].toFixed(3)} µs a request (median of 3 x 500,000)\n`);
