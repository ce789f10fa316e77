import { createHash } from 'node:crypto';
import { scopeTreeFor } from '../jupyterhub/scopes.js';
import { resolveAccess, parseScopes, type AccessTables } from './access.js';
import type { SqlSession } from './session.js';
import { readShares } from './shares.js';
import type { HubSnapshot, HubUser } from './snapshot.js';
import { bool, isoTimestamp, num, text } from './values.js';

/** Every table JupyterHub 3.0–5.x creates; others in the same database are none of our business. */
export const HUB_TABLES = [
  'alembic_version', 'api_tokens', 'group_role_map', 'groups', 'oauth_clients', 'oauth_codes', 'roles', 'servers',
  'service_role_map', 'services', 'share_codes', 'shares', 'spawners', 'user_group_map', 'user_role_map', 'users',
] as const;

// Which statements run may depend on the schema (tables(), columns()), never on rows read: readFingerprint()
// runs this with no rows at all and must meet the very same statements.
export async function readSnapshot(s: SqlSession, takenAt: number): Promise<HubSnapshot> {
  const q = (name: string) => s.quote(name);
  const found = new Set(await s.tables());
  const userColumns = found.has('users') ? new Set(await s.columns('users')) : new Set<string>();
  // A users table without id or name is not one the hub could use: report it as missing.
  const usable = (t: string) => found.has(t) && (t !== 'users' || (userColumns.has('id') && userColumns.has('name')));
  const tables: string[] = HUB_TABLES.filter(usable);
  const present = new Set(tables);

  let alembicVersion: string | null = null;
  if (present.has('alembic_version')) {
    const versions = (await s.rows(`SELECT version_num FROM ${q('alembic_version')}`, ['version_num'])).map((r) => text(r.version_num) ?? '');
    alembicVersion = versions.length > 0 ? versions.sort().join(',') : null;
  }

  let users: HubUser[] = [];
  let cookieIdConstraint: HubSnapshot['cookieIdConstraint'] = null;
  if (present.has('users')) {
    const col = (c: string) => (userColumns.has(c) ? q(c) : 'NULL');
    const rows = await s.rows(
      `SELECT ${q('id')} AS id, ${q('name')} AS name, ${col('admin')} AS admin, ${col('cookie_id')} AS cookie_id, ` +
        `${col('created')} AS created FROM ${q('users')} ORDER BY ${q('id')}`,
      ['id', 'name', 'admin', 'cookie_id', 'created'],
    );
    users = rows.map((r) => ({
      id: num(r.id),
      name: text(r.name) ?? '',
      admin: bool(r.admin),
      cookieId: text(r.cookie_id),
      created: isoTimestamp(r.created),
    }));
    cookieIdConstraint = userColumns.has('cookie_id') ? await s.cookieIdConstraint() : { notNull: false, unique: false };
  }

  const pairs = async (table: string, a: string, b: string): Promise<Array<[number, number]>> =>
    present.has(table) ? (await s.rows(`SELECT ${q(a)} AS a, ${q(b)} AS b FROM ${q(table)}`, ['a', 'b'])).map((r) => [num(r.a), num(r.b)]) : [];
  const accessTables: AccessTables = {
    roles: new Map(
      present.has('roles')
        ? (await s.rows(`SELECT ${q('id')} AS id, ${q('scopes')} AS scopes FROM ${q('roles')}`, ['id', 'scopes'])).map((r) => [num(r.id), parseScopes(text(r.scopes))])
        : [],
    ),
    groupNames: new Map(
      present.has('groups')
        ? (await s.rows(`SELECT ${q('id')} AS id, ${q('name')} AS name FROM ${q('groups')}`, ['id', 'name'])).map((r) => [num(r.id), text(r.name) ?? ''])
        : [],
    ),
    userRoles: await pairs('user_role_map', 'user_id', 'role_id'),
    groupRoles: await pairs('group_role_map', 'group_id', 'role_id'),
    userGroups: await pairs('user_group_map', 'user_id', 'group_id'),
    shares: await readShares(s, present),
  };
  const { access, groups } = resolveAccess(users, accessTables, scopeTreeFor(alembicVersion, present.has('shares')));

  const apiTokens = present.has('api_tokens') ? num((await s.rows(`SELECT COUNT(*) AS n FROM ${q('api_tokens')}`, ['n']))[0]?.n) : 0;
  const snapshot: HubSnapshot = { takenAt, tables, alembicVersion, users, cookieIdConstraint, access, groups, apiTokens };
  if (s.integrity) snapshot.integrity = await s.integrity();
  return snapshot;
}

/**
 * A fingerprint of the snapshot readSnapshot() would make in this transaction, computed by the server so that
 * an unchanged database costs a few one-row answers instead of every row: the schema answers as they are, and
 * each data statement folded by digest(). Exact: readSnapshot() is a function of exactly these answers and not of
 * the order rows come in (ids are primary keys), so equal fingerprints mean equal snapshots but for takenAt.
 * null when the session has no digest() or a statement could not be folded exactly.
 */
export async function readFingerprint(s: SqlSession): Promise<string | null> {
  const digest = s.digest?.bind(s);
  if (!digest) return null;
  const answers: unknown[] = [];
  let exact = true;
  const noted = <T>(answer: T): T => {
    answers.push(answer);
    return answer;
  };
  await readSnapshot({
    quote: (name) => s.quote(name),
    tables: async () => noted(await s.tables()),
    columns: async (table) => noted(await s.columns(table)),
    cookieIdConstraint: async () => noted(await s.cookieIdConstraint()),
    rows: async (sql, columns) => {
      const d = noted(await digest(sql, columns));
      if (d === null) exact = false;
      return [];
    },
  }, 0);
  return exact ? createHash('sha256').update(JSON.stringify(answers)).digest('base64url') : null;
}
