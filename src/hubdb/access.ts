import type { AccessGrant, HubUser } from './snapshot.js';

/** The role and group tables as JupyterHub 3.0 stores them (`roles.scopes` is a JSON list in a TEXT column). */
export interface RoleTables {
  roles: Map<number, string[]>;
  groupNames: Map<number, string>;
  userRoles: Array<[userId: number, roleId: number]>;
  groupRoles: Array<[groupId: number, roleId: number]>;
  userGroups: Array<[userId: number, groupId: number]>;
}

/** Reads `roles.scopes`; a value the hub could not have written grants nothing rather than failing the read. */
export function parseScopes(text: unknown): string[] {
  if (typeof text !== 'string') return [];
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? parsed.filter((s): s is string => typeof s === 'string') : [];
  } catch {
    return [];
  }
}

/**
 * Applies one scope to a grant. Only `access:servers` matters: no other 3.0 scope includes it. `self` and the
 * bare `!user` filter of the server role reach only the holder's own servers, which are always allowed.
 */
function addScope(grant: AccessGrant, scope: string): void {
  if (scope === 'access:servers') {
    grant.all = true;
    return;
  }
  const m = /^access:servers!(user|group|server)=(.+)$/.exec(scope);
  if (!m) return;
  const list = m[1] === 'user' ? grant.users : m[1] === 'group' ? grant.groups : grant.servers;
  list.push(m[2]);
}

function emptyGrant(): AccessGrant {
  return { all: false, users: [], groups: [], servers: [] };
}

function hasAny(g: AccessGrant): boolean {
  return g.all || g.users.length > 0 || g.groups.length > 0 || g.servers.length > 0;
}

const sortedUnique = (xs: string[]): string[] => [...new Set(xs)].sort();

/** Resolves each user's roles, direct and through groups, into cross-user server access and group membership. */
export function resolveAccess(users: HubUser[], t: RoleTables): { access: Map<string, AccessGrant>; groups: Map<string, string[]> } {
  const rolesOfGroup = new Map<number, number[]>();
  for (const [groupId, roleId] of t.groupRoles) rolesOfGroup.set(groupId, [...(rolesOfGroup.get(groupId) ?? []), roleId]);
  const rolesOfUser = new Map<number, number[]>();
  for (const [userId, roleId] of t.userRoles) rolesOfUser.set(userId, [...(rolesOfUser.get(userId) ?? []), roleId]);
  const groupsOfUser = new Map<number, number[]>();
  for (const [userId, groupId] of t.userGroups) groupsOfUser.set(userId, [...(groupsOfUser.get(userId) ?? []), groupId]);

  // Maps, never objects: a user called "constructor" would otherwise find Object's own properties as its grants
  const access = new Map<string, AccessGrant>();
  const groups = new Map<string, string[]>();
  for (const user of users) {
    const grant = emptyGrant();
    // The hub gives the admin role to every users.admin row at startup, so the flag alone already means "all".
    if (user.admin) grant.all = true;
    const groupIds = groupsOfUser.get(user.id) ?? [];
    const roleIds = [...(rolesOfUser.get(user.id) ?? []), ...groupIds.flatMap((g) => rolesOfGroup.get(g) ?? [])];
    for (const roleId of roleIds) for (const scope of t.roles.get(roleId) ?? []) addScope(grant, scope);
    if (hasAny(grant)) {
      access.set(
        user.name,
        grant.all
          ? { all: true, users: [], groups: [], servers: [] }
          : { all: false, users: sortedUnique(grant.users), groups: sortedUnique(grant.groups), servers: sortedUnique(grant.servers) },
      );
    }
    const names = groupIds.map((g) => t.groupNames.get(g)).filter((n): n is string => n !== undefined);
    if (names.length > 0) groups.set(user.name, sortedUnique(names));
  }
  return { access, groups };
}
