// `mesh-bridge bridge [--config FILE]`: registry sync, the Dubbo and HTTP listeners and the admin
// API in one process. Without a config file it runs the embedded default: an embedded Eureka
// registry and both listeners on 127.0.0.1, no ZooKeeper.
import { Command } from 'commander';
import { Bridge } from '../../bridge/bridge-process';
import { BridgeConfig, loadBridgeConfig, validateBridgeConfig } from '../../bridge/config';
import { MeshBridgeError } from '../../errors';
import { createLogger, registerLogMetrics } from '../../telemetry/logger';
import { Registry, collectProcessMetrics } from '../../telemetry/metrics';
import { Redactor } from '../../telemetry/redact';
import { stopOnSignals } from '../stop-signals';

/** How long a stop may take before the process exits anyway. */
const STOP_DEADLINE_MS = 5000;

export function bridgeCommand(): Command {
  return new Command('bridge')
    .description('run registry sync, the Dubbo and HTTP listeners and the admin API')
    .option('-c, --config <file>', 'YAML config file (validated at start); without it, the embedded default')
    .option('--check', 'validate the config and print it with defaults filled in, then exit')
    .action(async (opts: { config?: string; check?: boolean }) => {
      const config: BridgeConfig = opts.config ? loadBridgeConfig(opts.config) : validateBridgeConfig({});
      if (opts.check) {
        process.stdout.write(JSON.stringify(config, null, 2) + '\n');
        return;
      }
      const { level, ...output } = config.log;
      const logger = createLogger({ level, redactor: new Redactor(config.redact.keys), output });
      const metrics = new Registry();
      registerLogMetrics(metrics);
      collectProcessMetrics(metrics);
      const bridge = new Bridge(config, logger, metrics);
      // Installed before anything starts: a stop at any moment withdraws this bridge's
      // registrations at once instead of leaving them to a session timeout.
      stopOnSignals(logger, 'registrations withdrawn, requests in flight finished', (deadline) => bridge.stop(deadline), STOP_DEADLINE_MS);
      let addresses;
      try {
        addresses = await bridge.start();
      } catch (err) {
        if (err instanceof MeshBridgeError && err.code === 'BRIDGE_STOPPED') return new Promise(() => undefined); // the signal handler exits
        // Whatever did start is closed, so the process ends with the error instead of lingering.
        await bridge.stop(0).catch(() => undefined);
        throw err;
      }
      const health = bridge.health();
      logger.info({ ...addresses, health: health.status }, `mesh-bridge ${config.bridge.id} running${health.status === 'ok' ? '' : ' degraded'}: admin http://${addresses.admin}/status`);
      await new Promise(() => undefined);
    });
}
