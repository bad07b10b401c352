// The bridge in a process of its own (node with tsx's hooks, so its PID is the bridge's), for tests
// and the demo that must kill it for real: SIGKILL leaves its ZooKeeper session to time out, as a
// crashed bridge does; stop() is the graceful SIGTERM path.
import { ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';

export interface BridgeChild {
  readonly pid: number;
  /** `host:port` of the admin API, and of the Dubbo and HTTP listeners when enabled. */
  readonly admin: string;
  readonly dubbo?: string;
  readonly http?: string;
  /** What the process printed (its log at the configured level). */
  output(): string;
  /** SIGKILL, and resolves when it exited. */
  kill(): Promise<void>;
  /** SIGTERM (the bridge withdraws what it wrote), SIGKILL after `deadlineMs`. */
  stop(deadlineMs?: number): Promise<void>;
}

const SCRIPT = `
const { Bridge } = require('./src/bridge/bridge-process');
const { validateBridgeConfig } = require('./src/bridge/config');
const { createLogger } = require('./src/telemetry/logger');
const config = validateBridgeConfig(JSON.parse(process.env.MESH_BRIDGE_CONFIG));
const bridge = new Bridge(config, createLogger({ level: config.log.level }));
bridge.start().then(
  (addresses) => process.stdout.write('READY ' + JSON.stringify(addresses) + '\\n'),
  (err) => { console.error(err); process.exit(2); },
);
process.once('SIGTERM', () => bridge.stop(2000).then(() => process.exit(0), () => process.exit(1)));
`;

/** Starts a bridge process from a config object (validated there); resolves once it listens and synced. */
export async function startBridgeChild(config: unknown, timeoutMs = 30_000): Promise<BridgeChild> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', '--eval', SCRIPT], {
    cwd: resolve(__dirname, '../..'),
    env: { ...process.env, MESH_BRIDGE_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const addresses = await new Promise<{ admin: string; dubbo?: string; http?: string }>((resolveReady, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bridge process not ready within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = (): void => {
      const match = /READY (\{.*\})\n/.exec(output);
      if (match === null) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      resolveReady(JSON.parse(match[1]) as { admin: string; dubbo?: string; http?: string });
    };
    child.stdout?.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`bridge process exited before it was ready:\n${output}`));
    });
  });
  const signal = async (name: NodeJS.Signals, deadlineMs: number): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(name);
    const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
    await exited;
    clearTimeout(timer);
  };
  return {
    pid: child.pid as number,
    ...addresses,
    output: () => output,
    kill: () => signal('SIGKILL', 0),
    stop: (deadlineMs = 5000) => signal('SIGTERM', deadlineMs),
  };
}
