// The API port: CHP's REST API, health probes, and (later) the operators' API and pages.
import express, { type Express } from 'express';
import type { Config } from '../config.js';
import type { RouteTable } from '../proxy/route-table.js';
import { requireToken } from './auth.js';
import { chpRoutes, type RouteHooks } from './chp-routes.js';

export interface Readiness {
  ready: boolean;
  checks: Record<string, unknown>;
}

export interface ApiDeps {
  cfg: Config;
  routes: RouteTable;
  readiness: () => Readiness;
  routeHooks?: RouteHooks;
  /** Extra routers (operators' API, JWKS) mounted before the 404. */
  extend?: (app: Express) => void;
}

export function createApiApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const r = deps.readiness();
    res.status(r.ready ? 200 : 503).json({ status: r.ready ? 'ready' : 'not ready', ...r.checks });
  });
  app.use('/api/routes', requireToken(() => [deps.cfg.authToken]), chpRoutes(deps.routes, deps.cfg.hostRouting, deps.routeHooks));
  deps.extend?.(app);
  app.use((_req, res) => {
    res.writeHead(404);
    res.end('Not Found');
  });
  return app;
}
