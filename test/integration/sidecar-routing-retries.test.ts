// Timeouts and retries per route in the sidecar, seen from a real apache-dubbo-js consumer: a
// provider that drops its connection gets an idempotent call retried on another instance (the
// caller sees success) and a non-idempotent one answered with the failure; when many calls fail at
// once the retry budget (a share of the active requests, with a floor) refuses most retries, and
// counts them; a per-method timeout cuts a slow call.
import { Server, createServer } from 'node:http';
import { CodecProvider, startCodecProvider } from '../support/dubbo-codec-provider';
import { httpCall } from '../support/http-call';
import { DubboJsConsumer, SofaProvider, java, startSofaProvider } from '../support/dubbo-peers';
import { SidecarDubboLab, startSidecarDubboLab } from '../support/sidecar-dubbo-lab';
import { waitFor } from '../support/wait';

const IFACE = 'com.example.demo.LedgerService';
const VERSION = '1.0.0';
const METHODS = ['read', 'write', 'slow'];

describe('mesh-bridge sidecar: timeouts, retries and the retry budget', () => {
  let dropper: CodecProvider;
  let healthy: SofaProvider;
  let healthyDelayMs = 0;
  const healthyCalls: string[] = [];
  let lab: SidecarDubboLab;
  let consumer: DubboJsConsumer;
  const service = `stack="dubbo.outbound",service="${IFACE}"`;
  const metric = (name: string, labels: string) => lab.metric(name, labels);
  const servers: Server[] = [];

  /** An HTTP app: `drop` resets every connection as soon as a request arrives. */
  async function httpApp(drop: boolean): Promise<string> {
    const server = createServer((req, res) => (drop ? req.socket.resetAndDestroy() : res.end(`healthy ${req.method}`)));
    servers.push(server);
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    return `127.0.0.1:${(server.address() as { port: number }).port}`;
  }

  beforeAll(async () => {
    // Takes requests and never answers: the test drops its connections when it wants.
    dropper = await startCodecProvider({ answer: () => null });
    const answer = (method: string) => async (x: unknown) => {
      healthyCalls.push(method);
      if (healthyDelayMs > 0) await new Promise((done) => setTimeout(done, healthyDelayMs));
      return `healthy:${method}:${String(x)}`;
    };
    healthy = await startSofaProvider({ interface: IFACE, version: VERSION, methods: Object.fromEntries(METHODS.map((m) => [m, answer(m)])), register: false });
    const [httpDropper, httpHealthy] = [await httpApp(true), await httpApp(false)];
    lab = await startSidecarDubboLab(
      {
        app: 'ledger-client',
        admin: { listen: '127.0.0.1:0' },
        outbound: {
          listen: '127.0.0.1:0',
          services: [
            {
              name: 'ledger',
              retries: 1,
              legacy: [
                { address: httpDropper, weight: 10_000 },
                { address: httpHealthy, weight: 1 },
              ],
            },
          ],
        },
        dubbo: {
          outbound: {
            listen: '127.0.0.1:0',
            services: [
              {
                name: IFACE,
                // Equal pending counts go by weight: the dropper takes a lone call.
                legacy: [
                  { address: dropper.address, weight: 10_000 },
                  { address: healthy.address, weight: 1 },
                ],
                timeoutMs: 4000,
                methods: { read: { idempotent: true }, slow: { timeoutMs: 300 } },
                retries: 1,
                caps: { retryBudget: { budgetPercent: 20, minRetryConcurrency: 1 } },
              },
            ],
          },
        },
      },
      { interface: IFACE, version: VERSION, methods: METHODS, timeoutSeconds: 10 },
    );
    consumer = lab.consumer;
  }, 90_000);

  afterAll(async () => {
    await lab?.stop();
    await healthy?.stop();
    await dropper?.close();
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    }
  });

  /** Calls `method` `n` times at once; drops the dropper's connection once `onDropper` of them reached it. */
  async function callsWithDrop(method: string, n: number, onDropper: number) {
    const before = dropper.requests();
    const calls = Array.from({ length: n }, (_, i) => consumer.call<string>(method, [java.String(`x${i}`)]));
    await waitFor(`${onDropper} calls to reach the dropping provider`, () => dropper.requests() >= before + onDropper, 10_000);
    dropper.dropConnections();
    return Promise.all(calls);
  }

  it('retries an idempotent call whose connection dropped on another instance: the caller sees success', async () => {
    const [result] = await callsWithDrop('read', 1, 1);
    expect(result).toMatchObject({ err: null, res: 'healthy:read:x0' });
    expect(await metric('mesh_sidecar_retries_total', service)).toBe(1);
  });

  it('does not retry a method not marked idempotent: the caller gets the failure', async () => {
    const writesBefore = healthyCalls.filter((m) => m === 'write').length;
    const [result] = await callsWithDrop('write', 1, 1);
    expect(result.res).toBeNull();
    expect(String(result.err?.message)).toMatch(/failed calling upstream 127\.0\.0\.1:\d+ \(legacy\) for com\.example\.demo\.LedgerService\.write/);
    expect(healthyCalls.filter((m) => m === 'write').length).toBe(writesBefore);
    expect(await metric('mesh_sidecar_retries_total', service)).toBe(1);
  });

  it('refuses retries past the budget when many calls fail at once, and counts them', async () => {
    // The healthy provider holds its answers, so all 10 calls are active when the dropper's 5 fail:
    // the budget allows max(1, 20 % of 10) = 2 retries in flight; the 3 others are refused.
    healthyDelayMs = 1500;
    try {
      const results = await callsWithDrop('read', 10, 5);
      expect(results.filter((r) => r.err === null)).toHaveLength(7);
      expect(results.filter((r) => r.err !== null)).toHaveLength(3);
    } finally {
      healthyDelayMs = 0;
    }
    expect(await metric('mesh_sidecar_retries_total', service)).toBe(3);
    expect(await metric('mesh_sidecar_retries_refused_total', `${service},reason="budget"`)).toBe(3);
  });

  it('cuts a call at its method timeout', async () => {
    const started = performance.now();
    const result = await consumer.call('slow', [java.String('s')]);
    expect(String(result.err?.message)).toContain('timed out after 300 ms');
    expect(performance.now() - started).toBeLessThan(3000);
  });

  it('retries an HTTP GET whose connection broke on another instance, never a POST', async () => {
    const port = lab.sidecar.outbound;
    expect(await httpCall(port, { host: 'ledger', method: 'GET', path: '/balance' })).toEqual({ status: 200, body: 'healthy GET' });
    const post = await httpCall(port, { host: 'ledger', method: 'POST', path: '/transfer' });
    expect(post.status).toBe(502);
    expect(post.body).toContain('HTTP_UPSTREAM_FAILED');
    expect(await metric('mesh_sidecar_retries_total', 'stack="outbound",service="ledger"')).toBe(1);
  });
});
