// A bridge's Dubbo listener in a process of its own, so tests can measure its memory (VmRSS in
// /proc/<pid>/status) and run it under a file-descriptor limit. Started by startBridgeChild with
// its config as JSON in argv[2]; prints its port once listening; answers metric queries over IPC.
import { Catalog, instanceDefaults } from '../../src/catalog';
import type { DubboLimits } from '../../src/proxy/dubbo/dubbo-listener';
import { Registry, metricValue } from '../../src/telemetry/metrics';
import { dubboGateway } from './gateway';

export interface BridgeChildConfig {
  service: string;
  providers: Array<{ host: string; port: number }>;
  timeoutMs?: number;
  limits?: Partial<DubboLimits>;
}

interface MetricQuery {
  id: number;
  name: string;
  labels?: Record<string, string>;
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2]) as BridgeChildConfig;
  const catalog = new Catalog();
  catalog.replaceSource(
    'static',
    config.service,
    config.providers.map((p) => ({ ...instanceDefaults(), id: `${p.host}:${p.port}`, service: config.service, protocol: 'dubbo' as const, host: p.host, port: p.port, stack: 'legacy' as const, origin: { source: 'static' as const } })),
  );
  const metrics = new Registry();
  const gateway = dubboGateway(catalog, { metrics, limits: config.limits, policy: () => ({ idempotentMethods: new Set(), retries: 0, timeoutMs: config.timeoutMs ?? 30_000 }) });
  await gateway.listener.start();
  process.on('message', (query: MetricQuery) => {
    void metricValue(metrics, query.name, query.labels).then((value) => process.send?.({ id: query.id, value }));
  });
  process.on('disconnect', () => process.exit(0));
  process.stdout.write(`${JSON.stringify({ port: gateway.listener.address.port })}\n`);
}

void main();
