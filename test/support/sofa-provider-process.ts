// Starts test/support/sofa-provider-child.ts: a sofa-rpc-node provider in its own process, stopped by PID.
import { ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';

export interface SofaProviderChild {
  port: number;
  address: string;
  /** The methods called so far, in order. */
  saw: string[];
  stop(): Promise<void>;
}

/** `methods`: name -> the source of an async function, e.g. `async (s) => s`. */
export async function startSofaProviderChild(iface: string, version: string, methods: Record<string, string>, timeoutMs = 30_000): Promise<SofaProviderChild> {
  const child: ChildProcess = fork(join(__dirname, 'sofa-provider-child.ts'), [JSON.stringify({ interface: iface, version, methods })], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const saw: string[] = [];
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sofa provider child did not start: ${output}`)), timeoutMs);
    child.on('message', (message: { port?: number; saw?: string }) => {
      if (message.saw !== undefined) saw.push(message.saw);
      if (message.port !== undefined) {
        clearTimeout(timer);
        resolve(message.port);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sofa provider child exited (${code}): ${output}`));
    });
  });
  return {
    port,
    address: `127.0.0.1:${port}`,
    saw,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
