// Step 9, check response: every upstream answer's head, before the client sees it. Nothing but the hub may set a
// credential; answers from anything without an owner (the hub) are judged by policy/decide.ts decideResponse().
// Allowed answers are rewritten: hub-guard's own Set-Cookie lines are added.
import { readHubCookie } from '../../identity/identify.js';
import { HUB_COOKIES, userServerOf } from '../../jupyterhub/conventions.js';
import { plantsCredential } from '../../policy/credentials.js';
import { decideResponse, type Decision, type ResponseFacts } from '../../policy/decide.js';
import type { UpstreamHead } from '../../proxy/forward.js';
import { metrics } from '../../metrics.js';
import type { IdentityProblem } from '../../reasons.js';
import type { RequestContext } from '../context.js';
import type { PipelineDeps } from '../deps.js';
import { refusal, send } from './refuse.js';

/**
 * True when the client was answered here instead of getting the upstream's answer; a promise when a redirect into
 * another user's server must wait for one fresh read of the grants (grant-refresh.ts: share codes).
 */
export function checkResponse(ctx: RequestContext, head: UpstreamHead, deps: PipelineDeps): boolean | Promise<boolean> {
  const route = ctx.route;
  if (!route || !deps.isHub(route)) {
    const set = head.headers['set-cookie'];
    if (set) head.headers['set-cookie'] = set.filter((line) => !plantsCredential(line));
  }
  if (route?.owner) return pass(ctx, head);
  const facts = responseFacts(ctx, head, deps);
  const decision = decideResponse(facts, deps.cfg);
  if (decision.action === 'allow') return pass(ctx, head);
  const to = facts.redirectInto;
  const id = ctx.identity;
  // a websocket answer cannot wait (and the hub redirects browsers, not websockets)
  const fresh = decision.reason === 'redirect-to-other-user' && to && ctx.head === undefined && id.kind === 'user'
    ? deps.grants.refresh('redirect', id.name, to.owner, to.server)
    : undefined;
  if (!fresh || id.kind !== 'user') return refuse(ctx, decision, deps);
  return fresh.then(() => {
    const again = decideResponse({ ...facts, redirectInto: into(to!, id.name, deps), now: Date.now() }, deps.cfg);
    return again.action === 'allow' ? pass(ctx, head) : refuse(ctx, again, deps);
  });
}

/** The answer goes on, with hub-guard's own Set-Cookie lines added. */
function pass(ctx: RequestContext, head: UpstreamHead): false {
  if (ctx.setCookies.length) head.headers['set-cookie'] = [...(head.headers['set-cookie'] ?? []), ...ctx.setCookies];
  return false;
}

function refuse(ctx: RequestContext, decision: Exclude<Decision, { action: 'allow' }>, deps: PipelineDeps): true {
  const problem = decision.reason !== 'redirect-to-other-user';
  if (problem) {
    metrics.identityProblems.labels(decision.reason).inc();
    deps.report(decision.reason);
  }
  send(ctx, refusal(ctx, decision, deps, problem));
  return true;
}

function responseFacts(ctx: RequestContext, head: UpstreamHead, deps: PipelineDeps): ResponseFacts {
  const identity = ctx.identity;
  const facts: ResponseFacts = { identity, setsBadHubCookie: badHubCookie(head.headers['set-cookie'], deps), now: Date.now() };
  const location = head.headers.location;
  if (location && identity.kind === 'user' && head.statusCode >= 300 && head.statusCode < 400) {
    const target = redirectTarget(location, ctx, deps);
    if (target) facts.redirectInto = into(target, identity.name, deps);
  }
  return facts;
}

/** A redirect's target server with what the users index knows now of the visitor's grants and the owner's groups. */
function into(target: { owner: string; server: string }, visitor: string, deps: PipelineDeps): NonNullable<ResponseFacts['redirectInto']> {
  const users = deps.identity.users;
  return { ...target, grant: users.grant(visitor), ownerGroups: users.groupsOf(target.owner) };
}

/** The problem with a hub login cookie the hub is about to set, if any. */
function badHubCookie(setCookie: string[] | undefined, deps: PipelineDeps): IdentityProblem | undefined {
  const secret = deps.identity.secret;
  if (!setCookie || !secret) return undefined;
  for (const line of setCookie) {
    const eq = line.indexOf('=');
    const name = line.slice(0, eq).trim();
    if (!HUB_COOKIES.includes(name)) continue;
    const semi = line.indexOf(';', eq);
    let raw = line.slice(eq + 1, semi === -1 ? undefined : semi).trim();
    if (raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"')) raw = raw.slice(1, -1);
    if (raw === '') continue; // a clearing Set-Cookie
    const verdict = readHubCookie(secret, name, raw, deps.identity);
    if (verdict.kind === 'problem') return verdict.reason;
    // a new user: the next request carries this cookie, and should find them in the index
    if (verdict.kind === 'unknown') deps.refresh();
  }
  return undefined;
}

/** The user server a redirect points into, found the way a request to it would be routed. */
function redirectTarget(location: string, ctx: RequestContext, deps: PipelineDeps): { owner: string; server: string } | undefined {
  let path: string;
  try {
    const u = new URL(location, `http://${ctx.req.headers.host ?? 'h'}${ctx.path.forwardUrl}`);
    path = decodeURIComponent(u.pathname);
  } catch {
    return undefined;
  }
  const route = deps.routes.match(path);
  if (route?.owner) return { owner: route.owner, server: (route.data.server_name as string | undefined) ?? '' };
  // a server not running yet has no route; the hub's URL layout still names its owner
  return userServerOf(path);
}
