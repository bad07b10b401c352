// The `eureka:` section of the bridge's config file: the embedded server, external servers, how
// migrated apps are handed out, and the embedded server's limits and trust knobs.
import { z } from 'zod';

/** Metadata keys whose values are shown as `***` wherever instances are shown (substring, any case). */
export const DEFAULT_REDACTED_KEYS = ['password', 'passwd', 'secret', 'token', 'credential', 'key', 'auth', 'private', 'cookie', 'session'];

const eurekaUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//i.test(u), 'expected an http(s) URL');

export const eurekaConfigSchema = z
  .object({
    /** Serve a Eureka-compatible registry at /eureka/apps and /eureka/v2/apps on the admin port. */
    embedded: z.boolean().default(true),
    /** External Eureka servers to sync with, e.g. http://127.0.0.1:8761/eureka/ */
    servers: z.array(eurekaUrl).default([]),
    fetchIntervalMs: z.number().int().min(100).default(30_000),
    /** How apps being migrated are handed out at the bridge's HTTP listener. */
    handout: z
      .object({
        /** Host names handed out are `<app>.<hostSuffix>`: `*.<hostSuffix>` must resolve to the bridge. */
        hostSuffix: z
          .string()
          .regex(/^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$/, 'expected a DNS name')
          .default('localhost'),
        /** The address clients connect to; default: the HTTP listener's host (required when it is a wildcard). */
        address: z.string().min(1).optional(),
      })
      .strict()
      .default({ hostSuffix: 'localhost' }),
    /** Registrations into the embedded server. */
    registration: z
      .object({
        /** When set, registrations, heartbeats, cancels and overrides need HTTP basic credentials. */
        username: z.string().min(1).optional(),
        /** Environment variable holding the password (never the password itself in the file). */
        passwordEnv: z.string().min(1).optional(),
        /** Largest metadata of one instance, keys and values in UTF-8 bytes. */
        maxMetadataBytes: z.number().int().min(256).default(16 * 1024),
        maxMetadataEntries: z.number().int().min(1).default(64),
        maxInstancesPerApp: z.number().int().min(1).default(10_000),
        maxApps: z.number().int().min(1).default(10_000),
      })
      .strict()
      .refine((r) => (r.username === undefined) === (r.passwordEnv === undefined), 'username and passwordEnv go together')
      .default({ maxMetadataBytes: 16 * 1024, maxMetadataEntries: 64, maxInstancesPerApp: 10_000, maxApps: 10_000 }),
    /** Metadata keys shown as `***` (substring match, any case). */
    redactKeys: z.array(z.string().min(1)).default(DEFAULT_REDACTED_KEYS),
  })
  .strict();

export type EurekaConfig = z.infer<typeof eurekaConfigSchema>;

export const EUREKA_CONFIG_DEFAULTS: EurekaConfig = eurekaConfigSchema.parse({});
