// What the embedded Eureka server accepts from registrants, and who may change what: metadata
// limits, redaction of secret-looking metadata, the bounded label a refusal is counted under, and
// the owner rule (an instance is changed only from the address that registered it, or by an
// operator address). Pure: no I/O.
import { timingSafeEqual, createHash } from 'node:crypto';
import { MeshBridgeError } from '../errors';
import { Redactor } from '../telemetry/redact';
import type { EurekaInstance } from './eureka-instance';

export interface RegistrationPolicyOptions {
  maxMetadataBytes?: number;
  maxMetadataEntries?: number;
  maxInstancesPerApp?: number;
  maxApps?: number;
  /** Masks secret-looking metadata on registration (the process's `redact.keys`). */
  redactor?: Redactor;
  /** Addresses that may cancel or override any instance (operators). Default: loopback. */
  operatorAddresses?: readonly string[];
  /** HTTP basic credentials every changing request must carry, when set. */
  credentials?: { username: string; password: string };
}

const LOOPBACK = ['127.0.0.1', '::1', '::ffff:127.0.0.1'];

/** The fields a refusal may be counted under: a fixed set, so a metric's series are bounded. */
const REFUSAL_FIELDS = new Set([
  'body',
  'instance',
  'app',
  'hostName',
  'ipAddr',
  'instanceId',
  'status',
  'overriddenStatus',
  'port',
  'securePort',
  'countryId',
  'dataCenterInfo',
  'leaseInfo',
  'metadata',
  'lastDirtyTimestamp',
  'lastUpdatedTimestamp',
  'value',
  'xml',
  'content-type',
  'credentials',
  'owner',
  'limits',
]);

/** The bounded label of where a refusal was found: `metadata.x.y` -> `metadata`, `xml@12` -> `xml`, unknown -> `other`. */
export function refusalField(where: unknown): string {
  if (typeof where !== 'string') return 'body';
  const head = where.split(/[.@[]/, 1)[0] as string;
  return REFUSAL_FIELDS.has(head) ? head : 'other';
}

const utf8Length = (text: string): number => Buffer.byteLength(text, 'utf8');

export class RegistrationPolicy {
  readonly maxMetadataBytes: number;
  readonly maxMetadataEntries: number;
  readonly maxInstancesPerApp: number;
  readonly maxApps: number;
  private readonly redactor: Redactor;
  private readonly operators: Set<string>;
  private readonly expectedAuthorization: Buffer | null;

  constructor(options: RegistrationPolicyOptions = {}) {
    this.maxMetadataBytes = options.maxMetadataBytes ?? 16 * 1024;
    this.maxMetadataEntries = options.maxMetadataEntries ?? 64;
    this.maxInstancesPerApp = options.maxInstancesPerApp ?? 10_000;
    this.maxApps = options.maxApps ?? 10_000;
    this.redactor = options.redactor ?? new Redactor();
    this.operators = new Set(options.operatorAddresses ?? LOOPBACK);
    const { credentials } = options;
    this.expectedAuthorization =
      credentials === undefined ? null : digest(`Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`);
  }

  /** True when changing requests must carry credentials. */
  get needsCredentials(): boolean {
    return this.expectedAuthorization !== null;
  }

  /** Checks an Authorization header in constant time; throws EUREKA_UNAUTHORIZED. The header is never logged. */
  checkCredentials(authorization: string | undefined): void {
    if (this.expectedAuthorization === null) return;
    if (authorization !== undefined && timingSafeEqual(digest(authorization), this.expectedAuthorization)) return;
    throw new MeshBridgeError('EUREKA_UNAUTHORIZED', 'this Eureka server needs registration credentials (HTTP basic)', { where: 'credentials' });
  }

  /** Refuses metadata beyond the limits (EUREKA_METADATA_TOO_LARGE), and redacts secret-looking values. */
  admit(instance: EurekaInstance): EurekaInstance {
    const entries = Object.entries(instance.metadata);
    if (entries.length > this.maxMetadataEntries) {
      throw new MeshBridgeError('EUREKA_METADATA_TOO_LARGE', `metadata has ${entries.length} entries, at most ${this.maxMetadataEntries} are accepted`, { value: entries.length, where: 'metadata' });
    }
    let bytes = 0;
    for (const [key, value] of entries) bytes += utf8Length(key) + utf8Length(value);
    if (bytes > this.maxMetadataBytes) {
      throw new MeshBridgeError('EUREKA_METADATA_TOO_LARGE', `metadata is ${bytes} bytes, at most ${this.maxMetadataBytes} are accepted`, { value: bytes, where: 'metadata' });
    }
    const metadata = this.redactor.labels(instance.metadata);
    return metadata === instance.metadata ? instance : { ...instance, metadata: { ...metadata } };
  }

  /**
   * Whether a request from `from` may change (re-register, renew, cancel, override) an instance
   * registered from `owner`: the same address, or an operator's. Internal calls pass no address.
   */
  mayChange(from: string | undefined, owner: string | undefined): boolean {
    if (from === undefined || owner === undefined) return true;
    return normalise(from) === normalise(owner) || this.operators.has(from) || this.operators.has(normalise(from));
  }

  /** Whether `from` is an operator address (may end self-preservation). */
  isOperator(from: string | undefined): boolean {
    return from === undefined || this.operators.has(from) || this.operators.has(normalise(from));
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function normalise(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
