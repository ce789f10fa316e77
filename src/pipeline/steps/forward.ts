// Step 8, forward: an allowed request sent to its route's target (or the upstream proxy in front mode), with the
// activity the hub's idle culler reads.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { log } from '../../log.js';
import { metrics } from '../../metrics.js';
import type { Forwarder } from '../../proxy/forward.js';
import { stripPrefix } from '../../proxy/path.js';
import { attach, type RequestContext } from '../context.js';
import type { PipelineDeps } from '../deps.js';
import type { WsActivity } from '../ws-activity.js';

const outcome = {
  forwarded: metrics.requests.labels('forwarded'),
  noRoute: metrics.requests.labels('no_route'),
  upstreamError: metrics.requests.labels('upstream_error'),
};

export function forward(ctx: RequestContext, forwarder: Forwarder, deps: PipelineDeps): void {
  const { req, route, client } = ctx;
  const { cfg, errors } = deps;
  const isWeb = client instanceof http.ServerResponse;
  if (!route && !cfg.front) {
    outcome.noRoute.inc();
    return isWeb ? errors.web(404, req, client) : errors.ws(404, req, client);
  }
  // in front mode the upstream proxy does its own prefix handling, on the normalised path the decision was made on
  req.url = cfg.includePrefix || !route || cfg.front ? ctx.path.forwardUrl : stripPrefix(ctx.path.forwardUrl, route.prefix, cfg.hostRouting);
  // the response hook finds the request's context here
  attach(ctx);
  outcome.forwarded.inc();
  const failed = (err: Error) => {
    outcome.upstreamError.inc();
    const code = (err as NodeJS.ErrnoException).code;
    metrics.upstreamErrors.labels(code ?? 'unknown').inc();
    if (!isWeb) return errors.ws(503, req, client);
    log.warn('upstream error', { route: route?.prefix, target: cfg.front?.upstream ?? route?.data.target, error: code ?? err.message });
    errors.web(503, req, client);
  };
  if (isWeb) return forwardWeb(ctx, client, forwarder, failed);
  forwardWs(ctx, client, forwarder, failed, deps.wsActivity);
  const id = ctx.identity;
  // a visitor's websocket lives on a grant: it is closed when the grant ends
  if (route?.owner !== undefined && id.kind === 'user' && id.name !== route.owner) {
    deps.visits.add(id.name, route.owner, (route.data.server_name as string | undefined) ?? '', client);
  }
}

function forwardWeb(ctx: RequestContext, res: http.ServerResponse, forwarder: Forwarder, failed: (err: Error) => void): void {
  const route = ctx.route;
  const end = metrics.proxyDuration.startTimer();
  res.on('finish', () => {
    end();
    // only successful answers count as activity, as in CHP: a flood of 404s must not keep a server alive
    if (route && res.statusCode < 300) route.lastActivity = Date.now();
  });
  forwarder.web(ctx.req, res, route, failed);
}

function forwardWs(ctx: RequestContext, socket: Duplex, forwarder: Forwarder, failed: (err: Error) => void, activity: WsActivity): void {
  const route = ctx.route;
  // http-proxy ends its side but leaves the client socket paused, so a client close is never read: let it go
  socket.once('finish', () => socket.destroy());
  forwarder.ws(ctx.req, socket, ctx.head!, route, failed);
  if (route) activity.add(route, socket);
}
