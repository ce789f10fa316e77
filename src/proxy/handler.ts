// The public request path, one ordered chain: health → path → route → guard → forward.
// It does no I/O of its own: the guard answers from memory, state is fed in the background.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import type { Config } from '../config.js';
import { log } from '../log.js';
import { metrics } from '../metrics.js';
import { renderPage } from '../pages/index.js';
import { ErrorPages } from './error-pages.js';
import type { Forwarder, UpstreamHead } from './forward.js';
import { BadPath, checkHost, resolvePath, stripPrefix, type ResolvedPath } from './path.js';
import type { Route, RouteTable } from './route-table.js';

/** A finished answer the guard gives instead of forwarding. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[]>;
  body: string | Buffer;
  /** Counted under hub_guard_blocked_total and logged. */
  reason: string;
  log?: Record<string, unknown>;
}

export interface RequestFacts {
  req: http.IncomingMessage;
  kind: 'web' | 'ws';
  path: ResolvedPath;
  route: Route | undefined;
  requestId: () => string;
}

/** Where identity, policy and maintenance plug into the request path. */
export interface Guard {
  /**
   * An Answer refuses the request; undefined forwards it (the guard may have rewritten headers).
   * A promise only when something must be computed once (a JWT seen for the first time, a session to mint).
   */
  request(facts: RequestFacts): Answer | undefined | Promise<Answer | undefined>;
  /** Sees upstream response headers before the client does; an Answer replaces the response. */
  response?(facts: RequestFacts, upstream: UpstreamHead): Answer | undefined;
}

export const allowAll: Guard = { request: () => undefined };

// per-request state rides on the request under a symbol: a WeakMap entry per request kept requests alive across
// scavenges and made GC the largest single cost on the request path (docs/benchmarks.md)
const FACTS = Symbol('hub-guard.facts');
type WithFacts = http.IncomingMessage & { [FACTS]?: RequestFacts };

export interface Handlers {
  request(req: http.IncomingMessage, res: http.ServerResponse): void;
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
}

export function createHandlers(cfg: Config, routes: RouteTable, forwarder: Forwarder, guard: Guard): Handlers {
  const errors = new ErrorPages(cfg);
  const outcome = {
    forwarded: metrics.requests.labels('forwarded'),
    refused: metrics.requests.labels('refused'),
    noRoute: metrics.requests.labels('no_route'),
    badRequest: metrics.requests.labels('bad_request'),
    upstreamError: metrics.requests.labels('upstream_error'),
    failed: metrics.requests.labels('internal_error'),
  };

  if (guard.response) {
    const check = guard.response.bind(guard);
    /** Runs the guard's response check; true when the client was answered here instead. */
    const inspect = (req: http.IncomingMessage, head: UpstreamHead, client: http.ServerResponse | Duplex): boolean => {
      const facts = (req as WithFacts)[FACTS];
      try {
        const answer = facts && check(facts, head);
        if (!answer) return false;
        refuse(facts!, answer, client);
      } catch (e) {
        failed(e, client, facts);
      }
      return true;
    };
    forwarder.inspect = (req, res, head) => inspect(req, head, res);
    forwarder.inspectUpgrade = (req, socket, head) => inspect(req, head, socket);
  }

  function prepare(req: http.IncomingMessage, kind: 'web' | 'ws'): RequestFacts | BadPath {
    let path: ResolvedPath;
    try {
      // only routing by Host makes its form matter
      if (cfg.hostRouting) checkHost(req);
      path = resolvePath(req.url, req.headers.host, cfg.hostRouting, { front: cfg.front !== undefined });
    } catch (e) {
      if (e instanceof BadPath) return e;
      throw e;
    }
    let id: string | undefined;
    return { req, kind, path, route: routes.match(path.routePath), requestId: () => (id ??= randomUUID()) };
  }

  function refuse(facts: RequestFacts, answer: Answer, res: http.ServerResponse | Duplex): void {
    outcome.refused.inc();
    metrics.blocked.labels(answer.reason).inc();
    log.warn('refused', {
      request_id: facts.requestId(),
      reason: answer.reason,
      status: answer.status,
      method: facts.req.method,
      path: facts.path.routePath,
      route: facts.route?.prefix,
      owner: facts.route?.owner,
      ...answer.log,
    });
    if (res instanceof http.ServerResponse) {
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
    } else if (res.writable) {
      // the length is written below, for the body as sent
      const head = Object.entries(answer.headers)
        .filter(([k]) => k.toLowerCase() !== 'content-length')
        .flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => `${k}: ${x}`) : [`${k}: ${v}`]))
        .join('\r\n');
      const body = Buffer.from(answer.body);
      res.end(`HTTP/1.1 ${answer.status} ${http.STATUS_CODES[answer.status]}\r\n${head}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    }
  }

  function forwardUrl(facts: RequestFacts, route: Route | undefined): string {
    // in front mode the upstream proxy does its own prefix handling, on the normalised path the decision was made on
    return cfg.includePrefix || !route || cfg.front ? facts.path.forwardUrl : stripPrefix(facts.path.forwardUrl, route.prefix, cfg.hostRouting);
  }

  return {
    request(req, res) {
      let facts: RequestFacts | undefined;
      try {
        if (req.url === '/_chp_healthz') {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end('{"status":"OK"}');
          return;
        }
        const prepared = prepare(req, 'web');
        if (prepared instanceof BadPath) {
          outcome.badRequest.inc();
          res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
          res.end(`Bad Request: ${prepared.message}`);
          return;
        }
        const known = (facts = prepared);
        const verdict = guard.request(known);
        if (verdict instanceof Promise) verdict.then((a) => forwardWeb(known, a, res)).catch((e) => failed(e, res, known));
        else forwardWeb(known, verdict, res);
      } catch (e) {
        failed(e, res, facts);
      }
    },

    upgrade(req, socket, head) {
      let facts: RequestFacts | undefined;
      try {
        socket.on('error', (e) => log.debug('client socket error', { error: e.message }));
        const prepared = prepare(req, 'ws');
        if (prepared instanceof BadPath) {
          outcome.badRequest.inc();
          return errors.ws(400, req, socket);
        }
        const known = (facts = prepared);
        const verdict = guard.request(known);
        if (verdict instanceof Promise) verdict.then((a) => forwardWs(known, a, socket, head)).catch((e) => failed(e, socket, known));
        else forwardWs(known, verdict, socket, head);
      } catch (e) {
        failed(e, socket, facts);
      }
    },
  };

  /**
   * A bug met by one request ends that request, never the process: users' names and the hub's data are input,
   * and one odd value must not take everyone's proxy down.
   */
  function failed(e: unknown, res: http.ServerResponse | Duplex, facts: RequestFacts | undefined): void {
    outcome.failed.inc();
    const requestId = facts?.requestId() ?? randomUUID();
    log.error('request failed', { request_id: requestId, path: facts?.path.routePath, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
    try {
      if (res instanceof http.ServerResponse) {
        if (res.headersSent) return void res.destroy();
        const page = renderPage({ kind: 'error', status: 500, reason: 'internal-error', requestId }, facts?.req.headers.accept, facts?.path.routePath ?? '/');
        res.writeHead(page.status, page.headers);
        res.end(page.body);
      } else if (res.writable && ((res as { bytesWritten?: number }).bytesWritten ?? 0) === 0) {
        res.end('HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      } else {
        res.destroy();
      }
    } catch {
      res.destroy();
    }
  }

  function forwardWeb(facts: RequestFacts, answer: Answer | undefined, res: http.ServerResponse): void {
    const req = facts.req;
    if (answer) return refuse(facts, answer, res);
    const route = facts.route;
    if (!route && !cfg.front) {
      outcome.noRoute.inc();
      return errors.web(404, req, res);
    }
    req.url = forwardUrl(facts, route);
    (req as WithFacts)[FACTS] = facts;
    const end = metrics.proxyDuration.startTimer();
    res.on('finish', () => {
      end();
      // only successful answers count as activity, as in CHP: a flood of 404s must not keep a server alive
      if (route && res.statusCode < 300) route.lastActivity = Date.now();
    });
    outcome.forwarded.inc();
    forwarder.web(req, res, route, (err) => {
      outcome.upstreamError.inc();
      metrics.upstreamErrors.labels((err as NodeJS.ErrnoException).code ?? 'unknown').inc();
      log.warn('upstream error', { route: route?.prefix, target: cfg.front?.upstream ?? route?.data.target, error: (err as NodeJS.ErrnoException).code ?? err.message });
      errors.web(503, req, res);
    });
  }

  function forwardWs(facts: RequestFacts, answer: Answer | undefined, socket: Duplex, head: Buffer): void {
    const req = facts.req;
    if (answer) return refuse(facts, answer, socket);
    const route = facts.route;
    if (!route && !cfg.front) {
      outcome.noRoute.inc();
      return errors.ws(404, req, socket);
    }
    req.url = forwardUrl(facts, route);
    (req as WithFacts)[FACTS] = facts;
    outcome.forwarded.inc();
    // http-proxy ends its side but leaves the client socket paused, so a client close is never read: let it go
    socket.once('finish', () => socket.destroy());
    forwarder.ws(req, socket, head, route, (err) => {
      outcome.upstreamError.inc();
      metrics.upstreamErrors.labels((err as NodeJS.ErrnoException).code ?? 'unknown').inc();
      errors.ws(503, req, socket);
    });
    if (route) {
      socket.on('data', () => {
        route.lastActivity = Date.now();
      });
    }
  }
}
