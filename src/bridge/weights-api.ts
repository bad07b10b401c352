// The admin API's traffic knob and gauges: legacy/mesh weights per service and method, changed at
// runtime without dropping a request, and per service and stack the traffic over a sliding window
// (requests, errors, latency percentiles) that the cutover planner gates on.
import express, { Request, Router } from 'express';
import { z } from 'zod';
import { StackWeights } from './route/stack-weights';
import { TrafficStats } from './stats/traffic-stats';

const weightBody = z.object({ mesh: z.number().min(0).max(100), method: z.string().min(1).optional() }).strict();

export interface WeightsApiOptions {
  weights: StackWeights;
  stats: { dubbo?: TrafficStats; http?: TrafficStats };
  onChange?: (change: { service: string; method?: string; mesh: number | null }) => void;
}

export function createWeightsRouter(options: WeightsApiOptions): Router {
  const { weights } = options;
  const router = express.Router();
  // Parsed here only: the router sits at the root beside the Eureka routes, which read their own bodies.
  const json = express.json({ limit: '16kb' });

  router.get('/weights', (_req, res) => {
    res.json({ revision: weights.revision, weights: weights.list() });
  });

  router.get('/weights/:service', (req: Request<{ service: string }>, res) => {
    const service = req.params.service;
    res.json({ service, mesh: weights.meshWeight(service), methods: weights.list().filter((w) => w.service === service && w.method) });
  });

  // PUT {"mesh": 30} sets the service's weight; {"mesh": 100, "method": "pay"} one method's.
  router.put('/weights/:service', json, (req: Request<{ service: string }>, res) => {
    const parsed = weightBody.safeParse(req.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      res.status(400).json({ error: { code: 'WEIGHT_INVALID', message: `${issue.path.join('.') || 'body'}: ${issue.message}`, value: req.body } });
      return;
    }
    const { mesh, method } = parsed.data;
    weights.set({ service: req.params.service, method, mesh });
    options.onChange?.({ service: req.params.service, method, mesh });
    res.json({ service: req.params.service, method, mesh, revision: weights.revision });
  });

  // DELETE /weights/:service[?method=m]: back to the configured default (or the service's weight).
  router.delete('/weights/:service', (req: Request<{ service: string }>, res) => {
    const method = typeof req.query.method === 'string' ? req.query.method : undefined;
    weights.clear(req.params.service, method);
    options.onChange?.({ service: req.params.service, method, mesh: null });
    res.json({ service: req.params.service, method, mesh: weights.meshWeight(req.params.service, method), revision: weights.revision });
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
