// The guard on the request path: identify, decide, answer or forward with the right headers.
// It implements the proxy's Guard hook; everything it reads is in memory.
import type { IncomingMessage } from 'node:http';
import type { BlockList } from 'node:net';
import type { Answer, Guard, RequestFacts } from '../proxy/handler.js';
import type { Route } from '../proxy/route-table.js';
import type { TargetConflicts } from '../proxy/target-conflicts.js';
import type { UpstreamHead } from '../proxy/forward.js';
import { metrics } from '../metrics.js';
import { renderPage, type MaintenanceTemplate } from '../pages/index.js';
import type { Maintenance } from '../state/maintenance.js';
import { ASSERTION_HEADER, type Assertions } from '../identity/assertions.js';
import { canonicalCookieName, parseCookies, setCookieName, stripCookies } from '../identity/cookies.js';
import { identify, readHubCookie, type IdentifyDeps, type Resolved } from '../identity/identify.js';
import { HUB_COOKIES, baseUrlOf, hubCookiesToClear, serverCookieName, userServerOf } from '../jupyterhub/conventions.js';
import { SESSION_COOKIE } from '../identity/sessions.js';
import { cookieIdHash as cookieIdHashOf } from '../identity/users-index.js';
import { REASONS, type IdentityProblem } from '../reasons.js';
import { block, decide, mayAccess, type Decision, type Identity } from './decide.js';
import { OPERATOR_COOKIE, isOperator } from './operator.js';

export interface GuardOptions extends IdentifyDeps {
  maintenance: Maintenance;
  conflicts: TargetConflicts;
  assertions?: Assertions;
  adminAccess: boolean;
  allowRunningServers: boolean;
  operatorTokens: string[];
  operatorCidrs?: BlockList;
  template?: MaintenanceTemplate;
  contact?: string;
  /** Identity problems seen on requests, for the DB watchdog ('cookie-id-empty', 'cookie-id-unknown', …). */
  report: (problem: string) => void;
  /** The hub just logged in a user the index does not know yet: read the DB again soon. */
  refresh: () => void;
  /** Route lookup for Location checks on hub redirects. */
  match: (path: string) => Route | undefined;
  /** Whether a route leads to the hub itself: the one upstream trusted with credentials. */
  isHub: (route: Route) => boolean;
}

interface Pending { identity: Identity; setCookies: string[]; hubBase: string; secure: boolean }

const OWN_COOKIE = Symbol('hub-guard.own-cookie');

/** The `jupyterhub-user-…` cookie the route's own server set; every other user's such cookie is stripped. */
function ownCookie(route: Route & { [OWN_COOKIE]?: string }): string {
  // a route's data never changes (a new POST makes a new Route), so the name is worked out once
  if (route[OWN_COOKIE] === undefined) {
    route[OWN_COOKIE] = serverCookieName(route.owner!, typeof route.data.server_name === 'string' ? route.data.server_name : '');
  }
  return route[OWN_COOKIE];
}

function isSecure(req: IncomingMessage): boolean {
  const proto = req.headers['x-forwarded-proto'];
  const last = typeof proto === 'string' ? proto.slice(proto.lastIndexOf(',') + 1).trim() : undefined;
  return last === 'https' || (req.socket as { encrypted?: boolean }).encrypted === true;
}

function hubBaseOf(route: Route | undefined): string {
  return route?.data.hub === true ? baseUrlOf(route.prefix) : '/';
}


export function createGuard(o: GuardOptions): Guard {
  // on the request under a symbol, not in a WeakMap: see FACTS in proxy/handler.ts
  const PENDING = Symbol('hub-guard.pending');
  type WithPending = IncomingMessage & { [PENDING]?: Pending };

  function answer(facts: RequestFacts, d: Exclude<Decision, { action: 'allow' }>, identity: Identity, clear: string[]): Answer {
    const m = o.maintenance.current;
    const page = renderPage({
      kind: REASONS[d.reason].page,
      status: d.action === 'maintenance' ? 503 : d.status,
      reason: d.reason,
      // only an operator's own words are shown: automatic reasons name users, which pages never do
      message: d.action === 'maintenance' && m?.mode === 'manual' ? m.reason : undefined,
      since: d.action === 'maintenance' ? m?.since : undefined,
      contact: o.contact,
      requestId: facts.requestId(),
      hubUrl: `${hubBaseOf(facts.route)}hub/`,
    }, facts.req.headers.accept, facts.path.routePath, { maintenanceTemplate: o.template, clearCookies: clear });
    return {
      ...page,
      reason: d.reason,
      log: {
        identity: identity.kind === 'user' ? identity.name : identity.kind === 'problem' ? identity.reason : 'anonymous',
        source: identity.kind === 'user' ? identity.source : undefined,
        maintenance: d.action === 'maintenance' ? m?.reason : undefined,
      },
    };
  }

  function finish(facts: RequestFacts, r: Resolved, operator: boolean): Answer | undefined | Promise<Answer | undefined> {
    const { req, route } = facts;
    const id = r.identity;
    if (id.kind === 'problem') {
      metrics.identityProblems.labels(id.reason).inc();
      o.report(id.reason);
    }
    if (r.unknownCookieId) {
      metrics.identityProblems.labels('cookie-id-unknown').inc();
      o.report('cookie-id-unknown');
    }
    const m = o.maintenance.current;
    const owner = route?.owner;
    const visitor = id.kind === 'user' && owner !== undefined && owner !== id.name;
    const decision = decide({
      route: route && { prefix: route.prefix, owner, serverName: route.data.server_name as string | undefined, sharesTarget: owner !== undefined && o.conflicts.isSuspect(route) },
      identity: id,
      operator,
      // looked up only when a user opens someone else's server, the one case decide() weighs them
      grant: visitor ? o.users.grant(id.name) : undefined,
      ownerGroups: visitor ? o.users.groupsOf(owner) : undefined,
    }, { maintenance: m && { reason: m.reason, mode: m.mode }, allowRunningServers: o.allowRunningServers, adminAccess: o.adminAccess });
    const hubBase = hubBaseOf(route);
    const secure = isSecure(req);
    if (decision.action !== 'allow') {
      const clear = id.kind === 'problem'
        ? [...hubCookiesToClear(hubBase), SESSION_COOKIE]
        : [];
      return answer(facts, decision, id, clear);
    }

    const p: Pending = { identity: id, setCookies: [], hubBase, secure };
    if (r.staleSession && o.sessions) p.setCookies.push(o.sessions.clearCookie(secure));
    if (route?.data.hub === true && facts.path.routePath.startsWith(`${hubBase}hub/logout`) && o.sessions) {
      p.setCookies.push(o.sessions.clearCookie(secure));
    }
    // credentials reach the hub and nothing else: not user servers, not services, not a default target
    const toHub = route !== undefined && o.isHub(route);
    if (!toHub) o.idp?.strip(req.headers);
    if (req.headers.cookie) {
      const own = owner === undefined ? undefined : ownCookie(route!);
      const kept = stripCookies(req.headers.cookie, (name) => {
        const canonical = canonicalCookieName(name);
        // the operator's token goes nowhere, not even to the hub
        if (canonical === OPERATOR_COOKIE) return true;
        if (toHub) return false;
        return CREDENTIAL_COOKIES.has(canonical) || isOtherServerCookie(name, own);
      });
      if (kept === undefined) delete req.headers.cookie;
      else req.headers.cookie = kept;
    }
    (req as WithPending)[PENDING] = p;

    const waits: Promise<unknown>[] = [];
    if (id.kind === 'user' && owner !== undefined && o.assertions) {
      const a = o.assertions.for(id.name, id.id, route!.prefix);
      if (typeof a === 'string') req.headers[ASSERTION_HEADER] = a;
      else waits.push(a.then((t) => { req.headers[ASSERTION_HEADER] = t; }));
    }
    if (r.mintFor && o.sessions && r.mintFor.cookieId) {
      const u = r.mintFor;
      waits.push(o.sessions.mint(u.name, u.id, cookieIdHashOf(u.cookieId!)).then((t) => { p.setCookies.push(o.sessions!.setCookie(t, secure)); }));
    }
    return waits.length ? Promise.all(waits).then(() => undefined) : undefined;
  }

  function verdict(facts: RequestFacts): Answer | undefined | Promise<Answer | undefined> {
    const req = facts.req;
    // only hub-guard writes this header; a client-sent copy is a forgery
    delete req.headers[ASSERTION_HEADER];
    const r = identify(req.headers, o);
    const cookies = r instanceof Promise ? parseCookies(req.headers.cookie) : r.cookies;
    const operator = isOperator(req, cookies, o.operatorTokens, o.operatorCidrs);
    return r instanceof Promise ? r.then((x) => finish(facts, x, operator)) : finish(facts, r, operator);
  }

  /** Hub answers are checked too: a login that sets a bad cookie_id, or a redirect into another user's server. */
  function response(facts: RequestFacts, upstream: UpstreamHead): Answer | undefined {
    const p = (facts.req as WithPending)[PENDING];
    if (!p) return undefined;
    const route = facts.route;
    if (!route || !o.isHub(route)) {
      // nothing but the hub may plant a login (the hub's, hub-guard's or an operator's) in a browser, under any
      // spelling; a nameless cookie is sent back as a bare `name=value`, so it could carry one too
      const set = upstream.headers['set-cookie'];
      if (set) upstream.headers['set-cookie'] = set.filter((line) => !plantsCredential(line));
    }
    if (!route?.owner) {
      const problem = badHubCookie(upstream.headers['set-cookie'], o);
      if (problem) {
        metrics.identityProblems.labels(problem).inc();
        o.report(problem);
        return answer(facts, block(problem), p.identity, [
          ...hubCookiesToClear(p.hubBase), SESSION_COOKIE]);
      }
      const location = upstream.headers.location;
      if (location && p.identity.kind === 'user' && upstream.statusCode && upstream.statusCode >= 300 && upstream.statusCode < 400) {
        const target = redirectOwner(location, facts, o.match);
        if (target && target.owner !== p.identity.name
          && !mayAccess(o.users.grant(p.identity.name), target.owner, target.server, o.users.groupsOf(target.owner), o.adminAccess)) {
          return answer(facts, block('redirect-to-other-user'), p.identity, []);
        }
      }
    }
    if (p.setCookies.length) {
      const existing = upstream.headers['set-cookie'] ?? [];
      upstream.headers['set-cookie'] = [...existing, ...p.setCookies];
    }
    return undefined;
  }

  return { request: verdict, response };
}

/** Credentials by canonical name (canonicalCookieName): the hub's login, hub-guard's session, the operator's token. */
const CREDENTIAL_COOKIES = new Set([...HUB_COOKIES, SESSION_COOKIE, OPERATOR_COOKIE]);

function plantsCredential(setCookie: string): boolean {
  const name = setCookieName(setCookie);
  return name === '' || CREDENTIAL_COOKIES.has(name);
}

/**
 * A `jupyterhub-user-…` cookie (an OAuth token for one server) that is not `own`, the cookie of the server the
 * request goes to (`jupyterhub-user-alice2` is not alice's), in any spelling. Services have no such cookie of their own.
 */
function isOtherServerCookie(name: string, own: string | undefined): boolean {
  if (!canonicalCookieName(name).startsWith('jupyterhub-user-')) return false;
  const bare = name.trim().replace(/^__(?:host|secure)-/i, '');
  return own === undefined || (bare !== own && !bare.startsWith(`${own}-oauth-state`));
}

/** The problem with a hub login cookie the hub is about to set, if any. */
function badHubCookie(setCookie: string[] | undefined, o: GuardOptions): IdentityProblem | undefined {
  if (!setCookie || !o.secret) return undefined;
  for (const line of setCookie) {
    const eq = line.indexOf('=');
    const name = line.slice(0, eq).trim();
    if (!HUB_COOKIES.includes(name)) continue;
    const semi = line.indexOf(';', eq);
    let raw = line.slice(eq + 1, semi === -1 ? undefined : semi).trim();
    if (raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"')) raw = raw.slice(1, -1);
    if (raw === '') continue; // a clearing Set-Cookie
    const verdict = readHubCookie(o.secret, name, raw, o);
    if (verdict.kind === 'problem') return verdict.reason;
    // a new user: the next request carries this cookie, and should find them in the index
    if (verdict.kind === 'unknown') o.refresh();
  }
  return undefined;
}

/** The user server a redirect points into, found the way a request to it would be routed. */
function redirectOwner(location: string, facts: RequestFacts, match: (path: string) => Route | undefined): { owner: string; server: string } | undefined {
  let path: string;
  try {
    const u = new URL(location, `http://${facts.req.headers.host ?? 'h'}${facts.path.forwardUrl}`);
    path = decodeURIComponent(u.pathname);
  } catch {
    return undefined;
  }
  const route = match(path);
  if (route?.owner) return { owner: route.owner, server: (route.data.server_name as string | undefined) ?? '' };
  // a server not running yet has no route; the hub's URL layout still names its owner
  return userServerOf(path);
}
