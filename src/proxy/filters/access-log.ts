// Access log: one structured line (pino) per sampled call, written when the call ends, with the
// outcome class, so a log search and the metrics speak of the same things. Sampling keeps the cost
// bounded at high rates; failures can be logged whatever the sample rate.
import { z } from 'zod';
import type { Logger } from '../../telemetry/logger';
import { Outcome, blameOf } from '../failure-class';
import type { Filter, FilterDecision, ProxyRequest } from './filter';
import { registerFilter } from './filter';
import { claimedApp, identityKind, identitySourceSchema } from './identity';

export const accessLogConfigSchema = z
  .object({
    /** Share of successful calls logged, 0 to 1. */
    sample: z.number().min(0).max(1).default(0.01),
    /** Log every call that did not end `ok`, whatever the sample. */
    allFailures: z.boolean().default(true),
    /** Where the caller's claimed application is read; the listener's default when omitted. */
    identity: identitySourceSchema.optional(),
  })
  .strict();

export class AccessLogFilter implements Filter {
  readonly name = 'access-log';

  constructor(
    private readonly config: z.infer<typeof accessLogConfigSchema>,
    private readonly logger: Logger,
    private readonly random: () => number = Math.random,
  ) {}

  onRequest(): FilterDecision {
    return undefined;
  }

  onComplete(request: ProxyRequest, outcome: Outcome, latencyMicros: number): void {
    const failed = outcome !== 'ok';
    if (!(failed && this.config.allFailures) && this.random() >= this.config.sample) return;
    if (!this.logger.isLevelEnabled('info')) return;
    const callerApp = claimedApp(request, this.config.identity);
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
        blame: blameOf(outcome),
        latencyMs: Math.round(latencyMicros) / 1000,
      },
      'call',
    );
  }
}

registerFilter('access-log', (config, deps) => new AccessLogFilter(accessLogConfigSchema.parse(config ?? {}), deps.logger));
