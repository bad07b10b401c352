// The admin API's traffic knob and gauges: legacy/mesh weights per service and method, changed at
// runtime without dropping a request, and per service and stack the traffic over a sliding window
// (requests, errors, latency percentiles) that the cutover planner gates on.
import express, { Request, Response, Router } from 'express';
import { z } from 'zod';
import { isMeshBridgeError } from '../errors';
import { WeightControl } from './route/weight-control';
import { TrafficStats } from './stats/traffic-stats';

const weightBody = z.object({ mesh: z.number().min(0).max(100), method: z.string().min(1).optional() }).strict();

export interface WeightsApiOptions {
  control: WeightControl;
  /** The registry's spelling of a service name an operator gave; null for a service nobody knows. */
  resolve: (name: string) => string | null;
  /** Whether changes are shared with every bridge through ZooKeeper, for the answers. */
  shared: boolean;
  stats: { dubbo?: TrafficStats; http?: TrafficStats };
  onChange?: (change: { service: string; method?: string; mesh: number | null }) => void;
}

export function createWeightsRouter(options: WeightsApiOptions): Router {
  const { control } = options;
  const { weights } = control;
  const router = express.Router();

  /** A change the store refused (ZooKeeper unreachable): 503, and nothing changed anywhere. */
  const refused = (res: Response, err: unknown): void => {
    if (!isMeshBridgeError(err)) throw err;
    res.status(503).json({ error: { code: err.code, message: err.message } });
  };
  // Parsed here only: the router sits at the root beside the Eureka routes, which read their own bodies.
  const json = express.json({ limit: '16kb' });

  /** The service a path names, as its registry spells it; answers 404 (and returns null) for one nobody knows. */
  const serviceOf = (req: Request<{ service: string }>, res: Response): string | null => {
    const name = req.params.service;
    const service = options.resolve(name) ?? (control.overrideOf(name) !== null ? name : null);
    if (service === null) {
      res.status(404).json({
        error: { code: 'SERVICE_NOT_FOUND', message: `no service named ${JSON.stringify(name)} is known: not in the catalog, not declared in the config`, value: name },
      });
    }
    return service;
  };

  router.get('/weights', (_req, res) => {
    res.json({ revision: weights.revision, shared: options.shared, weights: weights.list() });
  });

  router.get('/weights/:service', (req: Request<{ service: string }>, res) => {
    const service = serviceOf(req, res);
    if (service === null) return;
    res.json({
      service,
      mesh: weights.meshWeight(service),
      methods: weights.list().filter((w) => w.service === service && w.method),
      override: control.overrideOf(service),
    });
  });

  // PUT {"mesh": 30} sets the service's weight; {"mesh": 100, "method": "pay"} one method's.
  router.put('/weights/:service', json, async (req: Request<{ service: string }>, res) => {
    const parsed = weightBody.safeParse(req.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      res.status(400).json({ error: { code: 'WEIGHT_INVALID', message: `${issue.path.join('.') || 'body'}: ${issue.message}`, value: req.body } });
      return;
    }
    const { mesh, method } = parsed.data;
    const service = serviceOf(req, res);
    if (service === null) return;
    try {
      await control.set(service, method, mesh);
    } catch (err) {
      refused(res, err);
      return;
    }
    options.onChange?.({ service, method, mesh });
    res.json({ service, method, mesh, shared: options.shared, revision: weights.revision });
  });

  // DELETE /weights/:service[?method=m]: back to the configured weight (the service's, for a method).
  router.delete('/weights/:service', async (req: Request<{ service: string }>, res) => {
    const method = typeof req.query.method === 'string' ? req.query.method : undefined;
    const service = serviceOf(req, res);
    if (service === null) return;
    try {
      await control.clear(service, method);
    } catch (err) {
      refused(res, err);
      return;
    }
    options.onChange?.({ service, method, mesh: null });
    res.json({ service, method, mesh: weights.meshWeight(service, method), shared: options.shared, revision: weights.revision });
  });

  router.get('/traffic', (req, res) => {
    const service = typeof req.query.service === 'string' ? req.query.service : undefined;
    const now = Date.now();
    res.json({
      dubbo: options.stats.dubbo?.summaries(now, service) ?? [],
      http: options.stats.http?.summaries(now, service) ?? [],
    });
  });

  return router;
}
