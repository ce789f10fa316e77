// Every decision hub-guard makes, as pure functions over plain data, tested as one table (test/policy/decide.test.ts):
// decide() for a request before it is forwarded, decideResponse() for an upstream's answer before the client sees it.
import { REASONS, type IdentityProblem, type Reason } from '../reasons.js';
import type { Identity } from '../identity/types.js';
import type { AccessGrant } from '../hubdb/snapshot.js';

export type { Identity, IdentityProblem };

/** The servers of others a user may open in the hub (admin role, roles and groups, 5.x shares): see AccessGrant. */
export type Grant = AccessGrant;

export interface RouteFacts {
  prefix: string;
  owner?: string;
  serverName?: string;
  /** Another, older route points at the same target (pod IP reuse): this one may reach the wrong server. */
  sharesTarget?: boolean;
}

export interface Facts {
  route?: RouteFacts;
  identity: Identity;
  /** Caller proved to be an operator (admin token or operator network): passes maintenance. */
  operator: boolean;
  /** Grants of the identified user and the groups of the route's owner, from the hub DB. */
  grant?: Grant;
  ownerGroups?: string[];
  /** When the request is decided (ms epoch); without it, a share that expires opens nothing. */
  now?: number;
  /** The hub's own health or metrics endpoint: monitoring must tell "in maintenance" from "down". */
  monitoring?: boolean;
}

export interface GuardState {
  maintenance?: { reason: string; mode: 'manual' | 'auto' };
  allowRunningServers: boolean;
  adminAccess: boolean;
  /** Hold the hub's health and metrics endpoints in maintenance too (--maintenance-hold-monitoring). */
  holdMonitoring?: boolean;
}

export type Decision =
  | { action: 'allow' }
  | { action: 'block'; status: 403 | 409; reason: Reason }
  | { action: 'maintenance'; reason: Reason };

const ALLOW: Decision = { action: 'allow' };

/** A refusal with the status the catalogue gives its reason. */
export function block(reason: Exclude<Reason, 'maintenance-manual' | 'maintenance-auto' | 'internal-error'>): Extract<Decision, { action: 'block' }> {
  return { action: 'block', status: REASONS[reason].status, reason };
}

/**
 * A share with an expiry counts only before it (`now` < expiresAt), judged here rather than when the DB was read so
 * that it stops at its expiry. Stricter than the hub, which honours an expired share until its hourly purge.
 */
export function mayAccess(grant: Grant | undefined, owner: string, serverName: string, ownerGroups: string[] | undefined, adminAccess: boolean, now?: number): boolean {
  if (!grant) return false;
  if (grant.all) return adminAccess;
  const server = `${owner}/${serverName}`;
  return grant.users.includes(owner)
    || grant.servers.includes(server)
    || (ownerGroups ?? []).some((g) => grant.groups.includes(g))
    || (now !== undefined && (grant.expiring ?? []).some((s) => s.server === server && now < s.expiresAt));
}

export function decide(f: Facts, s: GuardState): Decision {
  const id = f.identity;
  if (s.maintenance && !f.operator && !(f.monitoring && !s.holdMonitoring)) {
    const ownServer = s.allowRunningServers && id.kind === 'user' && f.route?.owner !== undefined && f.route.owner === id.name;
    if (!ownServer) return { action: 'maintenance', reason: `maintenance-${s.maintenance.mode}` };
  }
  if (id.kind === 'problem') return block(id.reason);
  const route = f.route;
  if (!route?.owner) return ALLOW;
  if (route.sharesTarget) return block('route-target-shared');
  if (id.kind === 'user' && id.name !== route.owner && !mayAccess(f.grant, route.owner, route.serverName ?? '', f.ownerGroups, s.adminAccess, f.now)) {
    return block('other-user-server');
  }
  return ALLOW;
}

/** What hub-guard knows of an upstream's answer before the client sees it. */
export interface ResponseFacts {
  identity: Identity;
  /** The problem with a hub login cookie the answer sets (see readHubCookie), if any. */
  setsBadHubCookie?: IdentityProblem;
  /** The user's server a redirect in the answer leads into, with the visitor's grants and the owner's groups. */
  redirectInto?: { owner: string; server: string; grant?: Grant; ownerGroups?: string[] };
  /** As in Facts. */
  now?: number;
}

/**
 * Answers from the hub (and from anything without an owner) are checked as well: a login that sets a cookie_id the
 * hub would map to the wrong user, and a redirect that sends an identified user into a server that is not theirs
 * (the hub took them for someone else).
 */
export function decideResponse(f: ResponseFacts, s: Pick<GuardState, 'adminAccess'>): Decision {
  if (f.setsBadHubCookie) return block(f.setsBadHubCookie);
  const to = f.redirectInto;
  if (to && f.identity.kind === 'user' && to.owner !== f.identity.name && !mayAccess(to.grant, to.owner, to.server, to.ownerGroups, s.adminAccess, f.now)) {
    return block('redirect-to-other-user');
  }
  return ALLOW;
}
