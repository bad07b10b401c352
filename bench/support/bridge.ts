// The bridge under test, alone in its process: the Dubbo or the HTTP listener, wired as the bridge
// process wires them (test/support/gateway.ts), with one static upstream instance in the catalog.
//
// Usage: node --import tsx bench/support/bridge.ts --mode=dubbo|http --upstream=<port> [--service=NAME]
//        [--patch=no-stats,no-outliers,socket-write]  -> prints "READY <port>"
//
// Patches are experiments, not the bridge as shipped.
// no-stats: TrafficStats.record does nothing, to weigh what per-request accounting costs.
// no-outliers: OutlierDetector.report does nothing (outcomes are not counted for ejection).
import { Catalog, Instance, instanceDefaults } from '../../src/catalog';
import { DubboServicePolicy } from '../../src/bridge/dubbo/dubbo-listener';
import { HttpServicePolicy } from '../../src/bridge/http/http-listener';
import { OutlierDetector } from '../../src/proxy/router/outlier-detector';
import { StackWeights } from '../../src/proxy/router/stack-weights';
import { TrafficStats } from '../../src/bridge/stats/traffic-stats';
import { Registry } from '../../src/telemetry/metrics';
import { dubboGateway, httpGateway } from '../../test/support/gateway';
import { announcePort, arg, exitOnSignal } from './child-protocol';

const mode = arg('mode');
const upstreamPort = Number(arg('upstream'));
const service = arg('service', mode === 'dubbo' ? 'com.example.bench.EchoService' : 'app');

const patches = new Set(arg('patch', '').split(',').filter((p) => p !== ''));
// Experiments: measure the bridge with a part switched off, to see what it costs.
// socket-write: the HTTP path writes through socket.write, not the stream handle (the bench starts
// this child with MESH_BRIDGE_DIRECT_WRITES=0: direct-write.ts reads it as it loads).
for (const p of patches) if (p !== 'no-stats' && p !== 'no-outliers' && p !== 'socket-write') throw new Error(`unknown patch ${p}`);
if (patches.has('no-stats')) TrafficStats.prototype.record = function noRecord(): void {};
if (patches.has('no-outliers')) OutlierDetector.prototype.report = function noReport(): boolean { return false; };

const catalog = new Catalog();
const weights = new StackWeights();
const metrics = new Registry();
const instance: Instance = {
  ...instanceDefaults(),
  id: `127.0.0.1:${upstreamPort}`,
  service,
  protocol: mode === 'dubbo' ? 'dubbo' : 'http',
  host: '127.0.0.1',
  port: upstreamPort,
  stack: 'legacy',
  origin: { source: 'static' },
};
catalog.replaceSource('static', service, [instance]);

async function main(): Promise<void> {
  if (mode === 'dubbo') {
    // As the bridge's default config: the consumer's own timeout attachment is honoured.
    const policy: DubboServicePolicy = { idempotentMethods: new Set(), retries: 0, timeoutMs: 3000, honorConsumerTimeout: true };
    const { listener } = dubboGateway(catalog, { weights, metrics, policy: () => policy });
    await listener.start();
    announcePort(listener.address.port);
  } else if (mode === 'http') {
    const policy: HttpServicePolicy = { timeoutMs: 3000 };
    const { listener } = httpGateway(catalog, { weights, metrics, routeBy: 'host', policy: () => policy });
    await listener.start();
    announcePort(listener.address.port);
  } else {
    throw new Error(`--mode must be dubbo or http, not ${mode}`);
  }
}

exitOnSignal();
main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
