// What every bench child shares: announce the listening port on stdout as "READY <port>" for the
// parent, and exit cleanly (process.exit, so --cpu-prof writes its profile) on SIGTERM / SIGINT.
import type { Server } from 'node:net';

export function announce(server: Server): void {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('not listening on TCP');
  process.stdout.write(`READY ${address.port}\n`);
}

export function announcePort(port: number): void {
  process.stdout.write(`READY ${port}\n`);
}

export function exitOnSignal(cleanup?: () => void): void {
  const stop = (): void => {
    try {
      cleanup?.();
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The parent went away without signalling (killed hard): do not linger.
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}

/** The value of `--name=value` on the command line, or the fallback. */
export function arg(name: string, fallback?: string): string {
  const prefix = `--${name}=`;
  const found = process.argv.find((a) => a.startsWith(prefix));
  if (found !== undefined) return found.slice(prefix.length);
  if (fallback !== undefined) return fallback;
  throw new Error(`missing --${name}=...`);
}
