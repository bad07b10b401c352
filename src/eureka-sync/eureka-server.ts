// The embedded Eureka server's REST edge (express): Eureka's /apps resource under both the
// Spring Cloud path (/eureka/apps) and Netflix's (/eureka/v2/apps), JSON or XML by Accept.
// Handlers only translate HTTP to EmbeddedEureka calls and back.
import express, { NextFunction, Request, Response, Router } from 'express';
import { MeshBridgeError, isMeshBridgeError, preview } from '../errors';
import { EmbeddedEureka } from './embedded-eureka';
import {
  formatApplicationJson,
  formatApplicationsJson,
  formatApplicationsXml,
  formatApplicationXml,
  formatInstanceViewJson,
  formatInstanceViewXml,
} from './eureka-applications';
import { EurekaStatus, parseEurekaInstanceJson, parseEurekaInstanceXml, parseEurekaStatus } from './eureka-instance';

/** Where Eureka clients find the /apps resource: Spring Cloud's and Netflix's default. */
export const EUREKA_APPS_PATHS = ['/eureka/apps', '/eureka/v2/apps'] as const;

export interface EurekaRouterOptions {
  /** Largest registration body accepted. */
  bodyLimit?: string;
}

type AppParams = { app: string };
type InstanceParams = { app: string; id: string };

function wantsJson(req: Request): boolean {
  return (req.get('accept') ?? '').toLowerCase().includes('json');
}

function queryString(req: Request, name: string): string | undefined {
  const value = req.query[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value === 'string') return value;
  throw new MeshBridgeError('EUREKA_BAD_PAYLOAD', `query parameter ${name} given more than once`, { value: preview(value), where: name });
}

function queryTimestamp(req: Request, name: string): number | undefined {
  const value = queryString(req, name);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new MeshBridgeError('EUREKA_BAD_PAYLOAD', `query parameter ${name} is not a timestamp`, { value, where: name });
  return Number(value);
}

/** Registrations are JSON or XML, as Eureka's codecs read them; a browser form cannot send either without a preflight. */
function registrationFormat(req: Request): 'json' | 'xml' {
  const type = (req.get('content-type') ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
  if (type === 'application/json' || type.endsWith('+json')) return 'json';
  if (type === 'application/xml' || type === 'text/xml' || type.endsWith('+xml')) return 'xml';
  throw new MeshBridgeError('EUREKA_UNSUPPORTED_MEDIA_TYPE', `registrations are application/json or application/xml, not ${type || 'untyped'}`, { value: type, where: 'content-type' });
}

/** The HTTP status a refusal is answered with. */
const REFUSAL_STATUS: Partial<Record<string, number>> = {
  EUREKA_UNSUPPORTED_MEDIA_TYPE: 415,
  EUREKA_METADATA_TOO_LARGE: 413,
  EUREKA_REGISTRY_FULL: 429,
  EUREKA_UNAUTHORIZED: 401,
  EUREKA_NOT_OWNER: 403,
};

function send(res: Response, req: Request, json: () => string, xml: () => string): void {
  if (wantsJson(req)) res.type('application/json').send(json());
  else res.type('application/xml').send(xml());
}

/** The /apps resource, to mount at each of EUREKA_APPS_PATHS (see createEurekaRouter). */
export function createEurekaAppsRouter(server: EmbeddedEureka, options: EurekaRouterOptions = {}): Router {
  const router = express.Router({ strict: false });
  // Bodies are read as text and parsed here, so a malformed one is refused with our error code.
  const body = express.text({ type: () => true, limit: options.bodyLimit ?? '256kb' });

  // The full registry is formatted once per registry version (as Eureka's response cache does),
  // so a fleet of clients polling it costs one serialisation per change. Renewal times in it may
  // lag until the next change; clients do not read them.
  const full = { version: -1, json: '', xml: '' };
  const fullDocument = (json: boolean): string => {
    if (full.version !== server.registry.version) Object.assign(full, { version: server.registry.version, json: '', xml: '' });
    if (json) return full.json || (full.json = formatApplicationsJson(server.fullView()));
    return full.xml || (full.xml = formatApplicationsXml(server.fullView()));
  };

  router.get('/', (req, res) => {
    send(res, req, () => fullDocument(true), () => fullDocument(false));
  });

  router.get('/delta', (req, res) => {
    const view = server.deltaView();
    send(res, req, () => formatApplicationsJson(view), () => formatApplicationsXml(view));
  });

  // Every request that changes the registry carries the registration credentials, when configured.
  const changing = (req: Request, _res: Response, next: NextFunction): void => {
    server.policy.checkCredentials(req.get('authorization'));
    next();
  };
  router.post('/:app', changing, (req: Request<AppParams>, _res, next) => {
    // Before the body is read: an unsupported type costs nothing.
    registrationFormat(req);
    next();
  });
  router.put('/:app/:id', changing);
  router.delete('/:app/:id', changing);
  router.put('/:app/:id/status', changing);
  router.delete('/:app/:id/status', changing);

  router.post('/:app', body, (req: Request<AppParams>, res) => {
    const app = req.params.app.toUpperCase();
    const text = typeof req.body === 'string' ? req.body : '';
    const now = server.now();
    const instance = registrationFormat(req) === 'xml' ? parseEurekaInstanceXml(text, now) : parseEurekaInstanceJson(text, now);
    if (instance.app !== app) {
      throw new MeshBridgeError('EUREKA_BAD_PAYLOAD', `registration for ${instance.app} posted to ${app}`, { value: instance.app, where: 'app' });
    }
    server.register(instance, req.socket.remoteAddress);
    res.status(204).end();
  });

  router.put('/:app/:id', (req: Request<InstanceParams>, res) => {
    // `status` is sent by Spring Cloud clients; like Eureka, a heartbeat does not change status.
    const lastDirtyTimestamp = queryTimestamp(req, 'lastDirtyTimestamp');
    const result = server.renew(req.params.app, req.params.id, lastDirtyTimestamp, req.socket.remoteAddress);
    res.status(result === 'renewed' ? 200 : 404).end();
  });

  router.delete('/:app/:id', (req: Request<InstanceParams>, res) => {
    res.status(server.cancel(req.params.app, req.params.id, req.socket.remoteAddress) ? 200 : 404).end();
  });

  router.put('/:app/:id/status', (req: Request<InstanceParams>, res) => {
    const value = queryString(req, 'value');
    if (value === undefined) throw new MeshBridgeError('EUREKA_BAD_PAYLOAD', 'status override needs ?value=', { value: null, where: 'value' });
    const status = parseEurekaStatus(value);
    const done = server.setStatusOverride(req.params.app, req.params.id, status, queryTimestamp(req, 'lastDirtyTimestamp'), req.socket.remoteAddress);
    res.status(done ? 200 : 404).end();
  });

  router.delete('/:app/:id/status', (req: Request<InstanceParams>, res) => {
    const value = queryString(req, 'value');
    const status: EurekaStatus | undefined = value === undefined ? undefined : parseEurekaStatus(value);
    const done = server.removeStatusOverride(req.params.app, req.params.id, status, queryTimestamp(req, 'lastDirtyTimestamp'), req.socket.remoteAddress);
    res.status(done ? 200 : 404).end();
  });

  router.get('/:app', (req: Request<AppParams>, res) => {
    const app = server.application(req.params.app);
    if (app === undefined) {
      res.status(404).end();
      return;
    }
    send(res, req, () => formatApplicationJson(app), () => formatApplicationXml(app));
  });

  router.get('/:app/:id', (req: Request<InstanceParams>, res) => {
    const view = server.instance(req.params.app, req.params.id);
    if (view === undefined) {
      res.status(404).end();
      return;
    }
    send(res, req, () => formatInstanceViewJson(view), () => formatInstanceViewXml(view));
  });

  router.use(eurekaErrorHandler(server));
  return router;
}

/**
 * A router serving the /apps resource at both /eureka/apps and /eureka/v2/apps, and
 * /eureka/self-preservation: GET shows it, DELETE (an operator address, with the registration
 * credentials when configured) ends it and evicts every expired lease.
 */
/** Longest a Eureka request waits for the stored registrations of a bridge that is starting. */
const STORE_LOAD_WAIT_MS = 3000;

export function createEurekaRouter(server: EmbeddedEureka, options: EurekaRouterOptions = {}): Router {
  const router = express.Router();
  // While a restarting bridge reads its stored registrations, Eureka requests wait (3 s at most).
  router.use('/eureka', (_req, _res, next) => {
    const loaded = server.whenLoaded(STORE_LOAD_WAIT_MS);
    if (loaded === null) next();
    else void loaded.then(() => next());
  });
  const apps = createEurekaAppsRouter(server, options);
  for (const path of EUREKA_APPS_PATHS) router.use(path, apps);
  router.get('/eureka/self-preservation', (_req, res) => {
    res.json(server.selfPreservation());
  });
  router.delete('/eureka/self-preservation', (req, res) => {
    server.policy.checkCredentials(req.get('authorization'));
    const evicted = server.endSelfPreservation(req.socket.remoteAddress);
    res.json({ ...server.selfPreservation(), evicted: evicted.length });
  });
  router.use('/eureka/self-preservation', eurekaErrorHandler(server));
  return router;
}

/** Refusals as 400 JSON `{code, message, value, where}`; body-parser errors keep their status. */
function eurekaErrorHandler(server: EmbeddedEureka) {
  return (err: unknown, req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) {
      next(err);
      return;
    }
    if (isMeshBridgeError(err)) {
      server.refused(err, String(req.params.app ?? ''));
      if (err.code === 'EUREKA_UNAUTHORIZED') res.set('www-authenticate', 'Basic realm="eureka"');
      res.status(REFUSAL_STATUS[err.code] ?? 400).json(err.toJSON());
      return;
    }
    const status = typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : 500;
    if (status >= 400 && status < 500) {
      const refusal = new MeshBridgeError('EUREKA_BAD_PAYLOAD', (err as Error).message, { value: (err as { type?: string }).type, where: 'body' });
      server.refused(refusal, '');
      res.status(status).json(refusal.toJSON());
      return;
    }
    next(err);
  };
}
