// Authorization: allow and deny lists by caller application and by address range. The caller's
// application is what it claims (the Dubbo `application` attachment or a header, either of which
// the config may rename: identity.ts) until mutual TLS gives a verified identity, and the reply,
// the metrics and the access log say it was unverified. Deny rules win; with allow rules present,
// a caller must match one. Denied: Dubbo error / HTTP 403, naming the rule.
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import type { Filter, FilterDecision, ProxyRequest } from './filter';
import { registerFilter } from './filter';
import { IdentityKind, IdentitySource, claimedApp, identityKind, identitySourceSchema } from './identity';
import { matches, requestMatchSchema, ruleName } from './request-match';

const cidr = z.string().refine((s) => parseCidr(s) !== null, { message: 'expected an address or CIDR range such as 10.0.0.0/8 or ::1/128' });

const callerSchema = z
  .object({
    apps: z.array(z.string().min(1)).optional(),
    addresses: z.array(cidr).optional(),
  })
  .strict()
  .refine((c) => (c.apps?.length ?? 0) + (c.addresses?.length ?? 0) > 0, { message: 'name apps or addresses' });

export const authzConfigSchema = z
  .object({
    /**
     * Where the caller's claimed application is read, for this filter and the whole chain (every
     * rule's match.callerApp, the access log); the listener's default when omitted.
     */
    identity: identitySourceSchema.optional(),
    rules: z
      .array(
        z
          .object({
            name: z.string().min(1).optional(),
            /** The calls the rule is about (service, method ...). */
            match: requestMatchSchema.optional(),
            allow: callerSchema.optional(),
            deny: callerSchema.optional(),
          })
          .strict()
          .refine((r) => r.allow !== undefined || r.deny !== undefined, { message: 'a rule needs allow or deny' }),
      )
      .min(1),
  })
  .strict();

function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | null {
  const parts = text.split('/');
  const [address, bits] = parts;
  // Only digits after the slash: Number('') is 0, and `10.0.0.0/` must not mean every address.
  if (parts.length > 2 || (bits !== undefined && !/^\d{1,3}$/.test(bits))) return null;
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
  if (family === null) return null;
  const max = family === 'ipv4' ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return null;
  return { address, prefix, family };
}

/** A dotted-quad IPv4 address as an unsigned 32-bit number, or -1: read without allocating. */
export function ipv4Number(text: string): number {
  let value = 0;
  let part = -1;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (part < 0 || ++dots > 3) return -1;
      value = value * 256 + part;
      part = -1;
    } else if (c >= 48 && c <= 57) {
      if (part === 0) return -1; // no leading zeros, as isIPv4: "01" is not an address
      part = part < 0 ? c - 48 : part * 10 + c - 48;
      if (part > 255) return -1;
    } else return -1;
  }
  return dots === 3 && part >= 0 ? value * 256 + part : -1;
}

class CallerSet {
  private readonly apps: Set<string>;
  /** IPv6 ranges (and IPv4 ones, for IPv4 callers written another way). */
  private readonly ranges = new BlockList();
  private readonly hasRanges: boolean;
  /** IPv4 ranges as [network, mask] pairs, compared as numbers: a plain IPv4 caller costs no allocation. */
  private readonly v4: number[] = [];

  constructor(spec: z.infer<typeof callerSchema>) {
    this.apps = new Set(spec.apps ?? []);
    for (const text of spec.addresses ?? []) {
      const c = parseCidr(text) as NonNullable<ReturnType<typeof parseCidr>>;
      this.ranges.addSubnet(c.address, c.prefix, c.family);
      if (c.family === 'ipv4') {
        const mask = c.prefix === 0 ? 0 : (0xffffffff << (32 - c.prefix)) >>> 0;
        this.v4.push((ipv4Number(c.address) & mask) >>> 0, mask);
      }
    }
    this.hasRanges = (spec.addresses?.length ?? 0) > 0;
  }

  has(app: string | undefined, address: string): boolean {
    if (app !== undefined && this.apps.has(app)) return true;
    if (!this.hasRanges || address === '') return false;
    const n = ipv4Number(address);
    if (n >= 0) {
      for (let i = 0; i < this.v4.length; i += 2) if ((n & this.v4[i + 1]) >>> 0 === this.v4[i]) return true;
      return false;
    }
    const v4mapped = address.startsWith('::ffff:') && isIPv4(address.slice(7));
    const ip = v4mapped ? address.slice(7) : address;
    return this.ranges.check(ip, isIPv4(ip) ? 'ipv4' : 'ipv6');
  }
}

/**
 * The address part of `host:port` (as the listeners give it, IPv6 unbracketed) or `[v6]:port`. The
 * port goes first: `::1:8080` is ::1 port 8080 (read whole, it is a valid IPv6 address of its own,
 * and a deny range for ::1 would miss it).
 */
export function hostOf(remote: string): string {
  if (remote.startsWith('[')) return remote.slice(1, remote.indexOf(']'));
  const colon = remote.lastIndexOf(':');
  const head = remote.slice(0, colon);
  // The common case, `a.b.c.d:port`, without the general checks.
  if (colon > 0 && remote.indexOf(':') === colon && ipv4Number(head) >= 0 && /^\d{1,5}$/.test(remote.slice(colon + 1))) return head;
  if (colon > 0 && /^\d{1,5}$/.test(remote.slice(colon + 1)) && (isIPv4(head) || isIPv6(head))) return head;
  return remote;
}

/** Callers' addresses remembered with their host part; past it the memory starts over. */
const MAX_REMEMBERED_CALLERS = 4096;

/**
 * `hostOf` of the callers seen: a caller's `host:port` is the same (the very same string, on a
 * Dubbo connection) call after call, and reading it anew costs slices and checks per request.
 */
class CallerHosts {
  private readonly hosts = new Map<string, string>();

  of(remote: string): string {
    let host = this.hosts.get(remote);
    if (host === undefined) {
      if (this.hosts.size >= MAX_REMEMBERED_CALLERS) this.hosts.clear();
      this.hosts.set(remote, (host = hostOf(remote)));
    }
    return host;
  }
}

export class AuthzFilter implements Filter {
  readonly name = 'authz';
  private readonly rules: Array<{ name: string; match: z.infer<typeof requestMatchSchema> | undefined; allow?: CallerSet; deny?: CallerSet }>;
  denied = 0;
  /** Denials per rule and identity kind (`rule|kind`), for metrics. */
  readonly deniedBy = new Map<string, number>();
  private readonly identity: IdentitySource | undefined;
  private readonly hosts = new CallerHosts();

  /** `chainIdentity`: the chain's identity source, when this filter's config names none. */
  constructor(config: z.infer<typeof authzConfigSchema>, chainIdentity?: IdentitySource) {
    this.identity = config.identity ?? chainIdentity;
    this.rules = config.rules.map((r, i) => ({
      name: ruleName(this.name, i, r.name),
      match: r.match,
      allow: r.allow && new CallerSet(r.allow),
      deny: r.deny && new CallerSet(r.deny),
    }));
  }

  onRequest(request: ProxyRequest): FilterDecision {
    let app: string | undefined;
    let address: string | undefined;
    for (const rule of this.rules) {
      if (!matches(rule.match, request, this.identity)) continue;
      app ??= claimedApp(request, this.identity);
      address ??= this.hosts.of(request.remoteAddress);
      const denied = rule.deny?.has(app, address) ? 'is denied by' : rule.allow !== undefined && !rule.allow.has(app, address) ? 'is not allowed by' : undefined;
      if (denied === undefined) continue;
      const who = `${app === undefined ? 'a caller naming no application' : `application ${JSON.stringify(app)} (unverified)`} from ${address}`;
      return this.refuse(rule.name, identityKind(app), `${who} ${denied} ${rule.name}`);
    }
    return undefined;
  }

  private refuse(rule: string, kind: IdentityKind, message: string): FilterDecision {
    this.denied++;
    const key = `${rule}|${kind}`;
    this.deniedBy.set(key, (this.deniedBy.get(key) ?? 0) + 1);
    return { outcome: 'bridge_refusal', refusal: 'denied', message };
  }
}

registerFilter('authz', (config, deps) => new AuthzFilter(authzConfigSchema.parse(config), deps.identity));
