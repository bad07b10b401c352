// The `mesh-bridge` command: a thin layer over the library, one subcommand per file in commands/.
import { Command, CommanderError } from 'commander';
import { isMeshBridgeError } from '../errors';

/**
 * The subcommands, in help order, each loaded only when needed: a process running one of them does
 * not carry the others' dependencies (the sidecar's RSS without the bridge's registry clients,
 * express and their modules is about 30 MB smaller).
 */
const COMMANDS: Record<string, () => Command> = {
  bridge: () => (require('./commands/bridge') as typeof import('./commands/bridge')).bridgeCommand(),
  decode: () => (require('./commands/decode') as typeof import('./commands/decode')).decodeCommand(),
  cutover: () => (require('./commands/cutover') as typeof import('./commands/cutover')).cutoverCommand(),
  sidecar: () => (require('./commands/sidecar') as typeof import('./commands/sidecar')).sidecarCommand(),
};

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

/** The program with every subcommand, or with `only` when it names one (what `main` runs). */
export function buildProgram(only?: string): Command {
  const program = new Command('mesh-bridge')
    .description('Migration bridge between Dubbo 2 / ZooKeeper, Spring Cloud / Eureka and a service mesh')
    .version(packageVersion())
    .showHelpAfterError();
  const names = only !== undefined && Object.hasOwn(COMMANDS, only) ? [only] : Object.keys(COMMANDS);
  for (const name of names) program.addCommand(COMMANDS[name]());
  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await buildProgram(argv[2]).parseAsync(argv);
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
