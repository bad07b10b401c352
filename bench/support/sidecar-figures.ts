// Figures of the sidecar benchmark over interleaved rounds: per system the median of each round's
// run; what compares two systems is computed within each round (both ran moments apart) and the
// median of those per-round values is reported with its min..max.

/** One load run of one system. */
export interface Run {
  rps: number;
  p50us: number;
  p99us: number;
  requests: number;
  errors: number;
  /** Proxy CPU over the measured window, ms; NaN without a proxy process. */
  cpuMs: number;
}

export type Level = 'low' | 'high';

/** One system's runs, by round (undefined: not measured that round). */
export interface SystemRuns {
  name: string;
  rounds: Array<Partial<Record<Level, Run>>>;
  /** Largest VmRSS seen after a round's runs, MB; NaN without a proxy process. */
  rssMb: number;
  error?: string;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  /** In round order, NaN where a round has none. */
  values: number[];
}

export function spread(values: number[]): Spread {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  const mid = v.length >> 1;
  const median = v.length === 0 ? NaN : v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v.length > 0 ? v[0] : NaN, max: v.length > 0 ? v[v.length - 1] : NaN, values };
}

/** A figure of one system, per round. */
export function own(r: SystemRuns | undefined, level: Level, f: (run: Run) => number): Spread {
  return spread((r?.rounds ?? []).map((round) => (round[level] ? f(round[level]) : NaN)));
}

/** A figure comparing two systems within each round where both were measured. */
export function paired(a: SystemRuns | undefined, b: SystemRuns | undefined, rounds: number, level: Level, f: (a: Run, b: Run) => number): Spread {
  const values: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const x = a?.rounds[i]?.[level];
    const y = b?.rounds[i]?.[level];
    values.push(x && y ? f(x, y) : NaN);
  }
  return spread(values);
}

export const rpsRatio = (a: Run, b: Run): number => a.rps / b.rps;
export const p50Add = (a: Run, b: Run): number => a.p50us - b.p50us;
export const p99Add = (a: Run, b: Run): number => a.p99us - b.p99us;
export const cpuUsPerReq = (run: Run): number => (run.cpuMs * 1000) / run.requests;
export const cpuRatio = (a: Run, b: Run): number => cpuUsPerReq(a) / cpuUsPerReq(b);

export const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');
const fmtAdd = (n: number): string => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${n.toFixed(0)}` : '-');
export const fmtRange = (s: Spread, digits = 0): string => (Number.isFinite(s.min) ? `${fmt(s.min, digits)}..${fmt(s.max, digits)}` : '-');

/** Columns aligned, the first left, the others right. */
export function align(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

/**
 * One protocol's table: per system rps, latencies and what it adds to `direct` (the first row),
 * its rps over the passthrough sidecar's (`vs passthrough`), proxy CPU per request and RSS.
 */
export function table(title: string, results: SystemRuns[], rounds: number, high: number, passthrough: string): string {
  const direct = results[0];
  const base = results.find((r) => r.name === passthrough);
  const header = [
    'system',
    `rps@${high}`,
    'min..max',
    `/passthrough@${high}`,
    'min..max',
    'p50@1',
    'p99@1',
    '+p50@1',
    'min..max',
    '+p99@1',
    `p50@${high}`,
    `p99@${high}`,
    `+p50@${high}`,
    `cpu µs/req@${high}`,
    'min..max',
    'rss MB',
    'errors',
  ];
  const rows = results.map((r) => {
    const rps = own(r, 'high', (run) => run.rps);
    const vsBase = base && r !== base ? paired(r, base, rounds, 'high', rpsRatio) : spread([]);
    const add = (level: Level, f: (a: Run, b: Run) => number): Spread => (r === direct ? spread([]) : paired(r, direct, rounds, level, f));
    const addP50 = add('low', p50Add);
    const cpu = own(r, 'high', cpuUsPerReq);
    const errors = r.rounds.reduce((sum, round) => sum + (round.low?.errors ?? 0) + (round.high?.errors ?? 0), 0);
    return [
      r.name + (r.error ? ' (FAILED)' : ''),
      fmt(rps.median),
      fmtRange(rps),
      fmt(vsBase.median, 2),
      fmtRange(vsBase, 2),
      fmt(own(r, 'low', (run) => run.p50us).median),
      fmt(own(r, 'low', (run) => run.p99us).median),
      fmtAdd(addP50.median),
      Number.isFinite(addP50.min) ? `${fmtAdd(addP50.min)}..${fmtAdd(addP50.max)}` : '-',
      fmtAdd(add('low', p99Add).median),
      fmt(own(r, 'high', (run) => run.p50us).median),
      fmt(own(r, 'high', (run) => run.p99us).median),
      fmtAdd(add('high', p50Add).median),
      fmt(cpu.median, 1),
      fmtRange(cpu, 1),
      fmt(r.rssMb, 1),
      String(errors),
    ];
  });
  return [title, ...align(header, rows)].join('\n');
}
