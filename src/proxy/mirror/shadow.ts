// The side-by-side run of one sidecar: the mirror policies (from the `shadow:` config, swapped on
// reload), the diff report (kept across reloads), and the one bound on mirror calls in flight that
// every stack's mirror shares. The mirrors themselves (dubbo-mirror.ts, http-mirror.ts) are per
// stack, on connections of their own.
import type { Gauge } from 'prom-client';
import type { Stack } from '../../catalog';
import { Registry, gauge } from '../../telemetry/metrics';
import { DEFAULT_SHADOW_CONFIG, ShadowConfig } from './mirror-config';
import { MirrorPolicy, MirrorProtocol, MirrorRule, SAFE_HTTP_METHODS } from './mirror-policy';
import { ShadowReport } from './shadow-report';

/** The methods a Dubbo service marks idempotent (its outbound `idempotentMethods`). */
export type IdempotentMethods = (service: string) => ReadonlySet<string>;

const NONE: ReadonlySet<string> = new Set();

export class Shadow {
  readonly report: ShadowReport;
  private current: ShadowConfig = DEFAULT_SHADOW_CONFIG;
  dubbo: MirrorPolicy = new MirrorPolicy('dubbo', [], () => NONE);
  http: MirrorPolicy = new MirrorPolicy('http', [], () => SAFE_HTTP_METHODS);
  private inFlight = 0;
  private readonly inFlightGauge: Gauge;
  private readonly closers = new Set<() => void>();

  constructor(metrics: Registry, config: ShadowConfig = DEFAULT_SHADOW_CONFIG, idempotent: IdempotentMethods = () => NONE) {
    this.report = new ShadowReport(metrics, config);
    this.inFlightGauge = gauge(metrics, 'mesh_bridge_shadow_in_flight', 'Mirror copies sent to the other stack and not yet compared');
    this.configure(config, idempotent);
  }

  get config(): ShadowConfig {
    return this.current;
  }

  /** Applies a (reloaded) config; counts and samples so far are kept. */
  configure(config: ShadowConfig, idempotent: IdempotentMethods): void {
    this.current = config;
    this.dubbo = new MirrorPolicy('dubbo', config.dubbo, idempotent);
    this.http = new MirrorPolicy('http', config.http, () => SAFE_HTTP_METHODS);
    this.report.configure(config);
  }

  /**
   * Decides on one call: the rule when it is to be copied and a slot was free (the caller then
   * owes a `release`), else undefined, counted when it was a write or over the in-flight cap.
   */
  admit(protocol: MirrorProtocol, service: string, method: string, random: number): MirrorRule | undefined {
    const policy = protocol === 'dubbo' ? this.dubbo : this.http;
    const decision = policy.decide(service, method, random);
    if (typeof decision === 'string') {
      // Counted under the rule's spelling of the service: the report's keys come from config.
      if (decision === 'write') this.report.count(protocol, (policy.rule(service) as MirrorRule).service, method, 'write');
      return undefined;
    }
    if (this.inFlight >= this.current.maxInFlight) {
      this.report.count(protocol, decision.service, method, 'dropped');
      return undefined;
    }
    this.inFlight++;
    this.inFlightGauge.inc();
    return decision;
  }

  release(): void {
    this.inFlight--;
    this.inFlightGauge.dec();
  }

  /** The stack a copy goes to: the one the real call did not. */
  static otherStack(stack: Stack): Stack {
    return stack === 'legacy' ? 'mesh' : 'legacy';
  }

  /** Registers a mirror's close, run by `close`. */
  onClose(close: () => void): () => void {
    this.closers.add(close);
    return () => this.closers.delete(close);
  }

  close(): void {
    for (const close of this.closers) close();
    this.closers.clear();
  }
}
