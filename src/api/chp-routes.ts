// configurable-http-proxy's REST API (/api/routes), with CHP's paths, codes and JSON shapes.
import { Router, type Request, type Response } from 'express';
import { log } from '../log.js';
import { metrics } from '../metrics.js';
import type { Route, RouteTable } from '../proxy/route-table.js';
import { cleanPrefix } from '../proxy/route-table.js';

const MAX_BODY = 1024 * 1024;

export function routeJson(route: Route): Record<string, unknown> {
  return { ...route.data, last_activity: new Date(route.lastActivity).toISOString() };
}

function send(res: Response, status: number, body?: string, json = false): void {
  res.writeHead(status, json ? { 'Content-Type': 'application/json' } : {});
  res.end(body);
}

/** JupyterHub sends route bodies without a content type, so the body is read raw rather than by a JSON middleware. */
function readBody(req: Request): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        // keep reading (and dropping) so the 413 reaches the client instead of a reset
        req.removeAllListeners('data');
        req.resume();
        reject(new RangeError('body too large'));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export interface RouteHooks {
  /** Lets the guard hold back a deletion (a hub on a wiped DB deletes every user route); true = keep the route. */
  holdDelete?(route: Route): Promise<boolean>;
}

export function chpRoutes(routes: RouteTable, hostRouting: boolean, hooks: RouteHooks = {}): Router {
  const router = Router();
  router.use(async (req, res) => {
    res.on('finish', () => metrics.apiRequests.labels(req.method, String(res.statusCode)).inc());
    const url = new URL(req.url, 'http://h');
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      return send(res, 400, 'Bad Request: malformed percent-encoding in the route');
    }
    const isRoot = path === '/' || path === '';
    switch (req.method) {
      case 'GET': {
        if (!isRoot) {
          const route = routes.get(path);
          return route ? send(res, 200, JSON.stringify(routeJson(route)), true) : send(res, 404);
        }
        const since = url.searchParams.get('inactiveSince') || url.searchParams.get('inactive_since');
        let cutoff = Infinity;
        if (since) {
          cutoff = Date.parse(since);
          if (!Number.isFinite(cutoff)) return send(res, 400, `Invalid datestamp '${since}' must be ISO8601.`);
        }
        const out: Record<string, unknown> = {};
        for (const route of routes.all()) if (route.lastActivity < cutoff) out[route.prefix] = routeJson(route);
        return send(res, 200, JSON.stringify(out), true);
      }
      case 'POST': {
        let data: unknown;
        try {
          data = JSON.parse(await readBody(req)) ?? {};
        } catch (e) {
          if (e instanceof RangeError) {
            res.setHeader('Connection', 'close');
            return send(res, 413, 'Body too large');
          }
          return send(res, 400, `Body not valid JSON: ${(e as Error).message}`);
        }
        if (typeof data !== 'object' || Array.isArray(data) || typeof (data as { target?: unknown }).target !== 'string') {
          return send(res, 400, "Must specify 'target' as string");
        }
        const body = data as Record<string, unknown> & { target: string };
        const key = cleanPrefix(isRoot ? '/' : path);
        if (hostRouting && key !== '/') body.host = key.split('/')[1];
        try {
          routes.add(key, body);
        } catch {
          return send(res, 400, "'target' must be an http or https URL");
        }
        log.info('route added', { route: key, target: body.target, user: body.user });
        return send(res, 201);
      }
      case 'DELETE': {
        const route = routes.get(isRoot ? '/' : path);
        if (!route) return send(res, 404);
        if (route.owner !== undefined && hooks.holdDelete && (await hooks.holdDelete(route))) {
          // answer as if deleted: the hub must not retry, and the route keeps serving its user
          log.warn('route deletion held back', { route: route.prefix, owner: route.owner });
          return send(res, 204);
        }
        routes.remove(route.prefix);
        log.info('route removed', { route: route.prefix });
        return send(res, 204);
      }
      default:
        return send(res, 405, 'Method not supported');
    }
  });
  return router;
}
