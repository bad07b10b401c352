// `mesh-bridge sidecar --config FILE [--check] [--watch]`: the mesh sidecar beside one app, an
// inbound and an outbound HTTP stack with filters, and its admin port. SIGHUP (and with --watch, a
// change of the file) re-reads the file: a valid change is applied without dropping connections, a
// bad one is refused (logged with its key paths) and the running config kept. SIGTERM/SIGINT drain
// and stop.
import { Command } from 'commander';
import { ConfigError } from '../../errors';
import { Sidecar } from '../../mesh-sidecar/sidecar';
import { loadSidecarConfig } from '../../mesh-sidecar/config';
import { watchConfigFile } from '../../mesh-sidecar/config-watch';
import { createLogger, registerLogMetrics } from '../../telemetry/logger';
import { Registry, collectProcessMetrics } from '../../telemetry/metrics';
import { stopOnSignals } from '../stop-signals';

const STOP_DEADLINE_MS = 5000;

export function sidecarCommand(): Command {
  return new Command('sidecar')
    .description('run the mesh sidecar beside an app: inbound and outbound HTTP stacks with filters, admin on /metrics /status /healthz')
    .requiredOption('-c, --config <file>', 'YAML config file (validated at start and on every SIGHUP)')
    .option('--watch', 'also reload when the config file changes (as SIGHUP does)')
    .option('--check', 'validate the config, print every error with its key path (or the config with defaults), then exit')
    .action(async (opts: { config: string; check?: boolean; watch?: boolean }) => {
      if (opts.check) {
        try {
          const config = loadSidecarConfig(opts.config);
          process.stdout.write(JSON.stringify(config, null, 2) + '\n');
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          const problems = Array.isArray(err.value) ? (err.value as string[]) : [err.message];
          process.stderr.write(`${opts.config}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${problems.map((p) => `  ${p}\n`).join('')}`);
          process.exitCode = 1;
        }
        return;
      }
      const config = loadSidecarConfig(opts.config);
      const { level, ...output } = config.log;
      const logger = createLogger({ level, name: 'mesh-sidecar', output });
      const metrics = new Registry();
      registerLogMetrics(metrics);
      collectProcessMetrics(metrics);
      const sidecar = new Sidecar(config, logger, metrics, opts.config);
      stopOnSignals(logger, 'requests in flight finished', (deadline) => sidecar.stop(deadline), STOP_DEADLINE_MS);
      const reload = (why: string): void => {
        logger.info(`${why}: re-reading ${opts.config}`);
        sidecar.reloadFromFile().catch((err) => logger.error({ err }, 'config reload failed'));
      };
      process.on('SIGHUP', () => reload('SIGHUP'));
      if (opts.watch) watchConfigFile(opts.config, () => reload('the config file changed'), logger);
      let addresses;
      try {
        addresses = await sidecar.start();
      } catch (err) {
        await sidecar.stop(0).catch(() => undefined);
        throw err;
      }
      logger.info({ addresses }, `mesh sidecar for ${config.app} running: admin http://${addresses.admin}/status`);
      await new Promise(() => undefined);
    });
}
