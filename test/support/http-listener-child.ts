// The bridge's HTTP listener alone in a child process, for tests that measure the process (RSS)
// or limit it (ulimit -n). One static instance in the catalog.
//
// Usage: node --import tsx test/support/http-listener-child.ts --upstream=<port> [--options=<JSON>]
//        -> prints "READY <port>"; exits when stdin closes or on SIGTERM.
import { Catalog, instanceDefaults } from '../../src/catalog';
import type { HttpListenerOptions } from '../../src/proxy/http/http-listener';
import { createLogger } from '../../src/telemetry/logger';
import { httpGateway } from './gateway';

function arg(name: string, fallback = ''): string {
  const prefix = `--${name}=`;
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length) ?? fallback;
}

const port = Number(arg('upstream'));
const extra = JSON.parse(arg('options', '{}')) as Partial<HttpListenerOptions>;
const catalog = new Catalog();
catalog.replaceSource('static', 'APP', [
  { ...instanceDefaults(), id: `127.0.0.1:${port}`, service: 'APP', protocol: 'http', host: '127.0.0.1', port, stack: 'legacy', origin: { source: 'static' } },
]);
const { listener } = httpGateway(catalog, { policy: () => ({ timeoutMs: 30_000 }), listener: { logger: createLogger({ level: 'warn' }), ...extra } });

const stop = (): void => process.exit(0);
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
void listener.start().then(() => process.stdout.write(`READY ${listener.address.port}\n`));
