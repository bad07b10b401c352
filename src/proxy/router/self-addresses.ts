// The addresses at which this bridge itself listens (its Dubbo and HTTP listeners and its admin
// API), in every form an instance could be registered under, so the bridge never routes a request
// to itself: not by the address it was bound to, not by 127.0.0.1 or localhost when it listens on
// loopback, and, for a wildcard (0.0.0.0, ::) listener, not by any address of this machine.
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/** An address in one spelling: lower case, no brackets, IPv4-mapped IPv6 as IPv4, no trailing dot. */
export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  if (mapped) return mapped[1];
  if (h === '0:0:0:0:0:0:0:1') return '::1';
  if (h === '0:0:0:0:0:0:0:0') return '::';
  return h;
}

/** Loopback in any form: 127.0.0.0/8, ::1, localhost and names under it. */
export function isLoopback(host: string): boolean {
  const h = normalizeHost(host);
  if (h === 'localhost' || h.endsWith('.localhost') || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

/** Something that says whether host:port is one of the bridge's own listeners. */
export interface SelfCheck {
  has(host: string, port: number): boolean;
}

export const NOBODY: SelfCheck = { has: () => false };

export class SelfAddresses implements SelfCheck {
  /** Per port: the hosts it answers at (normalized), or '*' for every address of this machine. */
  private readonly byPort = new Map<number, Set<string>>();
  private readonly localNames: Set<string>;

  constructor(
    /** This machine's own addresses and names (read once; a wildcard listener answers at all of them). */
    local: { addresses: string[]; names: string[] } = localIdentity(),
  ) {
    this.localNames = new Set([...local.addresses, ...local.names].map(normalizeHost));
  }

  /** A listener bound to `host` (an address, a name, or a wildcard) on `port`. */
  add(host: string, port: number): void {
    let hosts = this.byPort.get(port);
    if (hosts === undefined) this.byPort.set(port, (hosts = new Set()));
    const h = normalizeHost(host);
    if (WILDCARDS.has(h)) hosts.add('*');
    else if (isLoopback(h)) {
      hosts.add(h);
      // 127.0.0.1 and localhost are the same listener; other 127.x addresses are their own.
      if (h === '127.0.0.1' || h === '::1' || h === 'localhost') for (const alias of ['127.0.0.1', '::1', 'localhost']) hosts.add(alias);
    } else hosts.add(h);
  }

  has(host: string, port: number): boolean {
    const hosts = this.byPort.get(port);
    if (hosts === undefined) return false;
    const h = normalizeHost(host);
    if (hosts.has(h)) return true;
    if (!hosts.has('*')) return false;
    // A wildcard listener answers at every address of this machine, loopback included.
    return WILDCARDS.has(h) || isLoopback(h) || this.localNames.has(h);
  }
}

/** This machine's interface addresses and host name. */
export function localIdentity(): { addresses: string[]; names: string[] } {
  const addresses: string[] = [];
  for (const list of Object.values(networkInterfaces())) for (const entry of list ?? []) addresses.push(entry.address.replace(/%.*$/, ''));
  return { addresses, names: [hostname()] };
}
