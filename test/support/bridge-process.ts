// A real `mesh-bridge bridge` process for tests: the CLI run from source (tsx) with a config file
// written to a temporary directory, its logs kept, its admin address read from its start line,
// stopped by its PID with a signal.
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'src', 'cli', 'main.ts');

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function writeConfig(config: unknown): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-bridge-proc-'));
  const file = join(dir, 'bridge.yaml');
  // JSON is YAML: no quoting surprises.
  writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  return { dir, file };
}

function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs the CLI to its end (within `timeoutMs`, then SIGKILL) with a config file made of `config`. */
export async function runCli(args: string[], config?: unknown, options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliRun> {
  const written = config === undefined ? null : writeConfig(config);
  const child = spawnCli(written ? [...args, '--config', written.file] : args, options.env);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  if (written) rmSync(written.dir, { recursive: true, force: true });
  return { code, signal, stdout, stderr };
}

export class BridgeProcess {
  private output = '';
  private readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitedWith: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  /** `http://host:port` of the admin API, once the bridge logged that it runs. */
  admin = '';
  addresses: { admin: string; dubbo?: string; http?: string } = { admin: '' };

  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString('utf8')).slice(-200_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exit = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exitedWith = { code, signal };
        resolve({ code, signal });
      }),
    );
  }

  /**
   * Starts a bridge with this config; resolves once it logged its start line (`listening`: the
   * admin API answers). `waitFor: 'nothing'` returns at once.
   */
  static async start(config: unknown, options: { env?: Record<string, string>; waitFor?: 'listening' | 'nothing'; timeoutMs?: number } = {}): Promise<BridgeProcess> {
    const { dir, file } = writeConfig(config);
    const bridge = new BridgeProcess(spawnCli(['bridge', '--config', file], options.env), dir);
    if (options.waitFor === 'nothing') return bridge;
    try {
      const line = await bridge.waitForLog((entry) => typeof entry.admin === 'string' && String(entry.msg ?? '').includes('running'), options.timeoutMs ?? 30_000);
      bridge.addresses = line as unknown as BridgeProcess['addresses'];
      bridge.admin = `http://${String(line.admin)}`;
    } catch (err) {
      await bridge.kill();
      throw err;
    }
    return bridge;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Everything the process printed (the last 200 KB). */
  get log(): string {
    return this.output;
  }

  get exited(): { code: number | null; signal: NodeJS.Signals | null } | null {
    return this.exitedWith;
  }

  /** The JSON log lines printed so far. */
  logEntries(): Array<Record<string, unknown>> {
    const entries: Array<Record<string, unknown>> = [];
    for (const line of this.output.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        entries.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a line cut by the 200 KB window
      }
    }
    return entries;
  }

  /** Resolves with the first log entry matching, polling; rejects when the process exits first or at the deadline. */
  async waitForLog(match: (entry: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logEntries().find(match);
      if (found) return found;
      if (this.exitedWith) throw new Error(`the bridge exited (${JSON.stringify(this.exitedWith)}) before the awaited log line:\n${this.output.slice(-4000)}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for a log line:\n${this.output.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Sends a signal and waits for the exit (SIGKILL after `timeoutMs`). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.exitedWith) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const result = await this.exit;
    clearTimeout(timer);
    rmSync(this.dir, { recursive: true, force: true });
    return result;
  }

  /** Ends the process at once (cleanup after a failed test). */
  async kill(): Promise<void> {
    await this.stop('SIGKILL');
  }
}
