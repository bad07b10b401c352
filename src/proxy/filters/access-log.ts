// Access log: one structured line (pino) per sampled call, written when the call ends, with the
// outcome class, so a log search and the metrics speak of the same things; a local answer also says
// which kind it was (`refusal`: degraded, rate_limited, denied ...), so a fallback the caller got is
// told apart from a refusal. Sampling keeps the cost bounded at high rates; failures can be logged
// whatever the sample rate, up to `maxLinesPerSecond` in all (an outage at 50,000 calls a second
// must not write 50,000 lines a second): past it, lines are counted, not written.
import { z } from 'zod';
import { Logger, bulkLogger } from '../../telemetry/logger';
import { BridgeRefusal, Outcome, blameOf } from '../failure-class';
import type { Filter, FilterDecision, ProxyRequest } from './filter';
import { registerFilter } from './filter';
import { IdentitySource, claimedApp, identityKind, identitySourceSchema } from './identity';
import { TokenBucket } from './rate-limit';

export const accessLogConfigSchema = z
  .object({
    /** Share of successful calls logged, 0 to 1. */
    sample: z.number().min(0).max(1).default(0.01),
    /** Log every call that did not end `ok`, whatever the sample. */
    allFailures: z.boolean().default(true),
    /** Lines written per second at most (a burst of one second's worth); past it they are counted as suppressed. */
    maxLinesPerSecond: z.number().int().positive().max(1_000_000).default(1000),
    /** Where the caller's claimed application is read, for the whole chain (as authz's `identity`); the listener's default when omitted. */
    identity: identitySourceSchema.optional(),
  })
  .strict();

export class AccessLogFilter implements Filter {
  readonly name = 'access-log';
  private readonly identity: IdentitySource | undefined;
  private readonly lines: TokenBucket;
  /** Its lines may wait in the log's buffer (bulkLogger): the other lines are written at once. */
  private readonly logger: Logger;
  /** Lines not written past maxLinesPerSecond, for metrics. */
  suppressed = 0;

  constructor(
    private readonly config: z.infer<typeof accessLogConfigSchema>,
    logger: Logger,
    private readonly random: () => number = Math.random,
    /** The chain's identity source, when this filter's config names none. */
    chainIdentity?: IdentitySource,
  ) {
    this.identity = config.identity ?? chainIdentity;
    this.logger = bulkLogger(logger);
    this.lines = new TokenBucket(config.maxLinesPerSecond, config.maxLinesPerSecond, Date.now());
  }

  onRequest(): FilterDecision {
    return undefined;
  }

  onComplete(request: ProxyRequest, outcome: Outcome, latencyMicros: number, now = Date.now(), refusal?: BridgeRefusal): void {
    const failed = outcome !== 'ok';
    if (!(failed && this.config.allFailures) && this.random() >= this.config.sample) return;
    if (!this.logger.isLevelEnabled('info')) return;
    if (!this.lines.take(now)) {
      this.suppressed++;
      return;
    }
    const callerApp = claimedApp(request, this.identity);
    this.logger.info(
      {
        access: true,
        protocol: request.protocol,
        service: request.service,
        version: request.version || undefined,
        group: request.group || undefined,
        method: request.method,
        caller: request.remoteAddress,
        callerApp,
        // Claimed, never checked, until mutual TLS gives a verified identity.
        callerIdentity: identityKind(callerApp),
        outcome,
        // Which local answer (degraded: the caller got a fallback); absent when the service answered.
        refusal,
        blame: blameOf(outcome),
        latencyMs: Math.round(latencyMicros) / 1000,
      },
      'call',
    );
  }
}

registerFilter('access-log', (config, deps) => new AccessLogFilter(accessLogConfigSchema.parse(config ?? {}), deps.logger, Math.random, deps.identity));
