// Which requests a filter rule applies to: by service, method, caller application and attributes
// (Dubbo attachments or HTTP headers). One schema for every filter's `match`, validated at the edge.
import { z } from 'zod';
import type { ProxyRequest } from './filter';
import { IdentitySource, claimedApp } from './identity';

export const requestMatchSchema = z
  .object({
    /** Exact service name (Dubbo interface; an HTTP app in any case, as Eureka upper-cases them); omitted or `*` for every service. */
    service: z.string().min(1).optional(),
    /** Exact Dubbo method (or HTTP `METHOD /path` prefix); omitted for every method. */
    method: z.string().min(1).optional(),
    /** The caller's application as it claims it (unverified until mTLS), read from the chain's identity source. */
    callerApp: z.string().min(1).optional(),
    /** Attributes that must have these exact values (Dubbo attachments, lower-case HTTP headers). */
    attributes: z.record(z.string(), z.string()).optional(),
  })
  .strict();

export type RequestMatch = z.infer<typeof requestMatchSchema>;

/** True when the request is one the rule is about; `identity` is the chain's identity source (identity.ts). */
export function matches(match: RequestMatch | undefined, request: ProxyRequest, identity?: IdentitySource): boolean {
  if (match === undefined) return true;
  if (match.service !== undefined && match.service !== '*' && !sameService(match.service, request)) return false;
  if (match.method !== undefined) {
    if (request.protocol === 'http' ? !request.method.startsWith(match.method) : match.method !== request.method) return false;
  }
  if (match.callerApp !== undefined && claimedApp(request, identity) !== match.callerApp) return false;
  const attributes = match.attributes;
  // for-in, not Object.entries: no array per request and rule.
  if (attributes !== undefined) for (const name in attributes) if (request.attribute(name) !== attributes[name]) return false;
  return true;
}

/** HTTP app names match in any case (the listener gives the catalog's spelling); Dubbo interfaces exactly. */
function sameService(name: string, request: ProxyRequest): boolean {
  const service = request.service;
  if (name === service) return true;
  return request.protocol === 'http' && name.length === service.length && name.toLowerCase() === service.toLowerCase();
}

/** A readable name for a rule, used in replies and metric labels: `rate-limit[2]`. */
export function ruleName(filter: string, index: number, name?: string): string {
  return name ?? `${filter}[${index}]`;
}
