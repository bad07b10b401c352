// The runner's hands and eyes on the bridges: weights changed through the admin API exactly as a
// person would (PUT /weights/<service>, which every replica applies through ZooKeeper), checked on
// every replica, and each replica's /metrics read for the judge. I/O only; every call has a
// deadline and every answer a size bound.
import { request } from 'undici';
import { MeshBridgeError } from '../../errors';
import { Snapshot, parseCallHistograms } from './call-histograms';
import type { ExportInstance } from './exports';

export interface BridgeClientOptions {
  /** Admin API base URLs of every bridge replica (`http://host:port`). */
  bridges: string[];
  /** The admin token changes need (Authorization: Bearer), or null. */
  token: string | null;
  /** Deadline of one HTTP exchange. */
  timeoutMs?: number;
  /** Largest /metrics answer read. */
  maxMetricsBytes?: number;
}

/** A unit's weight target: a service's, or one method's (`service#method`). */
export interface WeightTarget {
  service: string;
  method: string | null;
}

export function targetOf(unit: string): WeightTarget {
  const hash = unit.indexOf('#');
  return hash < 0 ? { service: unit, method: null } : { service: unit.slice(0, hash), method: unit.slice(hash + 1) };
}

/** A failed change: `permanent` when the bridge refused it (4xx: unknown service, bad weight), so retrying cannot help. */
export class BridgeChangeError extends MeshBridgeError {
  constructor(
    message: string,
    readonly permanent: boolean,
    where: string,
  ) {
    super('CUTOVER_BRIDGE_FAILED', message, { where });
  }
}

interface WeightAnswer {
  service: string;
  mesh: number;
  methods: Array<{ service: string; method?: string; mesh: number }>;
}

export interface WeightSetting {
  service: string;
  method?: string;
  mesh: number;
}

const DEFAULT_TIMEOUT_MS = 5000;
const MAX_JSON_BYTES = 4 * 1024 * 1024;

export class BridgeClient {
  readonly bridges: string[];
  private readonly token: string | null;
  private readonly timeoutMs: number;
  private readonly maxMetricsBytes: number;

  constructor(options: BridgeClientOptions) {
    if (options.bridges.length === 0) throw new MeshBridgeError('CLI_USAGE', 'give the admin URL of at least one bridge (--bridges)', { where: '--bridges' });
    this.bridges = options.bridges.map((b) => b.replace(/\/+$/, ''));
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxMetricsBytes = options.maxMetricsBytes ?? 64 * 1024 * 1024;
  }

  private async exchange(url: string, method: 'GET' | 'PUT' | 'DELETE', body: unknown, maxBytes: number): Promise<{ status: number; text: string }> {
    const headers: Record<string, string> = {};
    if (this.token !== null && method !== 'GET') headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const answer = await request(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of answer.body) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) {
        answer.body.destroy();
        throw new MeshBridgeError('CUTOVER_BAD_METRICS', `the answer of ${url} is larger than ${maxBytes} bytes`, { value: size, where: url });
      }
      chunks.push(chunk as Buffer);
    }
    return { status: answer.statusCode, text: Buffer.concat(chunks).toString('utf8') };
  }

  /**
   * Sets a unit's mesh weight on one bridge (the first that takes it; the others follow through
   * ZooKeeper). Throws BridgeChangeError: permanent when a bridge refused it, else none answered.
   */
  async setWeight(target: WeightTarget, mesh: number): Promise<string> {
    const body = target.method === null ? { mesh } : { method: target.method, mesh };
    const problems: string[] = [];
    for (const bridge of this.bridges) {
      const url = `${bridge}/weights/${encodeURIComponent(target.service)}`;
      try {
        const { status, text } = await this.exchange(url, 'PUT', body, MAX_JSON_BYTES);
        if (status === 200) return bridge;
        const message = `PUT ${url} ${JSON.stringify(body)}: ${status} ${text.slice(0, 300)}`;
        // 4xx: the change itself is wrong (unknown service, no token); another replica would say the same.
        if (status >= 400 && status < 500) throw new BridgeChangeError(message, true, url);
        problems.push(message);
      } catch (err) {
        if (err instanceof BridgeChangeError) throw err;
        problems.push(`PUT ${url}: ${(err as Error).message}`);
      }
    }
    throw new BridgeChangeError(`no bridge took the change: ${problems.join('; ')}`, false, this.bridges.join(','));
  }

  /** The unit's mesh weight as one replica applies it; null when it does not answer. */
  async weightOn(bridge: string, target: WeightTarget): Promise<number | null> {
    try {
      const { status, text } = await this.exchange(`${bridge}/weights/${encodeURIComponent(target.service)}`, 'GET', undefined, MAX_JSON_BYTES);
      if (status !== 200) return null;
      const answer = JSON.parse(text) as WeightAnswer;
      if (target.method === null) return answer.mesh;
      const method = answer.methods.find((m) => m.method === target.method);
      return method ? method.mesh : answer.mesh;
    } catch {
      return null;
    }
  }

  /**
   * Waits (polling, until `deadline`) for every replica that answers to apply the weight; true
   * once they all do and at least one answered. Replicas that never answer are returned apart.
   */
  async waitApplied(target: WeightTarget, mesh: number, deadline: number, pollMs = 100): Promise<{ applied: boolean; unreachable: string[] }> {
    for (;;) {
      const seen = await Promise.all(this.bridges.map((b) => this.weightOn(b, target)));
      const unreachable = this.bridges.filter((_b, i) => seen[i] === null);
      const answered = seen.filter((w): w is number => w !== null);
      if (answered.length > 0 && answered.every((w) => w === mesh)) return { applied: true, unreachable };
      if (Date.now() >= deadline) return { applied: false, unreachable };
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /** Every replica's call histograms; a replica that does not answer is an error (the look is skipped). */
  async scrape(): Promise<Snapshot[]> {
    return Promise.all(
      this.bridges.map(async (bridge) => {
        const url = `${bridge}/metrics`;
        let answer: { status: number; text: string };
        try {
          answer = await this.exchange(url, 'GET', undefined, this.maxMetricsBytes);
        } catch (err) {
          throw new MeshBridgeError('CUTOVER_BAD_METRICS', `cannot read ${url}: ${(err as Error).message}`, { where: url, cause: err });
        }
        if (answer.status !== 200) throw new MeshBridgeError('CUTOVER_BAD_METRICS', `GET ${url} answered ${answer.status}`, { value: answer.status, where: url });
        return parseCallHistograms(answer.text, url);
      }),
    );
  }

  /** The weights in force (from the first bridge that answers): every service's and method's. */
  async listWeights(): Promise<WeightSetting[]> {
    const problems: string[] = [];
    for (const bridge of this.bridges) {
      try {
        const { status, text } = await this.exchange(`${bridge}/weights`, 'GET', undefined, MAX_JSON_BYTES);
        if (status === 200) return (JSON.parse(text) as { weights: WeightSetting[] }).weights;
        problems.push(`${bridge}: ${status}`);
      } catch (err) {
        problems.push(`${bridge}: ${(err as Error).message}`);
      }
    }
    throw new MeshBridgeError('CUTOVER_BRIDGE_FAILED', `no bridge answered GET /weights: ${problems.join('; ')}`, { where: this.bridges.join(',') });
  }

  /** The provider endpoints one bridge knows for a service ([] when it knows none). */
  async instancesOf(service: string): Promise<ExportInstance[]> {
    for (const bridge of this.bridges) {
      try {
        const { status, text } = await this.exchange(`${bridge}/catalog/${encodeURIComponent(service)}`, 'GET', undefined, MAX_JSON_BYTES);
        if (status === 404) return [];
        if (status !== 200) continue;
        const answer = JSON.parse(text) as { instances: ExportInstance[] };
        return answer.instances.map((i) => ({ host: i.host, port: i.port, stack: i.stack, weight: i.weight, group: i.group ?? '', version: i.version ?? '' }));
      } catch {
        // the next bridge
      }
    }
    throw new MeshBridgeError('CUTOVER_BRIDGE_FAILED', `no bridge answered GET /catalog/${service}`, { value: service, where: this.bridges.join(',') });
  }
}
