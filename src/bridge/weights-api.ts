// The admin API's traffic knob and gauges: legacy/mesh weights per service and method, changed at
// runtime without dropping a request, and per service and stack the traffic over a sliding window
// (requests, errors, latency percentiles) that the cutover planner gates on. Every answer is JSON;
// every refusal has a code; every change is reported (old -> new) for the audit log.
import express, { Request, Response, Router } from 'express';
import { z } from 'zod';
import { isMeshBridgeError } from '../errors';
import { WeightControl } from './control/weight-control';
import { TrafficStats } from './stats/traffic-stats';

/** A Dubbo method name is a Java identifier; `__proto__` would name the storage's prototype, not a method. */
const methodName = z
  .string()
  .regex(/^[A-Za-z_$][A-Za-z0-9_$]{0,254}$/, 'expected a Dubbo method name (a Java identifier)')
  .refine((name) => name !== '__proto__', 'not a method name');

const weightBody = z.object({ mesh: z.number().min(0).max(100), method: methodName.optional() }).strict();

/** One change, as the audit log records it. */
export interface WeightChange {
  service: string;
  method?: string;
  /** The weight in force before and after (after: null when cleared back to the configured one). */
  before: number;
  mesh: number | null;
  after: number;
  /** Who asked: the caller's address and whether it presented the admin token. */
  who: { address: string; auth: string };
}

export interface WeightsApiOptions {
  control: WeightControl;
  /** The registry's spelling of a service name an operator gave; null for a service nobody knows. */
  resolve: (name: string) => string | null;
  /** Whether changes are shared with every bridge through ZooKeeper, for the answers. */
  shared: boolean;
  stats: { dubbo?: TrafficStats; http?: TrafficStats };
  onChange?: (change: WeightChange) => void;
  /**
   * What the Dubbo listener routes a service by when it differs from the operator's weight (steering
   * `slots`: the weight times (B + L) / B), with the figures behind it; null otherwise.
   */
  routedBy?: (service: string) => Record<string, unknown> | null;
}

function fail(res: Response, status: number, code: string, message: string, value?: unknown): void {
  res.status(status).json({ error: { code, message, value } });
}

function who(req: Request, res: Response): WeightChange['who'] {
  return { address: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`, auth: String(res.locals.auth ?? 'none') };
}

export function createWeightsRouter(options: WeightsApiOptions): Router {
  const { control } = options;
  const { weights } = control;
  const router = express.Router();

  /** A change the store refused (ZooKeeper unreachable): 503, and nothing changed anywhere. */
  const refused = (res: Response, err: unknown): void => {
    if (!isMeshBridgeError(err)) throw err;
    fail(res, 503, err.code, err.message);
  };
  // Parsed here only: the router sits at the root beside the Eureka routes, which read their own bodies.
  const json = express.json({ limit: '16kb', type: () => true });

  /** The service a path names, as its registry spells it; answers 404 (and returns null) for one nobody knows. */
  const serviceOf = (req: Request<{ service: string }>, res: Response): string | null => {
    const name = req.params.service;
    const service = options.resolve(name) ?? (control.overrideOf(name) !== null ? name : null);
    if (service === null) {
      fail(res, 404, 'SERVICE_NOT_FOUND', `no service named ${JSON.stringify(name)} is known: not in the catalog, not declared in the config`, name);
    }
    return service;
  };

  /** The `method` query parameter: absent, or exactly one valid name (400 otherwise, and undefined returned as null). */
  const methodOf = (req: Request, res: Response): string | undefined | null => {
    const raw = req.query.method;
    if (raw === undefined) return undefined;
    if (typeof raw !== 'string') {
      fail(res, 400, 'BAD_QUERY', 'the method parameter must be given once', raw);
      return null;
    }
    const parsed = methodName.safeParse(raw);
    if (!parsed.success) {
      fail(res, 400, 'BAD_QUERY', `method: ${parsed.error.issues[0].message}`, raw);
      return null;
    }
    return parsed.data;
  };

  const methodNotAllowed = (allow: string) => (req: Request, res: Response) => {
    res.set('Allow', allow);
    fail(res, 405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed here: ${allow}`);
  };

  router.get('/weights', (_req, res) => {
    res.json({ revision: weights.revision, shared: options.shared, weights: weights.list() });
  });
  router.all('/weights', methodNotAllowed('GET, HEAD'));

  router.get('/weights/:service', (req: Request<{ service: string }>, res) => {
    const service = serviceOf(req, res);
    if (service === null) return;
    res.json({
      service,
      mesh: weights.meshWeight(service),
      methods: weights.list().filter((w) => w.service === service && w.method),
      override: control.overrideOf(service),
      ...(options.routedBy?.(service) ?? {}),
    });
  });

  // PUT {"mesh": 30} sets the service's weight; {"mesh": 100, "method": "pay"} one method's.
  router.put('/weights/:service', (req: Request<{ service: string }>, res, next) => {
    if (!(req.get('content-type') ?? '').toLowerCase().startsWith('application/json')) {
      fail(res, 415, 'UNSUPPORTED_MEDIA_TYPE', 'send the weight as application/json', req.get('content-type') ?? null);
      return;
    }
    next();
  });
  router.put('/weights/:service', json, async (req: Request<{ service: string }>, res) => {
    const parsed = weightBody.safeParse(req.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      fail(res, 400, 'WEIGHT_INVALID', `${issue.path.join('.') || 'body'}: ${issue.message}`, req.body);
      return;
    }
    const { mesh, method } = parsed.data;
    const service = serviceOf(req, res);
    if (service === null) return;
    const before = weights.meshWeight(service, method);
    try {
      await control.set(service, method, mesh);
    } catch (err) {
      refused(res, err);
      return;
    }
    options.onChange?.({ service, method, before, mesh, after: weights.meshWeight(service, method), who: who(req, res) });
    res.json({ service, method, mesh, shared: options.shared, revision: weights.revision });
  });

  // DELETE /weights/:service[?method=m]: back to the configured weight (the service's, for a method).
  router.delete('/weights/:service', async (req: Request<{ service: string }>, res) => {
    const method = methodOf(req, res);
    if (method === null) return;
    const service = serviceOf(req, res);
    if (service === null) return;
    const before = weights.meshWeight(service, method);
    try {
      await control.clear(service, method);
    } catch (err) {
      refused(res, err);
      return;
    }
    const after = weights.meshWeight(service, method);
    options.onChange?.({ service, method, before, mesh: null, after, who: who(req, res) });
    res.json({ service, method, mesh: after, shared: options.shared, revision: weights.revision });
  });
  router.all('/weights/:service', methodNotAllowed('GET, HEAD, PUT, DELETE'));

  router.get('/traffic', (req, res) => {
    const service = typeof req.query.service === 'string' ? req.query.service : undefined;
    const now = Date.now();
    res.json({
      dubbo: options.stats.dubbo?.summaries(now, service) ?? [],
      http: options.stats.http?.summaries(now, service) ?? [],
    });
  });
  router.all('/traffic', methodNotAllowed('GET, HEAD'));

  return router;
}
