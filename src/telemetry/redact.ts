// Secrets kept out of what the bridge shows and logs: Dubbo URL parameters such as `token=`, Eureka
// metadata such as `db.password`, and Authorization headers. A key is secret when its name contains
// one of a configurable list of words (case-insensitive); its value is replaced, the key kept, so
// an operator still sees that it is set.

/** Words that mark a key as secret when its name contains one. */
export const DEFAULT_SECRET_KEYS: readonly string[] = ['password', 'passwd', 'pwd', 'secret', 'token', 'credential', 'apikey', 'api-key', 'api_key', 'accesskey', 'access-key', 'access_key', 'privatekey', 'private-key', 'private_key', 'authorization', 'cookie'];

export const REDACTED = '[redacted]';

const MAX_DEPTH = 6;
/** `scheme://user:password@` in a URL. */
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)[^/@\s:]*:[^/@\s]*@/gi;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class Redactor {
  private readonly words: string[];
  /** `token=abc` inside a URL or query string (Dubbo URLs in logs and labels). */
  private readonly inText: RegExp | null;

  constructor(words: readonly string[] = DEFAULT_SECRET_KEYS) {
    this.words = words.map((w) => w.toLowerCase()).filter((w) => w.length > 0);
    this.inText = this.words.length === 0 ? null : new RegExp(`([?&;,\\s]|^)([\\w.-]*(?:${this.words.map(escapeRegExp).join('|')})[\\w.-]*=)[^&\\s"',;]*`, 'gi');
  }

  isSecretKey(key: string): boolean {
    const lower = key.toLowerCase();
    for (const word of this.words) if (lower.includes(word)) return true;
    return false;
  }

  /** A string with `secretkey=value` pairs (URL parameters) and URL credentials (`user:password@`) masked. */
  text(value: string): string {
    let out = value;
    if (out.includes('@')) out = out.replace(URL_CREDENTIALS, `$1${REDACTED}@`);
    if (this.inText === null || !out.includes('=')) return out;
    return out.replace(this.inText, `$1$2${REDACTED}`);
  }

  /** A labels map (Dubbo URL parameters, Eureka metadata) with secret values masked; the same object when none is. */
  labels(labels: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
    let out: Record<string, string> | null = null;
    for (const [key, value] of Object.entries(labels)) {
      const masked = this.isSecretKey(key) ? REDACTED : this.text(value);
      if (masked === value) continue;
      out ??= { ...labels };
      out[key] = masked;
    }
    return out ?? labels;
  }

  /** Any JSON-like value with secret keys and URL parameters masked (bounded depth; cycles cut). */
  value(value: unknown, depth = 0, seen: Set<object> = new Set()): unknown {
    if (typeof value === 'string') return this.text(value);
    if (typeof value !== 'object' || value === null || value instanceof Error || Buffer.isBuffer(value)) return value;
    if (depth >= MAX_DEPTH || seen.has(value)) return value;
    seen.add(value);
    if (Array.isArray(value)) return value.map((item) => this.value(item, depth + 1, seen));
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      out[key] = this.isSecretKey(key) && item !== undefined && item !== null && item !== '' ? REDACTED : this.value(item, depth + 1, seen);
    }
    return out;
  }
}
