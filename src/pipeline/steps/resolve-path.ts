// Step 2, resolve path: the request target read once, so that the decision and the forwarded request see the same
// path (docs/security.md, guarantee 1). What cannot be read unambiguously is a 400 before anything else happens.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config } from '../../config.js';
import { metrics } from '../../metrics.js';
import type { ErrorPages } from '../../proxy/error-pages.js';
import { BadPath, checkHost, resolvePath, type ResolvedPath } from '../../proxy/path.js';

const badRequests = metrics.requests.labels('bad_request');

export function resolveTarget(req: http.IncomingMessage, cfg: Config): ResolvedPath | BadPath {
  try {
    // only routing by Host makes its form matter
    if (cfg.hostRouting) checkHost(req);
    return resolvePath(req.url, req.headers.host, cfg.hostRouting, { front: cfg.front !== undefined });
  } catch (e) {
    if (e instanceof BadPath) return e;
    throw e;
  }
}

export function refuseBadPath(req: http.IncomingMessage, client: http.ServerResponse | Duplex, bad: BadPath, errors: ErrorPages): void {
  badRequests.inc();
  if (!(client instanceof http.ServerResponse)) return errors.ws(400, req, client);
  client.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
  client.end(`Bad Request: ${bad.message}`);
}
