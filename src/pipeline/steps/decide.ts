// Step 6, decide: the request's facts, gathered from memory, judged by policy/decide.ts. A refusal on another user's
// server waits for one fresh read of the grants first (grant-refresh.ts): the hub may have just shared it.
import { isHubMonitoringPath } from '../../jupyterhub/conventions.js';
import { decide, type Decision } from '../../policy/decide.js';
import { hubBaseOf } from './hub-base.js';
import type { RequestContext } from '../context.js';
import type { PipelineDeps } from '../deps.js';

export function decideRequest(ctx: RequestContext, deps: PipelineDeps): Decision | Promise<Decision> {
  const d = judge(ctx, deps);
  const id = ctx.identity;
  if (d.action !== 'block' || d.reason !== 'other-user-server' || id.kind !== 'user') return d;
  const fresh = deps.grants.refresh('request', id.name, ctx.route!.owner!, (ctx.route!.data.server_name as string | undefined) ?? '');
  return fresh ? fresh.then(() => judge(ctx, deps)) : d;
}

function judge(ctx: RequestContext, deps: PipelineDeps): Decision {
  const { route } = ctx;
  const id = ctx.identity;
  const owner = route?.owner;
  const users = deps.identity.users;
  const visitor = id.kind === 'user' && owner !== undefined && owner !== id.name;
  const m = deps.maintenance.current;
  return decide({
    route: route && { prefix: route.prefix, owner, serverName: route.data.server_name as string | undefined, sharesTarget: owner !== undefined && deps.conflicts.isSuspect(route) },
    identity: id,
    operator: ctx.operator,
    // looked up only when a user opens someone else's server, the one case decide() weighs them
    grant: visitor ? users.grant(id.name) : undefined,
    ownerGroups: visitor ? users.groupsOf(owner) : undefined,
    now: Date.now(),
    // asked only in maintenance, the one case decide() weighs it
    monitoring: m !== undefined && route?.data.hub === true && isHubMonitoringPath(pathOnHost(ctx, deps), hubBaseOf(route)),
  }, {
    maintenance: m && { reason: m.reason, mode: m.mode },
    allowRunningServers: deps.cfg.allowRunningServers,
    adminAccess: deps.cfg.adminAccess,
    holdMonitoring: deps.cfg.holdMonitoring,
  });
}

/** The decoded path without the `/<host>` that host routing puts in front. */
function pathOnHost(ctx: RequestContext, deps: PipelineDeps): string {
  const p = ctx.path.routePath;
  return deps.cfg.hostRouting ? p.slice(p.indexOf('/', 1) === -1 ? p.length : p.indexOf('/', 1)) || '/' : p;
}
