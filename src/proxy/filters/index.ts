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

export type { FallbackAnswer, Filter, FilterContext, FilterDecision, FilterDependencies, LocalReply, ProxyRequest } from './filter';
export { FilterChain } from './filter-chain';

export const filterSpecSchema = z.object({ name: z.string().min(1), config: z.unknown().optional() }).strict();
export type FilterSpec = z.infer<typeof filterSpecSchema>;

/**
 * Builds a chain in the order given. An unknown name or a bad config fails with CONFIG_INVALID,
 * the key path (`<where>[i].config.rules[0].perSecond`) and what was expected.
 */
export function buildFilterChain(specs: readonly FilterSpec[], deps: FilterDependencies, where = 'filters'): FilterChain {
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
