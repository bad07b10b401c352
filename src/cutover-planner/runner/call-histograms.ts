// The bridges' call histograms as the judge needs them: `mesh_bridge_request_duration_seconds`
// read from each replica's Prometheus text, diffed against the scrape taken when the step's hold
// began (a replica whose counters fell was restarted: its whole count is new), summed across
// replicas, and cut into one service's ServiceWindow. Pure: text and times come in.
import { MeshBridgeError } from '../../errors';
import { OUTCOMES, Outcome } from '../../proxy/failure-class';
import { CALL_LATENCY_METRIC } from '../../proxy/stats/call-latency';
import type { MethodWindow, ServiceWindow, StackWindow } from '../judge';

export type StackName = 'legacy' | 'mesh';

/** One series (service, stack, method, outcome; protocols added up): cumulative bucket counts. */
export interface Series {
  service: string;
  stack: StackName;
  method: string;
  outcome: Outcome;
  /** Upper bounds in seconds, ascending; the last is Infinity. */
  le: number[];
  cumulative: number[];
}

/** One replica's histograms at one moment, by series key. */
export type Snapshot = Map<string, Series>;

/** Most series one scrape may hold: a bound on what a replica's answer can make us keep. */
export const MAX_SERIES = 200_000;

const KNOWN_OUTCOMES = new Set<string>(OUTCOMES);
const BUCKET = `${CALL_LATENCY_METRIC}_bucket`;

function seriesKey(service: string, stack: string, method: string, outcome: string): string {
  return `${service}\u0000${stack}\u0000${method}\u0000${outcome}`;
}

function badText(message: string, value: unknown, where: string): MeshBridgeError {
  return new MeshBridgeError('CUTOVER_BAD_METRICS', message, { value, where });
}

/** `a="x",b="y\"z"` as an object; null when malformed. */
function parseLabels(text: string): Record<string, string> | null {
  const labels: Record<string, string> = Object.create(null) as Record<string, string>;
  let i = 0;
  while (i < text.length) {
    while (text[i] === ',' || text[i] === ' ') i++;
    if (i >= text.length) break;
    const eq = text.indexOf('=', i);
    if (eq < 0 || text[eq + 1] !== '"') return null;
    const name = text.slice(i, eq).trim();
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\' && j + 1 < text.length) {
        j++;
        value += text[j] === 'n' ? '\n' : text[j];
      } else {
        value += text[j];
      }
    }
    if (j >= text.length) return null;
    labels[name] = value;
    i = j + 1;
  }
  return labels;
}

function parseLe(raw: string): number {
  return raw === '+Inf' ? Infinity : Number(raw);
}

/**
 * The call histograms in one replica's `/metrics` text. Other metrics are skipped; the same
 * series of two protocols (a service on Dubbo and HTTP) is added up. Throws CUTOVER_BAD_METRICS
 * (naming the line) for a histogram line it cannot read, or past MAX_SERIES series.
 */
export function parseCallHistograms(text: string, where = '/metrics'): Snapshot {
  // Per series, bucket counts by bound, summed over protocols; sorted at the end.
  const buckets = new Map<string, { service: string; stack: StackName; method: string; outcome: Outcome; byLe: Map<number, number> }>();
  let lineNo = 0;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    lineNo++;
    if (!line.startsWith(BUCKET)) continue;
    const open = line.indexOf('{');
    const close = line.lastIndexOf('}');
    if (open !== BUCKET.length || close < open) throw badText(`cannot read the labels of ${BUCKET} at line ${lineNo}`, line.slice(0, 200), `${where}:${lineNo}`);
    const labels = parseLabels(line.slice(open + 1, close));
    const value = Number(line.slice(close + 1).trim().split(' ')[0]);
    if (labels === null || !Number.isFinite(value) || value < 0) throw badText(`cannot read ${BUCKET} at line ${lineNo}`, line.slice(0, 200), `${where}:${lineNo}`);
    const { service, stack, method, outcome, le } = labels;
    if (service === undefined || method === undefined || le === undefined || (stack !== 'legacy' && stack !== 'mesh') || !KNOWN_OUTCOMES.has(outcome)) {
      throw badText(`${BUCKET} at line ${lineNo} lacks service, stack, method, outcome or le, or has an unknown one`, line.slice(0, 200), `${where}:${lineNo}`);
    }
    const bound = parseLe(le);
    if (!(bound >= 0)) throw badText(`bad bucket bound le="${le}" at line ${lineNo}`, le, `${where}:${lineNo}`);
    const key = seriesKey(service, stack, method, outcome);
    let entry = buckets.get(key);
    if (entry === undefined) {
      if (buckets.size >= MAX_SERIES) throw badText(`more than ${MAX_SERIES} call histogram series`, buckets.size, where);
      entry = { service, stack, method, outcome: outcome as Outcome, byLe: new Map() };
      buckets.set(key, entry);
    }
    entry.byLe.set(bound, (entry.byLe.get(bound) ?? 0) + value);
  }
  const snapshot: Snapshot = new Map();
  for (const [key, entry] of buckets) {
    const le = [...entry.byLe.keys()].sort((a, b) => a - b);
    if (le[le.length - 1] !== Infinity) throw badText(`series ${key.split('\u0000').join('/')} has no +Inf bucket`, key, where);
    snapshot.set(key, { service: entry.service, stack: entry.stack, method: entry.method, outcome: entry.outcome, le, cumulative: le.map((b) => entry.byLe.get(b)!) });
  }
  return snapshot;
}

function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * What happened between two scrapes of one replica. A series whose counts fell (the replica
 * restarted) counts whole, as Prometheus' increase() does; one with other bounds likewise.
 */
export function diffSnapshots(before: Snapshot | undefined, after: Snapshot): Snapshot {
  const out: Snapshot = new Map();
  for (const [key, series] of after) {
    const base = before?.get(key);
    let cumulative = series.cumulative;
    if (base !== undefined && sameBounds(base.le, series.le) && series.cumulative.every((v, i) => v >= base.cumulative[i])) {
      cumulative = series.cumulative.map((v, i) => v - base.cumulative[i]);
    }
    if (cumulative[cumulative.length - 1] === 0) continue;
    out.set(key, { ...series, cumulative });
  }
  return out;
}

/** Several replicas' windows added up (series with unlike bounds are merged on the union of bounds). */
export function sumSnapshots(parts: readonly Snapshot[]): Snapshot {
  const out: Snapshot = new Map();
  for (const part of parts) {
    for (const [key, series] of part) {
      const have = out.get(key);
      if (have === undefined) {
        out.set(key, { ...series, le: [...series.le], cumulative: [...series.cumulative] });
      } else if (sameBounds(have.le, series.le)) {
        for (let i = 0; i < have.cumulative.length; i++) have.cumulative[i] += series.cumulative[i];
      } else {
        const le = [...new Set([...have.le, ...series.le])].sort((a, b) => a - b);
        // A cumulative histogram read at a bound it lacks: the count at its largest bound below.
        const at = (s: Series, bound: number): number => {
          let count = 0;
          for (let i = 0; i < s.le.length && s.le[i] <= bound; i++) count = s.cumulative[i];
          return count;
        };
        out.set(key, { ...have, le, cumulative: le.map((b) => at(have, b) + at(series, b)) });
      }
    }
  }
  return out;
}

function emptyStack(): StackWindow {
  return { outcomes: {} };
}

/**
 * One service's window for the judge: every method seen (or only `method`, for a method's
 * canary), each stack's calls by outcome and its ok calls' latency histogram in µs.
 */
export function serviceWindow(diff: Snapshot, service: string, method: string | null, from: number, to: number, weightPercent: number): ServiceWindow {
  const methods = new Map<string, MethodWindow>();
  for (const series of diff.values()) {
    if (series.service !== service || (method !== null && series.method !== method)) continue;
    let window = methods.get(series.method);
    if (window === undefined) methods.set(series.method, (window = { method: series.method, mesh: emptyStack(), legacy: emptyStack() }));
    const stack = window[series.stack];
    const calls = series.cumulative[series.cumulative.length - 1];
    stack.outcomes[series.outcome] = (stack.outcomes[series.outcome] ?? 0) + calls;
    if (series.outcome === 'ok') stack.latencyHistogram = { le: series.le.map((s) => (s === Infinity ? Infinity : s * 1e6)), cumulative: [...series.cumulative] };
  }
  return { service, from, to, weight: weightPercent / 100, methods: [...methods.values()].sort((a, b) => (a.method < b.method ? -1 : a.method > b.method ? 1 : 0)) };
}
