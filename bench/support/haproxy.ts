// HAProxy as a plain TCP proxy (`mode tcp`, one thread), in the foreground as our child: the
// reference for what forwarding Dubbo's bytes costs when a proxy moves whole batches per system call.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './memory-probes';
import { Child, startProcess } from './processes';

export const HAPROXY = '/usr/sbin/haproxy';

export function haproxyAvailable(): boolean {
  return existsSync(HAPROXY);
}

export function haproxyConfig(listenPort: number, upstreamPort: number): string {
  return `global
  nbthread 1
  maxconn 4000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
listen dubbo
  bind 127.0.0.1:${listenPort}
  server provider 127.0.0.1:${upstreamPort}
`;
}

/** Starts HAProxy in front of the upstream; the returned child's port is HAProxy's. */
export async function startHaproxy(upstreamPort: number): Promise<{ child: Child; cleanup(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-bridge-haproxy-'));
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    const port = await freePort();
    writeFileSync(join(dir, 'haproxy.cfg'), haproxyConfig(port, upstreamPort));
    // -db: stay in the foreground, so the PID we sample is the one process doing the work.
    const child = await startProcess('haproxy', HAPROXY, ['-db', '-f', join(dir, 'haproxy.cfg')], { readyPort: port });
    return { child, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}
