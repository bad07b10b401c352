// wrk (one thread, --latency) against a URL with `Host: app`, and its output parsed.
import { existsSync } from 'node:fs';
import { runProcess } from './processes';

export const WRK = '/usr/bin/wrk';

export interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  p50us: number;
  p99us: number;
  /** Non-2xx/3xx responses plus socket errors. */
  errors: number;
}

export function wrkAvailable(): boolean {
  return existsSync(WRK);
}

function toMicros(value: string, unit: string): number {
  const n = Number(value);
  switch (unit) {
    case 'us':
      return n;
    case 'ms':
      return n * 1000;
    case 's':
      return n * 1_000_000;
    case 'm':
      return n * 60_000_000;
    default:
      throw new Error(`unknown wrk time unit ${unit}`);
  }
}

export function parseWrk(output: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m),/.exec(output);
  const p50 = /^\s*50%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(output);
  const p99 = /^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(output);
  if (!rps || !total || !p50 || !p99) throw new Error(`could not parse wrk output:\n${output}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(output);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  let errors = non2xx ? Number(non2xx[1]) : 0;
  if (socketErrors) errors += Number(socketErrors[1]) + Number(socketErrors[2]) + Number(socketErrors[3]) + Number(socketErrors[4]);
  return {
    requests: Number(total[1]),
    seconds: toMicros(total[2], total[3]) / 1e6,
    rps: Number(rps[1]),
    p50us: toMicros(p50[1], p50[2]),
    p99us: toMicros(p99[1], p99[2]),
    errors,
  };
}

/** One wrk run; resolves with the parsed result. */
export async function runWrk(port: number, connections: number, seconds: number): Promise<WrkResult> {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-H', 'Host: app', `http://127.0.0.1:${port}/`];
  const run = runProcess(WRK, args);
  let out = '';
  run.child.stdout?.on('data', (s: string) => (out += s));
  const code = await run.lines.exited;
  if (code !== 0) throw new Error(`wrk exited with code ${code}: ${run.stderr()}\n${out}`);
  return parseWrk(out);
}
