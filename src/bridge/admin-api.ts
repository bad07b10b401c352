// The admin API (express): the catalog as JSON, Prometheus metrics, health, and the status of each
// sync. Registry endpoints (the embedded Eureka) are mounted beside it by the bridge process.
import express, { NextFunction, Request, Response, Router } from 'express';
import { Catalog, Instance } from '../catalog';
import { MeshBridgeError } from '../errors';
import { Registry } from '../telemetry/metrics';
import { Redactor } from '../telemetry/redact';

export interface AdminApiOptions {
  catalog: Catalog;
  metrics: Registry;
  /** Masks secrets (Dubbo `token=`, metadata such as passwords) in what /catalog shows. */
  redactor?: Redactor;
  /** What is degraded, for GET /healthz (503 unless all is well). */
  health?: () => { status: string; degraded: Array<{ part: string; reason: string }> };
  /** Named status reports, e.g. `zookeeper` and `eureka`, shown at GET /status. */
  status?: () => Record<string, unknown>;
}

export function createAdminRouter(options: AdminApiOptions): Router {
  const { catalog, metrics } = options;
  const redactor = options.redactor ?? new Redactor();
  const router = express.Router();
  const shown = (instances: Instance[]): Instance[] => instances.map((i) => ({ ...i, labels: redactor.labels(i.labels) }));

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
    // Registry URLs may carry credentials (http://user:password@eureka/): shown masked.
    res.json(redactor.value({ revision: catalog.revision, instances: catalog.instanceCount, ...(options.status?.() ?? {}) }));
  });

  router.get('/catalog', (_req, res) => {
    const services = catalog
      .serviceNames()
      .sort()
      .map((name) => ({ name, revision: catalog.serviceRevision(name), instances: shown(catalog.instances(name)) }));
    res.json({ revision: catalog.revision, services });
  });

  router.get('/catalog/:service', (req: Request<{ service: string }>, res) => {
    const name = req.params.service;
    const instances = catalog.instances(name);
    if (instances.length === 0) {
      res.status(404).json({ error: { code: 'SERVICE_NOT_FOUND', message: `no service named ${name} in the catalog`, value: name } });
      return;
    }
    res.json({ name, revision: catalog.serviceRevision(name), instances: shown(instances) });
  });

  router.get('/metrics', async (_req, res) => {
    res.set('Content-Type', metrics.contentType);
    res.send(await metrics.metrics());
  });

  return router;
}

/** Codes for the errors express and its body parser raise, by their `type` or HTTP status. */
const PARSER_CODES: Record<string, string> = {
  'entity.too.large': 'BODY_TOO_LARGE',
  'entity.parse.failed': 'BAD_JSON',
  'encoding.unsupported': 'UNSUPPORTED_ENCODING',
  'charset.unsupported': 'UNSUPPORTED_ENCODING',
  'request.aborted': 'REQUEST_ABORTED',
  'entity.verify.failed': 'BAD_REQUEST',
};
const STATUS_CODES: Record<number, string> = { 400: 'BAD_REQUEST', 404: 'NOT_FOUND', 405: 'METHOD_NOT_ALLOWED', 413: 'BODY_TOO_LARGE', 415: 'UNSUPPORTED_MEDIA_TYPE' };

/** Answers a path no route took: JSON, never Express's HTML page. */
export function jsonNotFound(req: Request, res: Response): void {
  res.status(404).json({ error: { code: 'NOT_FOUND', message: `nothing at ${req.method} ${req.path}` } });
}

/** Answers every error as JSON with a code, never an HTML page or a stack trace; defects go to `onInternal`. */
export function createJsonErrorHandler(onInternal: (err: unknown, req: Request) => void = () => undefined) {
  return (err: unknown, req: Request, res: Response, next: NextFunction): void => {
    const status = answerError(err, res);
    if (status === null) next(err);
    else if (status >= 500) onInternal(err, req);
  };
}

/** Answers every error as JSON with a code, never an HTML page or a stack trace. */
export function jsonErrorHandler(err: unknown, _req: Request, res: Response, next: NextFunction): void {
  if (answerError(err, res) === null) next(err);
}

/** Writes the JSON answer for an error; its status, or null when an answer had begun already. */
function answerError(err: unknown, res: Response): number | null {
  if (res.headersSent) return null;
  const raw = err as { status?: unknown; statusCode?: unknown; type?: unknown };
  const given = typeof raw.status === 'number' ? raw.status : typeof raw.statusCode === 'number' ? raw.statusCode : 500;
  const status = given >= 400 && given <= 599 ? given : 500;
  const code =
    err instanceof MeshBridgeError ? err.code : ((typeof raw.type === 'string' ? PARSER_CODES[raw.type] : undefined) ?? STATUS_CODES[status] ?? (status < 500 ? 'BAD_REQUEST' : 'INTERNAL'));
  // A defect's message may say more than a caller should see; the code is enough for them.
  const message = status >= 500 && !(err instanceof MeshBridgeError) ? 'internal error' : ((err as Error).message ?? String(err));
  res.status(status).json({ error: { code, message } });
  return status;
}
