// Step 7b, prepare: an allowed request made fit to forward. Credentials come off unless it goes to the hub
// (docs/security.md, guarantee 3), user servers get X-Hub-Guard-User, and hub-guard's session is minted, renewed or
// cleared. Synchronous unless something must be signed for the first time.
import type { IncomingMessage } from 'node:http';
import { ASSERTION_HEADER } from '../../identity/assertions.js';
import { stripCookies } from '../../identity/cookies.js';
import { serverCookieName } from '../../jupyterhub/conventions.js';
import { dropsRequestCookie } from '../../policy/credentials.js';
import { OPERATOR_HEADER } from '../../policy/operator.js';
import type { Route } from '../../proxy/route-table.js';
import type { RequestContext } from '../context.js';
import type { PipelineDeps } from '../deps.js';
import { hubBaseOf } from './hub-base.js';

export function prepare(ctx: RequestContext, deps: PipelineDeps): void | Promise<void> {
  const { req, route } = ctx;
  const r = ctx.resolved!;
  const id = r.identity;
  const sessions = deps.identity.sessions;
  const secure = isSecure(req);
  if (sessions && r.staleSession) ctx.setCookies.push(...sessions.clearCookies(secure));
  if (sessions && route?.data.hub === true && ctx.path.routePath.startsWith(`${hubBaseOf(route)}hub/logout`)) ctx.setCookies.push(...sessions.clearCookies(secure));
  stripCredentials(ctx, deps);

  const waits: Promise<unknown>[] = [];
  if (id.kind === 'user' && route?.owner !== undefined && deps.assertions) {
    const a = deps.assertions.for(id.name, id.id, route.prefix);
    if (typeof a === 'string') req.headers[ASSERTION_HEADER] = a;
    else waits.push(a.then((t) => { req.headers[ASSERTION_HEADER] = t; }));
  }
  const u = r.mintFor;
  if (sessions && u?.cookieHash) {
    waits.push(sessions.mint(u.name, u.id, u.cookieHash).then((t) => { ctx.setCookies.push(sessions.setCookie(t, secure)); }));
  }
  if (waits.length) return Promise.all(waits).then(() => undefined);
}

function stripCredentials(ctx: RequestContext, deps: PipelineDeps): void {
  const { req, route } = ctx;
  // the operator's token goes nowhere, not even to the hub
  delete req.headers[OPERATOR_HEADER];
  const toHub = route !== undefined && deps.isHub(route);
  if (!toHub) deps.identity.idp?.strip(req.headers);
  if (!req.headers.cookie) return;
  const own = route?.owner === undefined ? undefined : ownCookie(route);
  const kept = stripCookies(req.headers.cookie, (name) => dropsRequestCookie(name, toHub, own));
  if (kept === undefined) delete req.headers.cookie;
  else req.headers.cookie = kept;
}

const OWN_COOKIE = Symbol('hub-guard.own-cookie');

/** The `jupyterhub-user-…` cookie the route's own server set. */
function ownCookie(route: Route & { [OWN_COOKIE]?: string }): string {
  // a route's data never changes (a new POST makes a new Route), so the name is worked out once
  return (route[OWN_COOKIE] ??= serverCookieName(route.owner!, typeof route.data.server_name === 'string' ? route.data.server_name : ''));
}

/** As the hub decides its cookies' Secure flag: the last X-Forwarded-Proto element, or TLS here. */
function isSecure(req: IncomingMessage): boolean {
  const proto = req.headers['x-forwarded-proto'];
  const last = typeof proto === 'string' ? proto.slice(proto.lastIndexOf(',') + 1).trim() : undefined;
  return last === 'https' || (req.socket as { encrypted?: boolean }).encrypted === true;
}
