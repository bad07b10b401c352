// Who a caller says it is. Until mutual TLS gives a verified identity, it is the application a
// caller claims: by default what the listener reads (the Dubbo `application` attachment, the HTTP
// `x-caller-app` header), or a header or attachment the config names. Such an identity is always
// reported as unverified: in refusal messages, metric labels and the access log.
import { z } from 'zod';
import type { ProxyRequest } from './filter';

export const identitySourceSchema = z
  .object({
    /** HTTP: the header naming the caller's application (default: x-caller-app). */
    header: z
      .string()
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected an HTTP header name')
      .transform((h) => h.toLowerCase())
      .optional(),
    /** Dubbo: the attachment naming the caller's application (default: application). */
    attachment: z.string().min(1).optional(),
  })
  .strict();

export type IdentitySource = z.infer<typeof identitySourceSchema>;

/** How far an identity can be trusted: `unverified` (claimed), `none` (the caller named none). `verified` comes with mTLS. */
export type IdentityKind = 'unverified' | 'none';

/** The application the caller claims, from the configured source or the listener's default. */
export function claimedApp(request: ProxyRequest, source: IdentitySource | undefined): string | undefined {
  const name = source === undefined ? undefined : request.protocol === 'http' ? source.header : source.attachment;
  return name === undefined ? request.callerApp() : request.attribute(name);
}

export function identityKind(app: string | undefined): IdentityKind {
  return app === undefined ? 'none' : 'unverified';
}
