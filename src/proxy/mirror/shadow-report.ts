// The side-by-side run's diff report: per protocol, service and method, how many calls were copied
// and how their answers compared, the mismatch rate and the last few mismatches (each value cut
// short; request contents and secret headers are never kept). Served as JSON at GET /shadow and
// counted in mesh_bridge_shadow_calls_total. Its key space is bounded: services come from config,
// and methods past `maxMethods` pairs are counted under `(other)`.
import type { Counter } from 'prom-client';
import { Registry, counter } from '../../telemetry/metrics';
import { PathSegment, formatPath } from './json-path';
import type { MirrorProtocol } from './mirror-policy';
import type { Difference } from './value-diff';

/** What can happen to a call the policy looked at; each is a count of the report and a metric result. */
export const SHADOW_RESULTS = ['mirrored', 'matched', 'mismatched', 'primary_error', 'shadow_error', 'too_large', 'dropped', 'no_target', 'write'] as const;
export type ShadowResult = (typeof SHADOW_RESULTS)[number];

export const OTHER_METHODS = '(other)';

export interface ShadowSample {
  at: string;
  /** Where the answers differ: `$.price`, `(status)`, `(header) etag`, `(kind)`, `(body)`. */
  path: string;
  primary: string;
  shadow: string;
}

export interface ReportLimits {
  samples: number;
  sampleChars: number;
  maxMethods: number;
}

class MethodReport {
  readonly counts: Record<ShadowResult, number> = { mirrored: 0, matched: 0, mismatched: 0, primary_error: 0, shadow_error: 0, too_large: 0, dropped: 0, no_target: 0, write: 0 };
  samples: ShadowSample[] = [];
  /** The last error message of either side, cut short. */
  lastError: string | undefined;
  /** The metric's children for this row, made on first use (label lookups cost a hash each time). */
  readonly metric: Partial<Record<ShadowResult, { inc(): void }>> = {};

  constructor(
    readonly protocol: MirrorProtocol,
    readonly service: string,
    readonly method: string,
  ) {}
}

/** `$.a.b` for value paths; `(header) name` and the like for the answers' other parts. */
export function describePath(path: readonly PathSegment[]): string {
  const first = path[0];
  if (typeof first === 'string' && first.startsWith('(')) return path.length === 1 ? first : `${first} ${path.slice(1).join('.')}`;
  return formatPath(path);
}

/** A value as a sample shows it: JSON-like, bigints and bytes readable, cut to `chars`. */
export function previewValue(value: unknown, chars: number): string {
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(value);
  else if (value === undefined) text = '(absent)';
  else {
    try {
      text =
        JSON.stringify(value, (_key, v: unknown) => {
          if (typeof v === 'bigint') return `${v}n`;
          if (v instanceof Error) return { class: v.name, message: v.message };
          if (v !== null && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) return `<${(v as { data: unknown[] }).data.length} bytes>`;
          return v;
        }) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length <= chars ? text : `${text.slice(0, chars)}… (${text.length} chars)`;
}

export class ShadowReport {
  private readonly methods = new Map<string, MethodReport>();
  private readonly calls: Counter<'protocol' | 'service' | 'method' | 'result'>;
  private readonly since = new Date().toISOString();

  constructor(
    metrics: Registry,
    private limits: ReportLimits,
  ) {
    this.calls = counter(
      metrics,
      'mesh_bridge_shadow_calls_total',
      'Calls the side-by-side run looked at, by result: mirrored (a copy sent to the other stack), matched, mismatched, primary_error, shadow_error (no answer to compare), too_large (request or answer over the bound), dropped (mirror in-flight cap), no_target (no instance in the other stack), write (not copied: may change state)',
      ['protocol', 'service', 'method', 'result'],
    );
  }

  configure(limits: ReportLimits): void {
    this.limits = limits;
    for (const entry of this.methods.values()) if (entry.samples.length > limits.samples) entry.samples = entry.samples.slice(entry.samples.length - limits.samples);
  }

  private entry(protocol: MirrorProtocol, service: string, method: string): MethodReport {
    const key = `${protocol} ${service} ${method}`;
    let entry = this.methods.get(key);
    if (entry !== undefined) return entry;
    if (this.methods.size >= this.limits.maxMethods && method !== OTHER_METHODS) return this.entry(protocol, service, OTHER_METHODS);
    entry = new MethodReport(protocol, service, method);
    this.methods.set(key, entry);
    return entry;
  }

  count(protocol: MirrorProtocol, service: string, method: string, result: ShadowResult): void {
    const entry = this.entry(protocol, service, method);
    entry.counts[result]++;
    (entry.metric[result] ??= this.calls.labels({ protocol, service, method: entry.method, result })).inc();
  }

  /** Counts an error of either side and keeps its message (cut short) for the report. */
  error(protocol: MirrorProtocol, service: string, method: string, result: 'primary_error' | 'shadow_error', message: string): void {
    this.count(protocol, service, method, result);
    this.entry(protocol, service, method).lastError = `${result === 'primary_error' ? 'primary' : 'shadow'}: ${message.slice(0, this.limits.sampleChars)}`;
  }

  mismatch(protocol: MirrorProtocol, service: string, method: string, difference: Difference, now: number): void {
    this.count(protocol, service, method, 'mismatched');
    const { samples, sampleChars } = this.limits;
    if (samples === 0) return;
    const entry = this.entry(protocol, service, method);
    entry.samples.push({ at: new Date(now).toISOString(), path: describePath(difference.path), primary: previewValue(difference.primary, sampleChars), shadow: previewValue(difference.shadow, sampleChars) });
    if (entry.samples.length > samples) entry.samples.shift();
  }

  /** What GET /shadow shows. */
  toJSON(): Record<string, unknown> {
    const methods = [...this.methods.values()]
      .sort((a, b) => a.protocol.localeCompare(b.protocol) || a.service.localeCompare(b.service) || a.method.localeCompare(b.method))
      .map((e) => {
        const compared = e.counts.matched + e.counts.mismatched;
        return {
          protocol: e.protocol,
          service: e.service,
          method: e.method,
          ...camelCounts(e.counts),
          compared,
          mismatchRate: compared === 0 ? null : Math.round((e.counts.mismatched / compared) * 10_000) / 10_000,
          lastError: e.lastError,
          samples: e.samples,
        };
      });
    return { since: this.since, methods };
  }
}

function camelCounts(counts: Record<ShadowResult, number>): Record<string, number> {
  return {
    mirrored: counts.mirrored,
    matched: counts.matched,
    mismatched: counts.mismatched,
    primaryErrors: counts.primary_error,
    shadowErrors: counts.shadow_error,
    tooLarge: counts.too_large,
    dropped: counts.dropped,
    noTarget: counts.no_target,
    writesNotMirrored: counts.write,
  };
}
