import { SCOPES_BEFORE_SHARING, serverAccessOf, type ScopeTree } from '../jupyterhub/scopes.js';
import type { AccessGrant, HubUser } from './snapshot.js';

/** The role and group tables as JupyterHub 3.0 stores them (`roles.scopes` is a JSON list in a TEXT column). */
export interface RoleTables {
  roles: Map<number, string[]>;
  groupNames: Map<number, string>;
  userRoles: Array<[userId: number, roleId: number]>;
  groupRoles: Array<[groupId: number, roleId: number]>;
  userGroups: Array<[userId: number, groupId: number]>;
}

/**
 * One `shares` row (5.x) with the `spawners` row it points at. The hub keeps the row's invariants in its API, not
 * in SQL, so any field may be missing or disagree with another.
 */
export interface ShareRow {
  /** The recipient; the hub sets exactly one of the two. */
  userId: number | null;
  groupId: number | null;
  /** `shares.owner_id`, the hub's copy of the spawner's user_id. */
  ownerId: number | null;
  /** `spawners.user_id` and `spawners.name` of the shared server ('' for the default server). */
  serverOwnerId: number | null;
  serverName: string | null;
  scopes: string[];
  /** ms epoch; null when it never expires (as every share the hub makes), NaN when the column held no datetime. */
  expiresAt: number | null;
}

/** What access is computed from: the role tables and, from 5.0 on, the shares. */
export interface AccessTables extends RoleTables {
  shares?: ShareRow[];
}

/** Reads `roles.scopes` and `shares.scopes`; a value the hub could not have written grants nothing rather than failing the read. */
export function parseScopes(text: unknown): string[] {
  if (typeof text !== 'string') return [];
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? parsed.filter((s): s is string => typeof s === 'string') : [];
  } catch {
    return [];
  }
}

/** A grant while it is being gathered; a server shared more than once until a time keeps the latest. */
interface Gathered { all: boolean; users: string[]; groups: string[]; servers: string[]; expiring: Map<string, number> }

function addScope(grant: Gathered, tree: ScopeTree, scope: string): void {
  const access = serverAccessOf(tree, scope);
  if (!access) return;
  if (access.to === 'all') grant.all = true;
  else (access.to === 'user' ? grant.users : access.to === 'group' ? grant.groups : grant.servers).push(access.name);
}

/**
 * The server ('owner/name') a share opens, if any. Stricter than the hub, which takes a share's scopes as they
 * stand: the row must be one the hub could have written (one recipient, its owner the spawner's user, a readable
 * expiry), and a scope opens only the server the row points at. A share that cannot open a server (only
 * `servers!server=…`, say) opens nothing.
 */
function sharedServer(share: ShareRow, usersById: Map<number, HubUser>, tree: ScopeTree): string | undefined {
  if ((share.userId === null) === (share.groupId === null)) return undefined;
  if (share.serverOwnerId === null || share.ownerId !== share.serverOwnerId || share.serverName === null) return undefined;
  if (Number.isNaN(share.expiresAt)) return undefined;
  const owner = usersById.get(share.serverOwnerId);
  if (!owner) return undefined;
  const server = `${owner.name}/${share.serverName}`;
  return share.scopes.some((s) => {
    const access = serverAccessOf(tree, s);
    return access?.to === 'server' && access.name === server;
  }) ? server : undefined;
}

const sortedUnique = (xs: string[]): string[] => [...new Set(xs)].sort();

function finish(g: Gathered): AccessGrant | undefined {
  if (g.all) return { all: true, users: [], groups: [], servers: [] };
  const servers = sortedUnique(g.servers);
  const expiring = [...g.expiring]
    .filter(([server]) => !servers.includes(server))
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([server, expiresAt]) => ({ server, expiresAt }));
  const grant: AccessGrant = { all: false, users: sortedUnique(g.users), groups: sortedUnique(g.groups), servers };
  if (expiring.length > 0) grant.expiring = expiring;
  return grant.users.length > 0 || grant.groups.length > 0 || servers.length > 0 || expiring.length > 0 ? grant : undefined;
}

function listsBy<K, V>(pairs: Array<[K, V]>): Map<K, V[]> {
  const out = new Map<K, V[]>();
  for (const [k, v] of pairs) {
    const list = out.get(k);
    if (list) list.push(v);
    else out.set(k, [v]);
  }
  return out;
}

/**
 * Resolves each user's roles (direct and through groups) and, where `tree` has sharing, the shares to them and
 * to their groups into cross-user server access; and each user's group membership. `tree` is the scope tree of the
 * hub that wrote the tables (scopeTreeFor()).
 */
export function resolveAccess(
  users: HubUser[], t: AccessTables, tree: ScopeTree = SCOPES_BEFORE_SHARING,
): { access: Map<string, AccessGrant>; groups: Map<string, string[]> } {
  const rolesOfGroup = listsBy(t.groupRoles);
  const rolesOfUser = listsBy(t.userRoles);
  const groupsOfUser = listsBy(t.userGroups);
  const membersOfGroup = listsBy(t.userGroups.map(([u, g]): [number, number] => [g, u]));
  const usersById = new Map(users.map((u) => [u.id, u]));

  // A 4.x hub ignores a shares table left behind by a 5.x one.
  const sharedWith = new Map<number, Array<[server: string, expiresAt: number | null]>>();
  for (const share of tree.sharing ? t.shares ?? [] : []) {
    const server = sharedServer(share, usersById, tree);
    if (server === undefined) continue;
    const recipients = share.userId !== null ? [share.userId] : membersOfGroup.get(share.groupId!) ?? [];
    for (const id of recipients) {
      if (id === share.serverOwnerId) continue;
      const list = sharedWith.get(id);
      if (list) list.push([server, share.expiresAt]);
      else sharedWith.set(id, [[server, share.expiresAt]]);
    }
  }

  // Maps, never objects: a user called "constructor" would otherwise find Object's own properties as its grants
  const access = new Map<string, AccessGrant>();
  const groups = new Map<string, string[]>();
  for (const user of users) {
    const grant: Gathered = { all: false, users: [], groups: [], servers: [], expiring: new Map() };
    // The hub gives the admin role to every users.admin row at startup, so the flag alone already means "all".
    if (user.admin) grant.all = true;
    const groupIds = groupsOfUser.get(user.id) ?? [];
    const roleIds = [...(rolesOfUser.get(user.id) ?? []), ...groupIds.flatMap((g) => rolesOfGroup.get(g) ?? [])];
    for (const roleId of roleIds) for (const scope of t.roles.get(roleId) ?? []) addScope(grant, tree, scope);
    for (const [server, expiresAt] of sharedWith.get(user.id) ?? []) {
      if (expiresAt === null) grant.servers.push(server);
      else grant.expiring.set(server, Math.max(expiresAt, grant.expiring.get(server) ?? -Infinity));
    }
    const resolved = finish(grant);
    if (resolved) access.set(user.name, resolved);
    const names = groupIds.map((g) => t.groupNames.get(g)).filter((n): n is string => n !== undefined);
    if (names.length > 0) groups.set(user.name, sortedUnique(names));
  }
  return { access, groups };
}
