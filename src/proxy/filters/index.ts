// Every filter the data path ships, registered by name on import, and the one way to build a chain
// from validated config: `filters: [{ name: rate-limit, config: {...} }, ...]`.
import { z } from 'zod';
import { ConfigError } from '../../errors';
import './access-log';
import './authz';
import './circuit-breaker';
import './degrade';
import './fault-injection';
import './isolation';
import './rate-limit';
import { FilterDependencies, filterFactory, registeredFilters } from './filter';
import { FilterChain } from './filter-chain';
import { IdentitySource, identitySourceSchema } from './identity';

export type { FallbackAnswer, Filter, FilterContext, FilterDecision, FilterDependencies, LocalReply, ProxyRequest } from './filter';
export { FilterChain } from './filter-chain';

export const filterSpecSchema = z.object({ name: z.string().min(1), config: z.unknown().optional() }).strict();
export type FilterSpec = z.infer<typeof filterSpecSchema>;

/**
 * Builds a chain in the order given. An unknown name or a bad config fails with CONFIG_INVALID,
 * the key path (`<where>[i].config.rules[0].perSecond`) and what was expected.
 */
export function buildFilterChain(specs: readonly FilterSpec[], deps: FilterDependencies, where = 'filters'): FilterChain {
  const identity = chainIdentity(specs, where) ?? deps.identity;
  if (identity !== deps.identity) deps = { ...deps, identity };
  const filters = specs.map((spec, i) => {
    const make = filterFactory(spec.name);
    if (make === undefined) {
      throw new ConfigError(`${where}[${i}].name: unknown filter ${JSON.stringify(spec.name)}; known: ${registeredFilters().sort().join(', ')}`, { value: spec.name, where: `${where}[${i}].name` });
    }
    try {
      return make(spec.config, deps);
    } catch (err) {
      if (err instanceof z.ZodError) {
        const issue = err.issues[0];
        const path = [`${where}[${i}].config`, ...issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))].join('');
        throw new ConfigError(`${path}: ${issue.message}`, { value: spec.config, where: path });
      }
      throw err;
    }
  });
  return new FilterChain(filters);
}

/**
 * The one identity source a chain shares (where the caller's claimed application is read for
 * authz's apps, every rule's match.callerApp and the access log): the `identity` a filter's config
 * names (authz, access-log). Filters that name one must name the same, else CONFIG_INVALID at the
 * second one's key path; a malformed one is left to that filter's own schema.
 */
export function chainIdentity(specs: readonly unknown[], where = 'filters'): IdentitySource | undefined {
  let first: { source: IdentitySource; text: string; at: string } | undefined;
  specs.forEach((spec, i) => {
    const config = (spec as { config?: unknown } | null)?.config;
    const named = typeof config === 'object' && config !== null ? (config as { identity?: unknown }).identity : undefined;
    const parsed = named === undefined ? undefined : identitySourceSchema.safeParse(named);
    if (parsed === undefined || !parsed.success) return;
    const text = JSON.stringify({ header: parsed.data.header, attachment: parsed.data.attachment });
    const at = `${where}[${i}].config.identity`;
    if (first === undefined) first = { source: parsed.data, text, at };
    else if (text !== first.text) {
      throw new ConfigError(`${at}: ${text} differs from ${first.at} (${first.text}): every filter of a chain reads the caller's application from one source`, { value: named, where: at });
    }
  });
  return first?.source;
}
