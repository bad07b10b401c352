// What the bridges' provider URLs learned from legacy providers (methods, consumer settings), kept in
// ZooKeeper so a bridge started after the legacy providers left still writes a complete URL:
// `<bridgeRoot>/learned/<encoded interface>`, persistent, JSON `{"methods": [...], "params": {...}}`.
// Every bridge merges what it learned into what is stored (methods are a union), with the node's
// version, so two bridges never lose each other's.
import type { Logger } from '../telemetry/logger';
import { LogOnce } from '../telemetry/logger';
import { LearnedParams } from './export-plan';
import { zkCode, zookeeper } from './zk-client';
import { ZkLayout, joinPath } from './zk-paths';
import { ZkSession, isConnectionError } from './zk-session';

const MAX_ATTEMPTS = 5;

const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every((v) => typeof v === 'string');

/** Parses a stored entry; null when it is not one. */
export function parseLearned(data: Buffer): LearnedParams | null {
  let entry: { methods?: unknown; params?: unknown } | null;
  try {
    entry = JSON.parse(data.toString('utf8')) as typeof entry;
  } catch {
    return null;
  }
  const params = entry?.params;
  if (!isStringArray(entry?.methods) || typeof params !== 'object' || params === null || Array.isArray(params)) return null;
  const pairs = Object.entries(params as Record<string, unknown>);
  return pairs.every(([, v]) => typeof v === 'string') ? { methods: [...entry.methods].sort(), params: new Map(pairs as Array<[string, string]>) } : null;
}

export function formatLearned(learned: LearnedParams): Buffer {
  return Buffer.from(JSON.stringify({ methods: learned.methods, params: Object.fromEntries(learned.params) }));
}

/** Both together: methods a union, settings from `mine` where both say one. */
export function mergeLearned(stored: LearnedParams, mine: LearnedParams): LearnedParams {
  const methods = [...new Set([...stored.methods, ...mine.methods])].sort();
  const params = new Map([...stored.params, ...mine.params].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { methods, params };
}

export class LearnedParamsStore {
  private readonly logOnce = new LogOnce();
  /** The latest to save per service, while a save of it runs. */
  private readonly queued = new Map<string, LearnedParams>();
  private readonly saving = new Set<string>();

  constructor(
    private readonly session: ZkSession,
    private readonly layout: ZkLayout,
    private readonly logger: Logger,
    private readonly onError: () => void = () => undefined,
  ) {}

  private path(service: string): string {
    return joinPath(`${this.layout.bridgeRoot}/learned`, encodeURIComponent(service));
  }

  /** What the bridges stored for a service; undefined when nothing (or nothing readable). */
  async load(service: string): Promise<LearnedParams | undefined> {
    try {
      const found = await this.session.getData(this.path(service));
      if (found === null) return undefined;
      const learned = parseLearned(found.data);
      if (learned === null) this.failed(service, new Error(`unreadable entry: ${found.data.toString('utf8').slice(0, 200)}`));
      return learned ?? undefined;
    } catch (err) {
      this.failed(service, err);
      return undefined;
    }
  }

  /** Merges `learned` into what is stored, in the background; a later call for the service supersedes a queued one. */
  save(service: string, learned: LearnedParams): void {
    this.queued.set(service, learned);
    if (this.saving.has(service)) return;
    this.saving.add(service);
    void this.drain(service).finally(() => this.saving.delete(service));
  }

  private async drain(service: string): Promise<void> {
    for (let next = this.queued.get(service); next !== undefined; next = this.queued.get(service)) {
      this.queued.delete(service);
      try {
        await this.merge(service, next);
      } catch (err) {
        this.failed(service, err);
      }
    }
  }

  private async merge(service: string, mine: LearnedParams): Promise<void> {
    const path = this.path(service);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const stored = await this.session.getData(path);
      const current = stored === null ? null : parseLearned(stored.data);
      const next = current === null ? mine : mergeLearned(current, mine);
      try {
        if (stored === null) await this.session.createWithParents(path, formatLearned(next), 'persistent');
        else if (current === null || !formatLearned(current).equals(formatLearned(next))) await this.session.setData(path, formatLearned(next), stored.stat.version);
        return;
      } catch (err) {
        const code = zkCode(err);
        // Another bridge wrote in between: merge again into what it wrote.
        if (code === zookeeper.Exception.BAD_VERSION || code === zookeeper.Exception.NODE_EXISTS || code === zookeeper.Exception.NO_NODE) continue;
        throw err;
      }
    }
  }

  private failed(service: string, err: unknown): void {
    if (isConnectionError(err)) return; // the next change or start saves it again
    this.onError();
    if (this.logOnce.first(`learned|${service}`)) this.logger.warn({ err, service }, 'could not keep what the provider URL learned in zookeeper');
  }
}
