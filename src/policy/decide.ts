// The guard's one decision: a pure function of (request facts, identity, route, guard state), tested as a table.
import { REASONS, type IdentityProblem, type Reason } from '../reasons.js';

/** Who the caller is, as far as hub-guard can tell without I/O. */
export type Identity =
  | { kind: 'anonymous' }
  | { kind: 'user'; name: string; id: number; source: 'hub-cookie' | 'session' | 'idp' }
  | { kind: 'problem'; reason: IdentityProblem; name?: string };

export type { IdentityProblem };

/** The access:servers filters a user holds in the hub (admin role, custom roles, groups). */
export interface Grant { all: boolean; users: string[]; groups: string[]; servers: string[] }

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
}

export interface GuardState {
  maintenance?: { reason: string; mode: 'manual' | 'auto' };
  allowRunningServers: boolean;
  adminAccess: boolean;
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

export function mayAccess(grant: Grant | undefined, owner: string, serverName: string, ownerGroups: string[] | undefined, adminAccess: boolean): boolean {
  if (!grant) return false;
  if (grant.all) return adminAccess;
  return grant.users.includes(owner)
    || grant.servers.includes(`${owner}/${serverName}`)
    || (ownerGroups ?? []).some((g) => grant.groups.includes(g));
}

export function decide(f: Facts, s: GuardState): Decision {
  const id = f.identity;
  if (s.maintenance && !f.operator) {
    const ownServer = s.allowRunningServers && id.kind === 'user' && f.route?.owner !== undefined && f.route.owner === id.name;
    if (!ownServer) return { action: 'maintenance', reason: `maintenance-${s.maintenance.mode}` };
  }
  if (id.kind === 'problem') return block(id.reason);
  const route = f.route;
  if (!route?.owner) return ALLOW;
  if (route.sharesTarget) return block('route-target-shared');
  if (id.kind === 'user' && id.name !== route.owner && !mayAccess(f.grant, route.owner, route.serverName ?? '', f.ownerGroups, s.adminAccess)) {
    return block('other-user-server');
  }
  return ALLOW;
}
