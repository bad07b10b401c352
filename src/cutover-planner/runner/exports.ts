// The weights in force, for teams whose traffic is steered by something other than the bridge. Pure.
// - Istio: per service a DestinationRule with subsets `legacy` and `mesh` (pods told apart by a
//   label) and a VirtualService splitting by weight, as http and tcp routes (Istio uses the one
//   that fits the port's protocol). Istio has no per-Dubbo-method routing: method weights are
//   written as comments.
// - Dubbo: override configurators (`override://host:port/<interface>?category=configurators&
//   dynamic=false&enabled=true&weight=N`, the form Dubbo's admin console writes) per provider
//   endpoint, weighting each so the stacks' totals split as the mesh weight says; a method's own
//   weight as `<method>.weight`, which Dubbo's load balancers read per method.
import { stringify } from 'yaml';
import { dubboUrl, formatDubboUrl } from '../../dubbo-codec/dubbo-url';

export interface WeightEntry {
  service: string;
  method?: string;
  mesh: number;
}

export interface ExportInstance {
  host: string;
  port: number;
  stack: 'legacy' | 'mesh';
  /** Dubbo's relative weight within its stack (default 100). */
  weight: number;
  group: string;
  version: string;
}

export interface IstioOptions {
  namespace: string;
  /** The pod label whose values (`legacy`, `mesh`) tell the stacks apart. */
  label: string;
  /** Appended to a service name to make the host Istio routes. */
  hostSuffix: string;
}

/** A Kubernetes object name (DNS-1123 subdomain) for a service name. */
export function resourceName(service: string): string {
  const name = service
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
    .slice(0, 253);
  return name || 'service';
}

function byService(weights: readonly WeightEntry[]): Map<string, { mesh: number | null; methods: Array<{ method: string; mesh: number }> }> {
  const out = new Map<string, { mesh: number | null; methods: Array<{ method: string; mesh: number }> }>();
  for (const w of [...weights].sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0))) {
    let entry = out.get(w.service);
    if (entry === undefined) out.set(w.service, (entry = { mesh: null, methods: [] }));
    if (w.method === undefined) entry.mesh = w.mesh;
    else entry.methods.push({ method: w.method, mesh: w.mesh });
  }
  return out;
}

/** Istio weights are whole percentages that add up to 100. */
function split(mesh: number): { legacy: number; mesh: number } {
  const m = Math.max(0, Math.min(100, Math.round(mesh)));
  return { legacy: 100 - m, mesh: m };
}

export function istioYaml(weights: readonly WeightEntry[], options: IstioOptions): string {
  const docs: string[] = [];
  for (const [service, entry] of byService(weights)) {
    const name = resourceName(service);
    const host = `${service}${options.hostSuffix}`;
    const { legacy, mesh } = split(entry.mesh ?? 0);
    const route = [
      { destination: { host, subset: 'legacy' }, weight: legacy },
      { destination: { host, subset: 'mesh' }, weight: mesh },
    ];
    const comments = entry.methods.map((m) => `# ${service} method ${m.method}: ${m.mesh} % mesh (Istio cannot route by Dubbo method: not expressed here)`);
    docs.push(
      stringify({
        apiVersion: 'networking.istio.io/v1beta1',
        kind: 'DestinationRule',
        metadata: { name, namespace: options.namespace, labels: { 'app.kubernetes.io/managed-by': 'mesh-bridge' } },
        spec: { host, subsets: (['legacy', 'mesh'] as const).map((stack) => ({ name: stack, labels: { [options.label]: stack } })) },
      }),
      [
        ...comments,
        stringify({
          apiVersion: 'networking.istio.io/v1beta1',
          kind: 'VirtualService',
          metadata: { name, namespace: options.namespace, labels: { 'app.kubernetes.io/managed-by': 'mesh-bridge' } },
          spec: { hosts: [host], http: [{ route }], tcp: [{ route }] },
        }),
      ].join('\n'),
    );
  }
  return docs.map((d) => d.trimEnd() + '\n').join('---\n');
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * Per-instance Dubbo weights making the mesh stack's total `mesh` % of all: each instance keeps
 * its weight relative to its own stack. Whole numbers, reduced by their common divisor.
 */
export function stackWeights(instances: readonly ExportInstance[], meshPercent: number): number[] {
  const m = Math.max(0, Math.min(100, Math.round(meshPercent)));
  const total = (stack: 'legacy' | 'mesh') => instances.filter((i) => i.stack === stack).reduce((n, i) => n + Math.max(0, Math.round(i.weight)), 0);
  const legacyTotal = total('legacy');
  const meshTotal = total('mesh');
  // With one stack empty the other takes everything whatever the weight says.
  const raw = instances.map((i) => {
    const w = Math.max(0, Math.round(i.weight));
    if (legacyTotal === 0 || meshTotal === 0) return w;
    return i.stack === 'mesh' ? w * m * legacyTotal : w * (100 - m) * meshTotal;
  });
  const divisor = raw.reduce((g, w) => (w === 0 ? g : gcd(g, w)), 0) || 1;
  return raw.map((w) => w / divisor);
}

/** Override configurator URLs for the weights, one per provider endpoint of each weighted service. */
export function dubboOverrides(weights: readonly WeightEntry[], instances: ReadonlyMap<string, readonly ExportInstance[]>, options: { application?: string } = {}): string[] {
  const urls: string[] = [];
  for (const [service, entry] of byService(weights)) {
    const endpoints = instances.get(service) ?? [];
    if (endpoints.length === 0) {
      urls.push(`# ${service}: no provider endpoints known to the bridge: nothing to weight`);
      continue;
    }
    const serviceWeights = stackWeights(endpoints, entry.mesh ?? 0);
    const methodWeights = entry.methods.map((m) => ({ method: m.method, weights: stackWeights(endpoints, m.mesh) }));
    endpoints.forEach((instance, i) => {
      const params = new Map<string, string>([
        ['category', 'configurators'],
        ['dynamic', 'false'],
        ['enabled', 'true'],
      ]);
      if (options.application) params.set('application', options.application);
      if (instance.group !== '') params.set('group', instance.group);
      if (instance.version !== '') params.set('version', instance.version);
      params.set('weight', String(serviceWeights[i]));
      for (const m of methodWeights) params.set(`${m.method}.weight`, String(m.weights[i]));
      const host = instance.host.includes(':') && !instance.host.startsWith('[') ? `[${instance.host}]` : instance.host;
      urls.push(formatDubboUrl(dubboUrl('override', host, instance.port, service, params)));
    });
  }
  return urls;
}
