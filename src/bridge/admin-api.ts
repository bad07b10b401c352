// The admin API (express): the catalog as JSON, Prometheus metrics, health, and the status of each
// sync. Registry endpoints (the embedded Eureka) are mounted beside it by the bridge process.
import express, { NextFunction, Request, Response, Router } from 'express';
import { Catalog } from '../catalog';
import { MeshBridgeError } from '../errors';
import { Registry } from '../telemetry/metrics';

export interface AdminApiOptions {
  catalog: Catalog;
  metrics: Registry;
  /** What is degraded, for GET /healthz (503 unless all is well). */
  health?: () => { status: string; degraded: Array<{ part: string; reason: string }> };
  /** Named status reports, e.g. `zookeeper` and `eureka`, shown at GET /status. */
  status?: () => Record<string, unknown>;
}

export function createAdminRouter(options: AdminApiOptions): Router {
  const { catalog, metrics } = options;
  const router = express.Router();

  // Readiness: 503 while a part the config asks for (ZooKeeper, an external Eureka) is not working.
  router.get('/healthz', (_req, res) => {
    const health = options.health?.() ?? { status: 'ok', degraded: [] };
    res.status(health.status === 'ok' ? 200 : 503).json(health);
  });

  // Liveness: the process answers. Restarting a bridge does not bring ZooKeeper back.
  router.get('/livez', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/status', (_req, res) => {
    res.json({ revision: catalog.revision, instances: catalog.instanceCount, ...(options.status?.() ?? {}) });
  });

  router.get('/catalog', (_req, res) => {
    const services = catalog
      .serviceNames()
      .sort()
      .map((name) => ({ name, revision: catalog.serviceRevision(name), instances: catalog.instances(name) }));
    res.json({ revision: catalog.revision, services });
  });

  router.get('/catalog/:service', (req: Request<{ service: string }>, res) => {
    const name = req.params.service;
    const instances = catalog.instances(name);
    if (instances.length === 0) {
      res.status(404).json({ error: { code: 'SERVICE_NOT_FOUND', message: `no service named ${name} in the catalog`, value: name } });
      return;
    }
    res.json({ name, revision: catalog.serviceRevision(name), instances });
  });

  router.get('/metrics', async (_req, res) => {
    res.set('Content-Type', metrics.contentType);
    res.send(await metrics.metrics());
  });

  return router;
}

/** Answers every error as JSON with a code, never an HTML page or a stack trace. */
export function jsonErrorHandler(err: unknown, _req: Request, res: Response, next: NextFunction): void {
  if (res.headersSent) {
    next(err);
    return;
  }
  const status = typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : 500;
  const code = err instanceof MeshBridgeError ? err.code : status === 400 ? 'BAD_REQUEST' : 'INTERNAL';
  res.status(status).json({ error: { code, message: (err as Error).message ?? String(err) } });
}
