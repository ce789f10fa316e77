// Which of JupyterHub's scopes open a user's server, as each release line defines them (`scope_definitions` in
// scopes.py; docs: ../shared/jupyterhub-facts.md 5 and 5a.2). A role or share opens a server only through
// `access:servers`, held directly or as a subscope, so that is all that is modelled here.
import { revisionHasSharing } from './releases.js';

export interface ScopeTree {
  /** The releases that define their scopes this way. */
  readonly releases: string;
  /** Whether `shares` rows exist and grant (5.0 on). */
  readonly sharing: boolean;
  /** The scopes that are `access:servers` or include it through subscopes. */
  readonly opensServers: ReadonlySet<string>;
}

// Only the branches that could lead to access:servers are written out; every scope not listed here has, at each
// of these releases, no subscope that reaches it (custom scopes may only have custom subscopes, `inherit` has none).
const NO_ACCESS_BRANCHES: Array<[string, string[]]> = [
  ['admin:servers', ['admin:server_state', 'servers']],
  ['servers', ['read:servers', 'delete:servers']],
  ['admin:users', ['admin:auth_state', 'users', 'read:roles:users', 'delete:users']],
];

function tree(releases: string, sharing: boolean, subscopes: Array<[string, string[]]>): ScopeTree {
  const children = new Map(subscopes);
  const reaches = (scope: string, seen: Set<string>): boolean =>
    scope === 'access:servers' || (!seen.has(scope) && (children.get(scope) ?? []).some((c) => reaches(c, new Set([...seen, scope]))));
  const opensServers = new Set([...children.keys(), 'access:servers'].filter((s) => reaches(s, new Set())));
  return { releases, sharing, opensServers };
}

/** 3.0 to 4.x: nothing includes access:servers. */
export const SCOPES_BEFORE_SHARING = tree('3.0–4.x', false, NO_ACCESS_BRANCHES);

/** 5.0 to 6.0 betas: `shares` includes access:servers (6.0 adds start:servers under servers, which does not). */
export const SCOPES_WITH_SHARING = tree('5.0–6.0b', true, [
  ...NO_ACCESS_BRANCHES,
  ['shares', ['access:servers', 'read:shares', 'users:shares', 'groups:shares']],
]);

/**
 * The scope tree of the hub that wrote a database: from its alembic revision when that names a release, else
 * from whether it has a `shares` table, which every 5.x hub creates at its first start.
 */
export function scopeTreeFor(alembicVersion: string | null, hasSharesTable: boolean): ScopeTree {
  return (revisionHasSharing(alembicVersion) ?? hasSharesTable) ? SCOPES_WITH_SHARING : SCOPES_BEFORE_SHARING;
}

/** The servers one scope string opens for someone who is not their owner. */
export type ServerAccess = { to: 'all' } | { to: 'user' | 'group' | 'server'; name: string };

/**
 * Reads one scope string of a role or share under `tree`. The filter applies to every subscope, so
 * `shares!user=alice` opens alice's servers wherever `shares` includes access:servers. undefined for a scope that
 * opens no one else's server: one not in the tree, bare `!user` (and `self`, which only reaches the holder's
 * own), bare `!server` (dropped from roles), `!service=`, and a filter naming nothing.
 */
export function serverAccessOf(tree: ScopeTree, scope: string): ServerAccess | undefined {
  const bang = scope.indexOf('!');
  if (!tree.opensServers.has(bang === -1 ? scope : scope.slice(0, bang))) return undefined;
  if (bang === -1) return { to: 'all' };
  const filter = scope.slice(bang + 1);
  const eq = filter.indexOf('=');
  const kind = filter.slice(0, eq);
  const name = filter.slice(eq + 1);
  if (eq === -1 || name === '' || (kind !== 'user' && kind !== 'group' && kind !== 'server')) return undefined;
  return { to: kind, name };
}
