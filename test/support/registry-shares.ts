// What the weight-holds tests measure of bridges and consumers, shared: setting a weight through a
// bridge's admin API, the requests the bridges forwarded, apache-dubbo-js's provider list, and the
// check of an observed share against the binomial tolerance.
import type { BridgeChild } from './bridge-child';

export async function putWeight(bridge: BridgeChild, service: string, body: { mesh: number; method?: string }): Promise<number> {
  const res = await fetch(`http://${bridge.admin}/weights/${service}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return res.status;
}

/** Requests the bridges forwarded for a service, from their Prometheus counters. */
export async function bridgeRequests(bridges: readonly BridgeChild[], service: string): Promise<number> {
  let total = 0;
  for (const bridge of bridges) {
    for (const line of (await (await fetch(`http://${bridge.admin}/metrics`)).text()).split('\n')) {
      if (line.startsWith('mesh_bridge_requests_total{') && line.includes(`service="${service}"`)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

/** apache-dubbo-js's provider list for an interface (its registry's map; internals, read only). */
export function dubboJsProviders(iface: string): string[] {
  const Scheduler = (require('apache-dubbo-js/es7/scheduler') as { default: { __meshBridgeCapture?: Array<{ _registry: { _dubboServiceUrlMap: Map<string, Array<{ host: string; port: number }>> } }> } }).default;
  const captured = Scheduler.__meshBridgeCapture ?? [];
  return (captured[captured.length - 1]?._registry._dubboServiceUrlMap.get(iface) ?? []).map((u) => `${u.host}:${u.port}`).sort();
}

/** |observed - expected| within four binomial standard deviations of `calls` draws (exact at p = 0 or 1). */
export function expectShare(what: string, observed: number, calls: number, p: number): void {
  const tolerance = 4 * Math.sqrt(calls * p * (1 - p));
  if (Math.abs(observed - calls * p) > tolerance) throw new Error(`${what}: the mesh answered ${observed}/${calls}, expected ${(calls * p).toFixed(1)} ± ${tolerance.toFixed(1)}`);
}
