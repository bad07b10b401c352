// The sidecar as the sidecar benchmark runs it: the real CLI (`node bin/mesh-bridge.js sidecar
// --config FILE`, which runs dist/), with an HTTP and a Dubbo inbound stack in front of the bench
// upstreams, either passing through (no filters) or with every filter on, each matching every
// request and admitting it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './memory-probes';
import { Child, startProcess } from './processes';

const ROOT = join(__dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'mesh-bridge.js');
const BUILT_MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');

/** Newest modification time of the compiled sources (src/, tests left out), ms. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds dist/ (what bin/mesh-bridge.js runs) when it is missing or older than src/; says whether it did. */
export function ensureBuilt(): boolean {
  let built = 0;
  try {
    built = statSync(BUILT_MAIN).mtimeMs;
  } catch {
    // not built yet
  }
  if (built >= newestSource(join(ROOT, 'src'))) return false;
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
  return true;
}

/**
 * Every filter the sidecar ships, each matching the bench's requests (`method`) and admitting them;
 * `callerKey`: the attachment or header naming the caller's application (the hot-parameter key).
 */
export function admittingFilters(method: string, callerKey: string): unknown[] {
  const match = { method };
  return [
    // Loopback callers are allowed, one application denied: both lists are consulted per request.
    { name: 'authz', config: { rules: [{ name: 'bench-loopback', match, allow: { addresses: ['127.0.0.0/8', '::1/128'] }, deny: { apps: ['bench-denied'] } }] } },
    // A global bucket and a hot-parameter one keyed by the caller's application, both far above the load.
    {
      name: 'rate-limit',
      config: {
        rules: [
          { name: 'bench-global', match, perSecond: 1e9 },
          { name: 'bench-per-caller', match, perSecond: 1e9, key: { attribute: callerKey } },
        ],
      },
    },
    { name: 'circuit-breaker', config: { rules: [{ name: 'bench-breaker', match, per: 'method', errorRatio: 0.5, slowCallMs: 1000, slowCallRatio: 0.5 }] } },
    // Matching, drawing its dice, never firing.
    { name: 'fault', config: { rules: [{ name: 'bench-fault', match, delay: { ms: 100, percent: 0 }, abort: { percent: 0 } }] } },
    { name: 'isolation', config: { rules: [{ name: 'bench-bulkhead', match, maxConcurrent: 100_000 }] } },
    { name: 'access-log', config: { sample: 0.01 } },
  ];
}

export interface SidecarUpstreams {
  http: number;
  dubbo: number;
}

export interface SidecarChild {
  child: Child;
  httpPort: number;
  dubboPort: number;
  adminPort: number;
  cleanup(): void;
}

/** The config of a sidecar beside the bench upstreams; `filters` on: every filter, else none. */
export function sidecarConfig(upstreams: SidecarUpstreams, ports: { http: number; dubbo: number; admin: number }, filters: boolean): unknown {
  return {
    app: 'bench-app',
    // info: the access log's sampled lines are written (to the bench's pipe, as to a log shipper's).
    log: { level: 'info' },
    admin: { listen: `127.0.0.1:${ports.admin}` },
    inbound: { listen: `127.0.0.1:${ports.http}`, app: `127.0.0.1:${upstreams.http}`, timeoutMs: 3000, filters: filters ? admittingFilters('GET /', 'x-caller-app') : [] },
    dubbo: { inbound: { listen: `127.0.0.1:${ports.dubbo}`, app: `127.0.0.1:${upstreams.dubbo}`, timeoutMs: 3000, filters: filters ? admittingFilters('echo', 'application') : [] } },
  };
}

/** Starts `mesh-bridge sidecar --config FILE` in its own process; ready once its admin port (opened last) answers. */
export async function startSidecar(name: string, upstreams: SidecarUpstreams, filters: boolean, nodeFlags: string[] = []): Promise<SidecarChild> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-bridge-sidecar-bench-'));
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    const ports = { http: await freePort(), dubbo: await freePort(), admin: await freePort() };
    const file = join(dir, 'sidecar.yaml');
    writeFileSync(file, stringify(sidecarConfig(upstreams, ports, filters)));
    const child = await startProcess(name, process.execPath, [...nodeFlags, BIN, 'sidecar', '--config', file], { readyPort: ports.admin });
    return { child, httpPort: ports.http, dubboPort: ports.dubbo, adminPort: ports.admin, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}
