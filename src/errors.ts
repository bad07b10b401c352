// The one error hierarchy of mesh-bridge: every error carries a stable string code a caller can
// branch on, the offending value and where it was found.

/** Every error code mesh-bridge raises. Stable: operators grep logs and alert on these. */
export type ErrorCode =
  // dubbo-codec
  | 'DUBBO_BAD_MAGIC'
  | 'DUBBO_BODY_TOO_LARGE'
  | 'DUBBO_BAD_SERIALIZATION'
  | 'DUBBO_BAD_BODY'
  | 'DUBBO_TRUNCATED'
  | 'DUBBO_BAD_URL'
  | 'DUBBO_BAD_DESCRIPTOR'
  | 'HESSIAN_DECODE'
  | 'HESSIAN_ENCODE'
  // configuration and command line
  | 'CONFIG_INVALID'
  | 'CLI_USAGE'
  // the bridge process
  | 'LISTEN_FAILED'
  | 'BRIDGE_STOPPED'
  | 'ADMIN_TOKEN_MISSING'
  | 'ADMIN_TOKEN_INVALID'
  | 'INTERNAL'
  // registries
  | 'ZK_SESSION_EXPIRED'
  | 'ZK_UNAVAILABLE'
  | 'EUREKA_BAD_PAYLOAD'
  | 'EUREKA_UNAVAILABLE'
  | 'EUREKA_UNSUPPORTED_MEDIA_TYPE'
  | 'EUREKA_METADATA_TOO_LARGE'
  | 'EUREKA_REGISTRY_FULL'
  | 'EUREKA_UNAUTHORIZED'
  | 'EUREKA_NOT_OWNER'
  // catalog
  | 'CATALOG_BAD_INSTANCE'
  // cutover planner
  | 'PLAYBOOK_INVALID'
  | 'CUTOVER_BAD_WINDOW'
  | 'CUTOVER_BAD_GRAPH'
  | 'CUTOVER_BAD_COMMAND'
  | 'CUTOVER_BAD_METRICS'
  | 'CUTOVER_RUN_NOT_FOUND'
  | 'CUTOVER_PLAN_MISMATCH'
  | 'CUTOVER_STATE_CONFLICT'
  | 'CUTOVER_BRIDGE_FAILED'
  // data path
  | 'HTTP_PARSER_UNAVAILABLE';

export interface ErrorDetails {
  /** The offending value, kept short enough to log. */
  value?: unknown;
  /** Where it was found: a byte offset, a config key path, a znode path. */
  where?: string | number;
  cause?: unknown;
}

export class MeshBridgeError extends Error {
  readonly code: ErrorCode;
  readonly value: unknown;
  readonly where: string | number | undefined;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'MeshBridgeError';
    this.code = code;
    this.value = details.value;
    this.where = details.where;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, value: this.value, where: this.where };
  }
}

/** Errors raised by the pure Dubbo codec: a bad frame, body, URL or descriptor. */
export class CodecError extends MeshBridgeError {
  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(code, message, details);
    this.name = 'CodecError';
  }
}

export class ConfigError extends MeshBridgeError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('CONFIG_INVALID', message, details);
    this.name = 'ConfigError';
  }
}

export function isMeshBridgeError(err: unknown): err is MeshBridgeError {
  return err instanceof MeshBridgeError;
}

/** A short printable form of an offending value for error messages and logs. */
export function preview(value: unknown, max = 64): string {
  let text: string;
  if (Buffer.isBuffer(value)) text = value.subarray(0, max).toString('hex');
  else if (typeof value === 'string') text = JSON.stringify(value);
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > max ? `${text.slice(0, max)}...` : text;
}
