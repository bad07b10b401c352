// Child processes of the benchmarks: our Node children run compiled, as users run mesh-bridge
// (bin/mesh-bridge.js runs dist/), from dist-bench/ (tsconfig.bench.json, built incrementally at the
// first start); BENCH_RUN=tsx runs them under tsx's loader instead. Either way the PID is the Node
// process itself, not a wrapper. Children are ready when they print "READY <port>", stopped by PID, and
// measured from /proc/<pid>/stat (utime + stime) and /proc/<pid>/status (VmRSS).
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

const SUPPORT = __dirname;
const ROOT = join(__dirname, '..', '..');
/** Our Node children run as compiled JavaScript unless BENCH_RUN=tsx. */
export const RUN_COMPILED = process.env.BENCH_RUN !== 'tsx';
const COMPILED_SUPPORT = join(ROOT, 'dist-bench', 'bench', 'support');
let benchBuilt = false;

/**
 * Compiles src/, bench/support/ and test/support/ into dist-bench/ (incremental: seconds when
 * little changed). Under tsx a process pays for its loader and for re-exports read through getters
 * (3-8 % of the bridge's CPU per request measured here), which the compared proxies, plain
 * JavaScript or C, do not.
 */
function ensureBenchBuilt(): void {
  if (benchBuilt) return;
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.bench.json')], { stdio: 'inherit' });
  benchBuilt = true;
}

/** Node's arguments to run one of bench/support/*.ts: its compiled form, or under tsx (BENCH_RUN=tsx). */
export function nodeScriptArgs(script: string, args: string[], nodeFlags: string[] = []): string[] {
  if (!RUN_COMPILED) return [...nodeFlags, '--import', 'tsx', join(SUPPORT, script), ...args];
  ensureBenchBuilt();
  return [...nodeFlags, join(COMPILED_SUPPORT, script.replace(/\.ts$/, '.js')), ...args];
}
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface Child {
  name: string;
  pid: number;
  port: number;
  process: ChildProcess;
  /** Everything written to stderr, for error reports. */
  stderr(): string;
}

const running = new Set<ChildProcess>();

function describeExit(name: string, code: number | null, signal: NodeJS.Signals | null, stderr: string): string {
  return `${name} exited (${signal ?? `code ${code}`}) before it was ready${stderr ? `:\n${stderr.trim()}` : ''}`;
}

/** Resolves once something accepts TCP connections on the port. */
async function waitForPort(port: number, until: number, gone: () => boolean): Promise<void> {
  while (!gone()) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (performance.now() > until) throw new Error(`nothing listening on port ${port}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Spawns a process and resolves once it prints "READY <port>", or, with `readyPort`, once that
 * port accepts connections (for programs that print nothing, such as nginx).
 */
export function startProcess(
  name: string,
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; readyTimeoutMs?: number; readyPort?: number } = {},
): Promise<Child> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let err = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    if (err.length < 20_000) err += s;
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${name} not ready within ${options.readyTimeoutMs ?? 15_000} ms${err ? `:\n${err}` : ''}`)), options.readyTimeoutMs ?? 15_000);
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(timer);
      reject(new Error(describeExit(name, code, signal, err)));
    };
    child.once('exit', onExit);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${name}: ${e.message}`));
    });
    child.stdout?.setEncoding('utf8');
    const readyPort = options.readyPort;
    if (readyPort !== undefined) {
      child.stdout?.resume();
      waitForPort(readyPort, performance.now() + (options.readyTimeoutMs ?? 15_000), () => child.exitCode !== null || child.signalCode !== null).then(
        () => {
          clearTimeout(timer);
          child.off('exit', onExit);
          if (child.exitCode !== null || child.signalCode !== null) return; // onExit rejected already
          resolve({ name, pid: child.pid as number, port: readyPort, process: child, stderr: () => err });
        },
        (e: Error) => {
          clearTimeout(timer);
          reject(new Error(`${name}: ${e.message}${err ? `:\n${err}` : ''}`));
        },
      );
      return;
    }
    const onData = (s: string): void => {
      out += s;
      const match = /READY (\d+)/.exec(out);
      if (match === null) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      child.stdout?.off('data', onData);
      child.stdout?.resume();
      resolve({ name, pid: child.pid as number, port: Number(match[1]), process: child, stderr: () => err });
    };
    child.stdout?.on('data', onData);
  });
}

/** Runs one of bench/support/*.ts in its own Node process. */
export function startNodeChild(name: string, script: string, args: string[] = [], nodeFlags: string[] = [], env?: NodeJS.ProcessEnv): Promise<Child> {
  return startProcess(name, process.execPath, nodeScriptArgs(script, args, nodeFlags), { env });
}

/** Stops one child by its PID and waits (bounded) for it to exit. */
export async function stopChild(child: Child, timeoutMs = 5000): Promise<void> {
  const proc = child.process;
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
  if ((await Promise.race([exited, timer])) === 'timeout') {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
    await exited;
  }
}

/** Stops every child by PID when the bench is interrupted, terminated or exits, whichever comes first. */
export function stopChildrenOnExit(log: (message: string) => void): void {
  process.on('SIGINT', () => {
    log('interrupted: stopping children');
    killAllNow('SIGTERM');
    process.exit(130);
  });
  process.on('SIGTERM', () => {
    killAllNow('SIGTERM');
    process.exit(143);
  });
  process.on('exit', () => killAllNow('SIGTERM'));
}

/** Last resort on error / SIGINT / exit: signal every child still running, by PID. */
export function killAllNow(signal: NodeJS.Signals = 'SIGTERM'): void {
  for (const proc of running) {
    if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) continue;
    try {
      process.kill(proc.pid, signal);
    } catch {
      // gone meanwhile
    }
  }
}

export interface ProcSample {
  cpuMs: number;
  /** The kernel's part of cpuMs (stime). */
  sysMs: number;
  rssMb: number;
  /** read-like plus write-like system calls so far (/proc/<pid>/io syscr + syscw); NaN when unreadable. */
  syscalls: number;
}

/** CPU time (user + system), resident set and system calls of a process, from /proc. */
export function sampleProc(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = /VmRSS:\s+(\d+) kB/.exec(status);
  let syscalls = NaN;
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const r = /syscr:\s+(\d+)/.exec(io);
    const w = /syscw:\s+(\d+)/.exec(io);
    if (r && w) syscalls = Number(r[1]) + Number(w[1]);
  } catch {
    // not readable here
  }
  return { cpuMs: ((utime + stime) * 1000) / CLK_TCK, sysMs: (stime * 1000) / CLK_TCK, rssMb: rss ? Number(rss[1]) / 1024 : NaN, syscalls };
}

export interface LineWaiter {
  /** Resolves with the first line matching, or rejects when the process exits first. */
  next(pattern: RegExp): Promise<RegExpExecArray>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/** Runs a process to completion, handing out its stdout lines as they come. */
export function runProcess(command: string, args: string[]): { child: ChildProcess; lines: LineWaiter; stderr(): string } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let err = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => (err += s));
  const seen: string[] = [];
  const waiters: { pattern: RegExp; resolve(m: RegExpExecArray): void }[] = [];
  let buffered = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (s: string) => {
    buffered += s;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      seen.push(line);
      for (let i = 0; i < waiters.length; i++) {
        const m = waiters[i].pattern.exec(line);
        if (m) {
          waiters[i].resolve(m);
          waiters.splice(i, 1);
          i--;
        }
      }
    }
  });
  const exited = new Promise<number | null>((resolve) =>
    // 'close', not 'exit': stdout has been read to its end by then.
    child.once('close', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const lines: LineWaiter = {
    exited,
    next(pattern) {
      for (const line of seen) {
        const m = pattern.exec(line);
        if (m) return Promise.resolve(m);
      }
      return new Promise((resolve, reject) => {
        waiters.push({ pattern, resolve });
        void exited.then((code) => {
          const idx = waiters.findIndex((w) => w.pattern === pattern);
          if (idx >= 0) reject(new Error(`${command} exited (code ${code}) without printing ${pattern}${err ? `:\n${err.trim()}` : ''}`));
        });
      });
    },
  };
  return { child, lines, stderr: () => err };
}

