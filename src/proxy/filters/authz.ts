// Authorization: allow and deny lists by caller application and by address range. The caller's
// application is what it claims (the Dubbo `application` attachment or a header) until mutual TLS
// gives a verified identity, and the reply says which it was judged on. Deny rules win; with allow
// rules present, a caller must match one. Denied: Dubbo error / HTTP 403, naming the rule.
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import type { Filter, FilterDecision, ProxyRequest } from './filter';
import { registerFilter } from './filter';
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
  const [address, bits] = text.split('/');
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
  if (family === null) return null;
  const max = family === 'ipv4' ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return null;
  return { address, prefix, family };
}

/** A dotted-quad IPv4 address as an unsigned 32-bit number, or -1: parsed without allocating. */
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
      // No leading zeros (as isIPv4): "01" is not an address.
      if (part === 0) return -1;
      part = part < 0 ? c - 48 : part * 10 + c - 48;
      if (part > 255) return -1;
    } else return -1;
  }
  return dots === 3 && part >= 0 ? value * 256 + part : -1;
}

class CallerSet {
  private readonly apps: Set<string>;
  /** IPv6 ranges (IPv4 ones too, for completeness); IPv4 callers are checked against `v4` first. */
  private readonly ranges = new BlockList();
  private readonly hasRanges: boolean;
  /** IPv4 ranges as [network, mask] pairs, compared as numbers: no allocation per check. */
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
    const v4mapped = address.startsWith('::ffff:') && isIPv4(address.slice(7));
    const ip = v4mapped ? address.slice(7) : address;
    const n = ipv4Number(ip);
    if (n < 0) return this.ranges.check(ip, isIPv4(ip) ? 'ipv4' : 'ipv6');
    for (let i = 0; i < this.v4.length; i += 2) if ((n & this.v4[i + 1]) >>> 0 === this.v4[i]) return true;
    return false;
  }
}

/** The address part of `host:port` or `[v6]:port`. */
export function hostOf(remote: string): string {
  if (remote.startsWith('[')) return remote.slice(1, remote.indexOf(']'));
  // The common case, `a.b.c.d:port`, without the general checks.
  const colon = remote.lastIndexOf(':');
  if (colon > 0 && remote.indexOf(':') === colon && ipv4Number(remote.slice(0, colon)) >= 0) return remote.slice(0, colon);
  if (isIPv4(remote) || isIPv6(remote)) return remote;
  const head = remote.slice(0, remote.lastIndexOf(':'));
  return isIPv4(head) || isIPv6(head) ? head : remote;
}

export class AuthzFilter implements Filter {
  readonly name = 'authz';
  private readonly rules: Array<{ name: string; match: z.infer<typeof requestMatchSchema> | undefined; allow?: CallerSet; deny?: CallerSet }>;
  denied = 0;

  constructor(config: z.infer<typeof authzConfigSchema>) {
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
    const rules = this.rules;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i];
      if (!matches(rule.match, request)) continue;
      if (address === undefined) {
        app = request.callerApp();
        address = hostOf(request.remoteAddress);
      }
      if (rule.deny?.has(app, address)) return this.refuse(app, address, `is denied by ${rule.name}`);
      if (rule.allow !== undefined && !rule.allow.has(app, address)) return this.refuse(app, address, `is not allowed by ${rule.name}`);
    }
    return undefined;
  }

  /** The refusal, naming who was judged (built only for a refusal: admitted calls pay nothing for it). */
  private refuse(app: string | undefined, address: string, why: string): FilterDecision {
    this.denied++;
    const who = `${app === undefined ? 'a caller naming no application' : `application ${JSON.stringify(app)} (unverified)`} from ${address}`;
    return { outcome: 'bridge_refusal', refusal: 'denied', message: `${who} ${why}` };
  }
}

registerFilter('authz', (config) => new AuthzFilter(authzConfigSchema.parse(config)));
