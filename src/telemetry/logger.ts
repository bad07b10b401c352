// Structured logs (pino). Parts take a logger; tests pass a silent one.
import pino, { Logger } from 'pino';
import { z } from 'zod';
import { Redactor } from './redact';
import { Registry, counter } from './metrics';

export type { Logger };

/**
 * How the processes write their log lines to stdout. pino's default writes each line on its own,
 * through libuv's thread pool: about 80 us of CPU per line here, against about 28 buffered, which
 * at the access log's 1 % sample was 0.5 us of every request. Buffered lines are written when
 * `bufferBytes` have gathered or `flushMs` passed, and at exit; past `maxBufferBytes` (stdout not
 * taken) lines are dropped and counted, never held without bound and never blocking the process.
 */
export const logOutputSchema = z
  .object({
    /** Bytes gathered before a write; 0 writes every line on its own (below sonic-boom's 16 KiB write). */
    bufferBytes: z.number().int().min(0).max(16_000).default(4096),
    /** The longest a line waits in the buffer. */
    flushMs: z.number().int().min(10).max(60_000).default(1000),
    /** Lines that would grow the buffer past this are dropped (mesh_bridge_log_lines_dropped_total). */
    maxBufferBytes: z.number().int().min(64 * 1024).max(256 << 20).default(4 << 20),
  })
  .strict();
export type LogOutput = z.infer<typeof logOutputSchema>;

let droppedLines = 0;

/** Counts the log lines dropped because stdout did not take them, in a registry's /metrics. */
export function registerLogMetrics(registry: Registry): void {
  if (registry.getSingleMetric('mesh_bridge_log_lines_dropped_total') !== undefined) return;
  const dropped = counter(registry, 'mesh_bridge_log_lines_dropped_total', 'Log lines dropped because stdout did not take them (the log buffer was full)');
  let reported = 0;
  (dropped as unknown as { collect(): void }).collect = () => {
    dropped.inc(droppedLines - reported);
    reported = droppedLines;
  };
}

/** stdout through a buffer: written when a line that must not wait is logged, every `flushMs` while bulk lines wait, and at exit (pino registers the exit flush). */
class BufferedStdout {
  readonly destination;
  /** Bulk lines wait in the buffer. */
  private waiting = false;

  constructor(output: LogOutput) {
    this.destination = pino.destination({ dest: 1, sync: false, minLength: output.bufferBytes, maxLength: output.maxBufferBytes });
    this.destination.on('drop', (data: string) => {
      // One event per refused write: count its lines.
      let lines = 0;
      for (let at = data.indexOf('\n'); at >= 0; at = data.indexOf('\n', at + 1)) lines++;
      droppedLines += Math.max(1, lines);
    });
    if (output.bufferBytes > 0) setInterval(() => this.waiting && this.flush(), output.flushMs).unref();
  }

  /** After a line was logged: a bulk one may wait, any other goes out now with what waited. */
  logged(bulk: boolean): void {
    if (bulk) this.waiting = true;
    else this.flush();
  }

  private flush(): void {
    // A write in flight (sonic-boom's own field; when it is not there, assume one) leaves the
    // buffer as it is: the timer tries again.
    this.waiting = (this.destination as unknown as { _writing?: boolean })._writing !== false;
    this.destination.flush();
  }
}

/** Set on a logger whose lines may wait in the buffer (bulkLogger). */
const BULK = Symbol('mesh-bridge.bulk-log');

/**
 * A child of `logger` for high-volume lines (the access log): with a buffered output they wait for
 * the buffer to fill or the flush timer, where every other line is written at once.
 */
export function bulkLogger(logger: Logger): Logger {
  const child = logger.child({});
  (child as unknown as Record<symbol, boolean>)[BULK] = true;
  return child;
}

/**
 * A logger; with a redactor (the default), secrets in log objects and messages are masked. With
 * `output`, lines go to stdout through a buffer that only bulk lines wait in (bulkLogger): every
 * other line (lifecycle, warnings, audit) is written as soon as it is logged, as without `output`.
 */
export function createLogger(options: { level?: string; name?: string; redactor?: Redactor | null; output?: LogOutput } = {}): Logger {
  const redactor = options.redactor === undefined ? new Redactor() : options.redactor;
  const output = options.output === undefined ? undefined : new BufferedStdout(options.output);
  const pinoOptions = {
    level: options.level ?? process.env.MESH_BRIDGE_LOG_LEVEL ?? 'info',
    name: options.name ?? 'mesh-bridge',
    ...(redactor === null ? {} : { formatters: { log: (object: Record<string, unknown>) => redactor.value(object) as Record<string, unknown> } }),
    hooks: {
      logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void) {
        method.apply(this, redactor === null ? args : args.map((arg) => (typeof arg === 'string' ? redactor.text(arg) : arg)));
        output?.logged((this as unknown as Record<symbol, boolean>)[BULK] === true);
      },
    },
  };
  return output === undefined ? pino(pinoOptions) : pino(pinoOptions, output.destination);
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
