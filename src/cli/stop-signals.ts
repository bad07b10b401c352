// SIGTERM and SIGINT stop a long-running command once: its own graceful stop, bounded by a
// deadline, then the process exits (1 if the stop failed or overran).
import type { Logger } from '../telemetry/logger';

/** Installs the handlers; `what` says what a stop does, for the log line. */
export function stopOnSignals(logger: Logger, what: string, stop: (deadlineMs: number) => Promise<void>, deadlineMs = 5000): void {
  let stopping = false;
  const onSignal = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: stopping (${what}, ${deadlineMs / 1000} s at most)`);
    setTimeout(() => process.exit(1), deadlineMs + 3000).unref();
    stop(deadlineMs).then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}
