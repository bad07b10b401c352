// The `mesh-bridge` command: a thin layer over the library, one subcommand per file in commands/.
import { Command, CommanderError } from 'commander';
import { isMeshBridgeError } from '../errors';
import { bridgeCommand } from './commands/bridge';
import { cutoverCommand } from './commands/cutover';
import { decodeCommand } from './commands/decode';
import { sidecarCommand } from './commands/sidecar';

/** The package version, from src/cli (under tsx) or dist/src/cli (built). */
function packageVersion(): string {
  for (const relative of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = require(relative) as { name?: string; version?: string };
      if (pkg.name === 'mesh-bridge' && pkg.version) return pkg.version;
    } catch {
      // not at this depth
    }
  }
  return 'unknown';
}

export function buildProgram(): Command {
  const program = new Command('mesh-bridge')
    .description('Migration bridge between Dubbo 2 / ZooKeeper, Spring Cloud / Eureka and a service mesh')
    .version(packageVersion())
    .showHelpAfterError();
  program.addCommand(bridgeCommand());
  program.addCommand(decodeCommand());
  program.addCommand(cutoverCommand());
  program.addCommand(sidecarCommand());
  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (isMeshBridgeError(err)) {
      process.stderr.write(`mesh-bridge: ${err.code}: ${err.message}\n`);
      process.exitCode = 1;
      return;
    }
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      process.stderr.write(`mesh-bridge: ${(err as Error).message}\n`);
      process.exitCode = 1;
      return;
    }
    // Anything else is a defect, still reported in one line; the stack only when asked for.
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`mesh-bridge: INTERNAL: ${message}${process.env.MESH_BRIDGE_DEBUG ? `\n${(err as Error).stack ?? ''}` : ' (MESH_BRIDGE_DEBUG=1 prints the stack)'}\n`);
    process.exitCode = 1;
  }
}

if (require.main === module) void main();
