// `mesh-bridge bridge [--config FILE]`: registry sync, the Dubbo and HTTP listeners and the admin
// API in one process. Without a config file it runs the embedded default: an embedded Eureka
// registry and both listeners on 127.0.0.1, no ZooKeeper.
import { Command } from 'commander';
import { Bridge } from '../../bridge/bridge-process';
import { BridgeConfig, loadBridgeConfig, validateBridgeConfig } from '../../bridge/config';
import { createLogger } from '../../telemetry/logger';

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
      const logger = createLogger({ level: config.log.level });
      const bridge = new Bridge(config, logger);
      const addresses = await bridge.start();
      logger.info(addresses, `mesh-bridge ${config.bridge.id} running: admin http://${addresses.admin}/status`);
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        logger.info(`${signal}: stopping (finishing requests in flight, 5 s at most)`);
        bridge.stop(5000).then(
          () => process.exit(0),
          (err) => {
            logger.error({ err }, 'error while stopping');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      await new Promise(() => undefined);
    });
}
