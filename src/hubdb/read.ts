import { createHash } from 'node:crypto';
import { resolveAccess, parseScopes, type RoleTables } from './access.js';
import type { HubSnapshot, HubUser } from './snapshot.js';

export type Row = Record<string, unknown>;

/** What each engine's driver provides inside one read-only transaction; the snapshot logic is shared. */
export interface SqlSession {
  /** `columns`: the names of the columns the statement returns. */
  rows(sql: string, columns: readonly string[]): Promise<Row[]>;
  /**
   * One value standing for the rows the statement returns, in any order, computed by the server: equal values mean
   * equal rows. null when the server cannot give one exactly (then the rows are read).
   */
  digest?(sql: string, columns: readonly string[]): Promise<string | null>;
  /** Quotes an identifier (`groups` is a reserved word in MySQL 8). */
  quote(name: string): string;
  tables(): Promise<string[]>;
  columns(table: string): Promise<string[]>;
  /** Only called when the users table has a cookie_id column. */
  cookieIdConstraint(): Promise<{ notNull: boolean; unique: boolean }>;
  integrity?(): Promise<string>;
}

/** Every table JupyterHub 3.0–5.x creates; others in the same database are none of our business. */
export const HUB_TABLES = [
  'alembic_version', 'api_tokens', 'group_role_map', 'groups', 'oauth_clients', 'oauth_codes', 'roles', 'servers',
  'service_role_map', 'services', 'share_codes', 'shares', 'spawners', 'user_group_map', 'user_role_map', 'users',
] as const;

/** Drivers hand back BLOBs as Buffers and BIGINTs as strings or bigints; this turns them into plain values. */
function text(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (v instanceof Date) return v.toISOString();
  return String(v);
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(text(v));
}

function bool(v: unknown): boolean {
  if (Buffer.isBuffer(v)) return v.length === 1 && v[0] === 1; // MySQL BIT(1)
  return v === true || v === 1 || v === 1n || v === '1' || v === 't' || v === 'true';
}

/** The hub writes naive UTC datetimes; say so with a 'Z' so the value parses the same everywhere. */
function isoTimestamp(v: unknown): string | null {
  const raw = text(v);
  if (raw === null) return null;
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)$/.exec(raw);
  return m ? `${m[1]}T${m[2]}Z` : raw;
}

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
  const roleTables: RoleTables = {
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
  };
  const { access, groups } = resolveAccess(users, roleTables);

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
