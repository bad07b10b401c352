// Load on the embedded Eureka server for the sync benchmark (bench/sync.ts): registrations through
// an undici Pool with many in flight, fetch latencies one request at a time on a kept-alive
// connection, and heartbeats from wrk with a Lua script cycling over every registered instance.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { runProcess } from './processes';
import { WRK, WrkResult, parseWrk } from './wrk';

export interface EurekaEstate {
  apps: number;
  instancesPerApp: number;
}

/** The lastDirtyTimestamp every instance registers with (and heartbeats repeat). */
const DIRTY = 1_700_000_000_000;

export function appName(a: number): string {
  return `BENCH-APP-${a}`;
}

/** Spring Cloud's default instance id shape: `host:app:port`. */
export function instanceId(a: number, j: number): string {
  return `10.20.${a}.${j}:bench-app-${a}:8080`;
}

function registration(a: number, j: number): string {
  const ip = `10.20.${a}.${j}`;
  const vip = `bench-app-${a}`;
  return JSON.stringify({
    instance: {
      instanceId: instanceId(a, j),
      hostName: ip,
      app: appName(a),
      ipAddr: ip,
      status: 'UP',
      overriddenStatus: 'UNKNOWN',
      port: { $: 8080, '@enabled': 'true' },
      securePort: { $: 443, '@enabled': 'false' },
      countryId: 1,
      dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
      leaseInfo: { renewalIntervalInSecs: 30, durationInSecs: 90 },
      metadata: { 'management.port': '8080', zone: 'zone-a', version: '1.0.0' },
      homePageUrl: `http://${ip}:8080/`,
      statusPageUrl: `http://${ip}:8080/actuator/info`,
      healthCheckUrl: `http://${ip}:8080/actuator/health`,
      vipAddress: vip,
      secureVipAddress: vip,
      isCoordinatingDiscoveryServer: 'false',
      lastUpdatedTimestamp: String(DIRTY),
      lastDirtyTimestamp: String(DIRTY),
    },
  });
}

export class EurekaLoad {
  private readonly pool: Pool;
  private readonly single: Pool;

  constructor(readonly port: number) {
    this.pool = new Pool(`http://127.0.0.1:${port}`, { connections: 64 });
    this.single = new Pool(`http://127.0.0.1:${port}`, { connections: 1 });
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.close(), this.single.close()]);
  }

  /** Registers every instance, `inFlight` at a time; returns the seconds it took. */
  async registerAll(estate: EurekaEstate, inFlight = 64): Promise<number> {
    const started = performance.now();
    const total = estate.apps * estate.instancesPerApp;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < total) {
        const n = next++;
        const a = n % estate.apps;
        const j = Math.floor(n / estate.apps);
        const res = await this.pool.request({
          method: 'POST',
          path: `/eureka/apps/${appName(a)}`,
          headers: { 'content-type': 'application/json', 'accept-encoding': 'gzip' },
          body: registration(a, j),
        });
        await res.body.dump();
        if (res.statusCode !== 204) throw new Error(`registration of ${instanceId(a, j)} answered ${res.statusCode}`);
      }
    };
    await Promise.all(Array.from({ length: inFlight }, () => worker()));
    return (performance.now() - started) / 1000;
  }

  /** One GET with Accept: application/json, body read to its end: ms and bytes. */
  async fetch(path: string): Promise<{ ms: number; bytes: number; body: string }> {
    const started = performance.now();
    const res = await this.single.request({ method: 'GET', path, headers: { accept: 'application/json' } });
    const body = await res.body.text();
    const ms = performance.now() - started;
    if (res.statusCode !== 200) throw new Error(`GET ${path} answered ${res.statusCode}`);
    return { ms, bytes: Buffer.byteLength(body), body };
  }

  /** An operator's status override: a change every client sees (full cache invalidated, one delta entry). */
  async override(a: number, j: number, status: 'OUT_OF_SERVICE' | 'UP'): Promise<void> {
    const res = await this.single.request({ method: 'PUT', path: `/eureka/apps/${appName(a)}/${encodeURIComponent(instanceId(a, j))}/status?value=${status}` });
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(`status override answered ${res.statusCode}`);
  }
}

/** Heartbeats (`PUT /eureka/apps/{APP}/{id}?status=UP&lastDirtyTimestamp=...`) from wrk, cycling over every instance. */
export async function heartbeats(port: number, estate: EurekaEstate, connections: number, seconds: number): Promise<WrkResult> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-bridge-wrk-'));
  const script = join(dir, 'heartbeat.lua');
  writeFileSync(
    script,
    [
      `local apps, per = ${estate.apps}, ${estate.instancesPerApp}`,
      'local n = 0',
      'request = function()',
      '  n = n + 1',
      '  local k = n % (apps * per)',
      '  local a = k % apps',
      '  local j = math.floor(k / apps)',
      `  local path = "/eureka/apps/BENCH-APP-" .. a .. "/10.20." .. a .. "." .. j .. ":bench-app-" .. a .. ":8080?status=UP&lastDirtyTimestamp=${DIRTY}"`,
      '  return wrk.format("PUT", path)',
      'end',
      '',
    ].join('\n'),
  );
  const run = runProcess(WRK, ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', script, `http://127.0.0.1:${port}`]);
  let output = '';
  run.child.stdout?.on('data', (s: string) => (output += s));
  const code = await run.lines.exited;
  rmSync(dir, { recursive: true, force: true });
  if (code !== 0) throw new Error(`wrk exited with code ${code}: ${run.stderr()}`);
  return parseWrk(output);
}
