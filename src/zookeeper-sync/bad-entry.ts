// What a reader does with a registry entry it cannot use: a reason (the metric label) and the
// offending value (logged once). Parsers return these instead of throwing, so one bad znode never
// stops a watcher or removes good entries.

export type BadEntryReason =
  | 'unparsable_znode_name'
  | 'malformed_url'
  | 'interface_mismatch'
  | 'unsupported_protocol'
  | 'malformed_instance';

export interface BadEntry {
  reason: BadEntryReason;
  /** The offending znode name or payload, as found. */
  value: string;
  message: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; bad: BadEntry };

export function good<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

export function bad<T>(reason: BadEntryReason, value: string, message: string): Parsed<T> {
  return { ok: false, bad: { reason, value, message } };
}

/**
 * The URL parameter (Dubbo) or metadata key (Dubbo 3 / Curator) a bridge stamps on what it writes,
 * naming its owner id. The ledger is the authority on what bridges wrote; this tag is the second
 * line of defence for a reader whose ledger view lags behind.
 */
export const BRIDGE_TAG = 'mesh-bridge';
