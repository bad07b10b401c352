// nginx as an HTTP reverse proxy, in the foreground as our child: one worker, no master, keep-alive
// upstream connections (keepalive 64, HTTP/1.1, Connection cleared), no access log.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Child, startProcess } from './processes';

export const NGINX = '/usr/sbin/nginx';

export function nginxAvailable(): boolean {
  return existsSync(NGINX);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

export function nginxConfig(dir: string, listenPort: number, upstreamPort: number): string {
  return `daemon off;
master_process off;
worker_processes 1;
error_log stderr;
pid ${dir}/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream app {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${listenPort};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** Starts nginx in front of the upstream; the returned child's port is nginx's. */
export async function startNginx(upstreamPort: number): Promise<{ child: Child; cleanup(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-bridge-nginx-'));
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    const port = await freePort();
    writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, port, upstreamPort));
    // nginx prints nothing when it is up: ready once its port accepts connections.
    const child = await startProcess('nginx', NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', 'stderr'], { readyPort: port });
    return { child, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}
