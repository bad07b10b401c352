// Starts test/support/dubbo-bridge-child.ts in a child process (optionally under a file-descriptor
// limit) and reads its memory from /proc: what the bridge holds, apart from the test's own heap.
import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BridgeChildConfig } from './dubbo-bridge-child';

export interface BridgeChild {
  readonly pid: number;
  readonly port: number;
  readonly alive: boolean;
  /** Resident set size in MiB, from /proc/<pid>/status. */
  rssMb(): number;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

export async function startBridgeChild(config: BridgeChildConfig, options: { maxOpenFiles?: number } = {}): Promise<BridgeChild> {
  const script = join(__dirname, 'dubbo-bridge-child.ts');
  const node = [process.execPath, '--import', 'tsx', script, JSON.stringify(config)];
  const argv = options.maxOpenFiles ? ['prlimit', `--nofile=${options.maxOpenFiles}:${options.maxOpenFiles}`, ...node] : node;
  const child: ChildProcess = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], cwd: join(__dirname, '..', '..') });
  let exited = false;
  child.on('exit', () => (exited = true));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the bridge child did not start within 20 s')), 20_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the bridge child exited with ${code} before listening`));
    });
  });
  let nextId = 1;
  const waiting = new Map<number, (value: number) => void>();
  child.on('message', (message: { id: number; value: number }) => {
    waiting.get(message.id)?.(message.value);
    waiting.delete(message.id);
  });
  const pid = child.pid as number;
  return {
    pid,
    port,
    get alive() {
      return !exited;
    },
    rssMb() {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
      return kb / 1024;
    },
    metric(name, labels) {
      const id = nextId++;
      return new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer from the bridge child for ${name}`)), 10_000);
        waiting.set(id, (value) => {
          clearTimeout(timer);
          resolve(value);
        });
        child.send({ id, name, labels });
      });
    },
    async stop() {
      if (exited) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await gone;
    },
  };
}
