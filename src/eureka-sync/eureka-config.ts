// The `eureka:` section of the bridge's config file: the embedded server, external servers, how
// migrated apps are handed out, and the embedded server's limits and trust knobs.
import { z } from 'zod';
import { ConfigError } from '../errors';
import type { Redactor } from '../telemetry/redact';
import { RegistrationPolicy } from './registration-policy';


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
        /** Addresses that may cancel or override any instance and end self-preservation (operators). */
        operatorAddresses: z.array(z.union([z.ipv4(), z.ipv6()])).default(['127.0.0.1', '::1']),
      })
      .strict()
      .refine((r) => (r.username === undefined) === (r.passwordEnv === undefined), 'username and passwordEnv go together')
      .default({ maxMetadataBytes: 16 * 1024, maxMetadataEntries: 64, maxInstancesPerApp: 10_000, maxApps: 10_000, operatorAddresses: ['127.0.0.1', '::1'] }),
  })
  .strict();

export type EurekaConfig = z.infer<typeof eurekaConfigSchema>;

export const EUREKA_CONFIG_DEFAULTS: EurekaConfig = eurekaConfigSchema.parse({});

/** The embedded server's registration policy from its config; the password is read from the environment. */
export function registrationPolicyFromConfig(config: EurekaConfig, redactor?: Redactor, env: NodeJS.ProcessEnv = process.env): RegistrationPolicy {
  const { registration } = config;
  let credentials: { username: string; password: string } | undefined;
  if (registration.username !== undefined && registration.passwordEnv !== undefined) {
    const password = env[registration.passwordEnv];
    if (password === undefined || password === '') {
      throw new ConfigError(`eureka.registration.passwordEnv names ${registration.passwordEnv}, which is not set`, { where: 'eureka.registration.passwordEnv', value: registration.passwordEnv });
    }
    credentials = { username: registration.username, password };
  }
  return new RegistrationPolicy({
    maxMetadataBytes: registration.maxMetadataBytes,
    maxMetadataEntries: registration.maxMetadataEntries,
    maxInstancesPerApp: registration.maxInstancesPerApp,
    maxApps: registration.maxApps,
    operatorAddresses: registration.operatorAddresses,
    redactor,
    credentials,
  });
}
