// What each JupyterHub release line after 3.0 adds to the tables hub-guard reads (jupyterhub-facts 3.1 and 5a.5),
// applied as the lines' alembic migrations apply it (ALTER TABLE … ADD COLUMN), and the head each line stamps. The
// heads are written out from the facts rather than taken from src/jupyterhub/releases.ts, so that a wrong head
// there fails a test instead of agreeing with itself.
import type { Engine, HubFixture } from './fixtures.js';

export type ReleaseLine = '3.x' | '4.x' | '5.x' | '6.0b';

/** The alembic head each line stamps (facts 3.1). */
export const HEADS: ReadonlyMap<ReleaseLine, string> = new Map([
  ['3.x', '651f5419b74d'],
  ['4.x', '0eee8c825d24'],
  ['5.x', '4621fec11365'],
  ['6.0b', 'f460b0348206'],
]);

export const headOf = (line: ReleaseLine): string => HEADS.get(line)!;

/** Only what running SQL needs: the derivations work on a fixture, or on a copy of the 5.5.1 file. */
export type SqlTarget = Pick<HubFixture, 'engine' | 'exec'>;

interface Column { table: string; column: string; type: string }

// Types as SQLAlchemy emits them for the columns (JSONDict and JSONList are TEXT); every one of these spellings is
// read alike by the three engines. NOT NULL columns carry the default the migration gives existing rows.
const roleMaps = ['roles', 'user_role_map', 'group_role_map', 'service_role_map'];
const ADDED: ReadonlyMap<Exclude<ReleaseLine, '3.x'>, Column[]> = new Map([
  ['4.x', [{ table: 'groups', column: 'properties', type: 'TEXT' }]],
  ['5.x', [
    { table: 'services', column: 'from_config', type: 'BOOLEAN NOT NULL DEFAULT TRUE' },
    ...([
      ['url', 'VARCHAR(2047)'], ['oauth_client_allowed_scopes', 'TEXT'], ['info', 'TEXT'], ['display', 'BOOLEAN'],
      ['oauth_no_confirm', 'BOOLEAN'], ['command', 'TEXT'], ['cwd', 'VARCHAR(4095)'], ['environment', 'TEXT'], ['user', 'VARCHAR(255)'],
    ] as const).map(([column, type]) => ({ table: 'services', column, type })),
    ...roleMaps.map((table) => ({ table, column: 'managed_by_auth', type: 'BOOLEAN NOT NULL DEFAULT FALSE' })),
  ]],
  ['6.0b', [
    { table: 'services', column: 'timeout', type: 'INTEGER NOT NULL DEFAULT 30' },
    { table: 'oauth_codes', column: 'code_challenge', type: 'VARCHAR(255)' },
    { table: 'oauth_codes', column: 'code_challenge_method', type: 'VARCHAR(64)' },
    { table: 'users', column: 'user_info', type: 'TEXT' },
    { table: 'spawners', column: 'display_name', type: 'VARCHAR(255)' },
  ]],
]);

/** `groups` is reserved in MySQL 8 and `user` in PostgreSQL: every name is quoted. */
const ident = (engine: Engine, name: string) => (engine === 'mysql' ? `\`${name}\`` : `"${name}"`);

/** Adds the columns `line` adds to the line before it. */
export async function addColumnsOf(db: SqlTarget, line: Exclude<ReleaseLine, '3.x'>): Promise<void> {
  const q = (name: string) => ident(db.engine, name);
  await db.exec(ADDED.get(line)!.map((c) => `ALTER TABLE ${q(c.table)} ADD COLUMN ${q(c.column)} ${c.type}`).join('; '));
}

export async function stamp(db: SqlTarget, line: ReleaseLine): Promise<void> {
  await db.exec(`UPDATE alembic_version SET version_num = '${headOf(line)}'`);
}

/** A 3.0 database as a 4.x hub leaves it after `jupyterhub upgrade-db`. */
export async function upgradeTo4x(db: SqlTarget): Promise<void> {
  await addColumnsOf(db, '4.x');
  await stamp(db, '4.x');
}

/** A 5.x database as a 6.0 beta leaves it after `jupyterhub upgrade-db`. */
export async function upgradeTo6b(db: SqlTarget): Promise<void> {
  await addColumnsOf(db, '6.0b');
  await stamp(db, '6.0b');
}
