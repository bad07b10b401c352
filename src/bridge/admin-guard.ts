// Who may talk to the admin port, checked before any route: the Host header must be one the admin
// API is reached by (a DNS-rebinding page names its own host), a write must not come from another
// origin (Origin, Sec-Fetch-Site: a page in an operator's browser), and a mutating call carries the
// admin token when one is set (required when the admin port is not on loopback). Refusals are JSON
// with a code and counted by reason; the token is never logged and compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { MeshBridgeError } from '../errors';
import { Registry, counter } from '../telemetry/metrics';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const MIN_TOKEN_LENGTH = 16;

export type RefusalReason = 'host' | 'cross_origin' | 'token_missing' | 'token_invalid';

/** True for an address only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const lower = bare.toLowerCase();
  if (lower === 'localhost' || lower.endsWith('.localhost')) return true;
  if (isIP(lower) === 4) return lower.startsWith('127.');
  if (isIP(lower) === 6) return lower === '::1' || /^::ffff:127\./.test(lower) || lower === '0:0:0:0:0:0:0:1';
  return false;
}

/**
 * The admin token: from `tokenFile`, else the environment. Required (ADMIN_TOKEN_MISSING) when the
 * admin port is bound to anything but loopback; ADMIN_TOKEN_INVALID when unreadable or too short.
 */
export function loadAdminToken(admin: { host: string; tokenFile?: string }, env: NodeJS.ProcessEnv = process.env): string | null {
  let token: string | null = null;
  if (admin.tokenFile !== undefined) {
    try {
      token = readFileSync(admin.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new MeshBridgeError('ADMIN_TOKEN_INVALID', `cannot read admin.tokenFile ${admin.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { where: 'admin.tokenFile', cause: err });
    }
  } else if (env.MESH_BRIDGE_ADMIN_TOKEN !== undefined && env.MESH_BRIDGE_ADMIN_TOKEN !== '') {
    token = env.MESH_BRIDGE_ADMIN_TOKEN.trim();
  }
  if (token !== null && token.length < MIN_TOKEN_LENGTH) {
    // The value itself is never put into an error.
    throw new MeshBridgeError('ADMIN_TOKEN_INVALID', `the admin token is ${token.length} characters: at least ${MIN_TOKEN_LENGTH} are needed`, { where: admin.tokenFile ?? 'MESH_BRIDGE_ADMIN_TOKEN' });
  }
  if (token === null && !isLoopbackHost(admin.host)) {
    throw new MeshBridgeError(
      'ADMIN_TOKEN_MISSING',
      `admin.host is ${admin.host}, reachable from other machines: set admin.tokenFile or MESH_BRIDGE_ADMIN_TOKEN (the token changes need), or bind the admin API to 127.0.0.1`,
      { value: admin.host, where: 'admin.host' },
    );
  }
  return token;
}

export interface AdminGuardOptions {
  /** Host header names accepted besides IP addresses and localhost. */
  allowedHosts: readonly string[];
  /** Required on mutating calls when set. */
  token: string | null;
  /** Writes that need no token (the embedded Eureka's registrations: Eureka clients send none). */
  tokenExempt: (path: string) => boolean;
  metrics: Registry;
}

/** `host[:port]` to the host alone (brackets kept off IPv6), lower case. */
function hostOf(hostHeader: string): string {
  const value = hostHeader.trim().toLowerCase();
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    return end < 0 ? value : value.slice(1, end);
  }
  const colon = value.indexOf(':');
  // Two colons: an IPv6 address without brackets (no port can be told apart then).
  if (colon >= 0 && value.indexOf(':', colon + 1) >= 0) return value;
  return colon < 0 ? value : value.slice(0, colon);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export function adminGuard(options: AdminGuardOptions): RequestHandler {
  const allowed = new Set(options.allowedHosts.map((h) => h.toLowerCase()));
  const tokenDigest = options.token === null ? null : digest(options.token);
  const refusals = counter(options.metrics, 'mesh_bridge_admin_refused_total', 'Admin API requests refused before any route, by reason', ['reason']);

  const refuse = (res: Response, status: number, reason: RefusalReason, code: string, message: string): void => {
    refusals.inc({ reason });
    if (status === 401) res.set('WWW-Authenticate', 'Bearer realm="mesh-bridge admin"');
    res.status(status).json({ error: { code, message } });
  };

  const hostAllowed = (header: string | undefined): boolean => {
    // HTTP/1.0 callers may send none; browsers always do.
    if (header === undefined) return true;
    const host = hostOf(header);
    return isIP(host) !== 0 || isLoopbackHost(host) || allowed.has(host);
  };

  return (req: Request, res: Response, next: NextFunction): void => {
    if (!hostAllowed(req.headers.host)) {
      refuse(res, 403, 'host', 'HOST_NOT_ALLOWED', `Host ${JSON.stringify(req.headers.host)} is not a name of this admin API: add it to admin.allowedHosts`);
      return;
    }
    if (SAFE_METHODS.has(req.method)) {
      next();
      return;
    }
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') {
      refuse(res, 403, 'cross_origin', 'CROSS_ORIGIN_REFUSED', `a ${site} request may not change anything here`);
      return;
    }
    const origin = req.headers.origin;
    if (origin !== undefined) {
      let originHost: string | null;
      try {
        originHost = new URL(origin).host.toLowerCase();
      } catch {
        originHost = null; // "null" and other opaque origins
      }
      if (originHost === null || originHost !== (req.headers.host ?? '').toLowerCase()) {
        refuse(res, 403, 'cross_origin', 'CROSS_ORIGIN_REFUSED', `a request from origin ${JSON.stringify(origin)} may not change anything here`);
        return;
      }
    }
    if (tokenDigest !== null && !options.tokenExempt(req.path)) {
      const header = req.headers.authorization;
      const match = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
      if (match === null) {
        refuse(res, 401, 'token_missing', 'TOKEN_REQUIRED', 'this change needs the admin token: Authorization: Bearer <token>');
        return;
      }
      if (!timingSafeEqual(digest(match[1]), tokenDigest)) {
        refuse(res, 401, 'token_invalid', 'TOKEN_INVALID', 'the admin token does not match');
        return;
      }
      res.locals.auth = 'token';
    } else res.locals.auth = 'none';
    next();
  };
}
