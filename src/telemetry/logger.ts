// Structured logs (pino). Parts take a logger; tests pass a silent one.
import pino, { Logger } from 'pino';
import { Redactor } from './redact';

export type { Logger };

/** A logger; with a redactor (the default), secrets in log objects and messages are masked. */
export function createLogger(options: { level?: string; name?: string; redactor?: Redactor | null } = {}): Logger {
  const redactor = options.redactor === undefined ? new Redactor() : options.redactor;
  return pino({
    level: options.level ?? process.env.MESH_BRIDGE_LOG_LEVEL ?? 'info',
    name: options.name ?? 'mesh-bridge',
    ...(redactor === null
      ? {}
      : {
          formatters: { log: (object: Record<string, unknown>) => redactor.value(object) as Record<string, unknown> },
          hooks: {
            logMethod(args: unknown[], method: (...a: unknown[]) => void) {
              method.apply(this, args.map((arg) => (typeof arg === 'string' ? redactor.text(arg) : arg)));
            },
          },
        }),
  });
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * Logs a bad input once per distinct key (e.g. a znode name), so a registry full of one
 * malformed entry does not flood the log on every watch event. Remembers a bounded number of keys.
 */
export class LogOnce {
  private readonly seen = new Set<string>();

  constructor(private readonly max = 10_000) {}

  /** True the first time a key is seen (until the memory is full and starts over). */
  first(key: string): boolean {
    if (this.seen.has(key)) return false;
    if (this.seen.size >= this.max) this.seen.clear();
    this.seen.add(key);
    return true;
  }
}
