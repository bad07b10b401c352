// Starts test/support/http-listener-child.ts in its own process (optionally under `ulimit -n`), so a
// test can read its RSS from /proc or starve it of file descriptors. Stopped by PID.
import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ListenerChild {
  child: ChildProcess;
  port: number;
  /** Everything the child wrote to stdout and stderr (its warnings are pino lines on stdout). */
  output: () => string;
  /** VmRSS of the child, in KiB. */
  rssKb: () => number;
  stop: () => Promise<void>;
}

export async function startListenerChild(upstreamPort: number, options: Record<string, unknown> = {}, fileLimit?: number): Promise<ListenerChild> {
  const script = join(__dirname, 'http-listener-child.ts');
  const args = ['--import', 'tsx', script, `--upstream=${upstreamPort}`, `--options=${JSON.stringify(options)}`];
  const quoted = [process.execPath, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child =
    fileLimit === undefined
      ? spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] })
      : spawn('bash', ['-c', `ulimit -n ${fileLimit} && exec ${quoted}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`listener child did not start: ${output}`)), 30_000);
    const check = (): void => {
      const match = /READY (\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`listener child exited (${code}): ${output}`));
    });
  });
  const pid = child.pid as number;
  return {
    child,
    port,
    output: () => output,
    rssKb: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN),
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
