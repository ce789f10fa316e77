// What a JupyterHub 5.x hub adds to a 3.0 database that hub-guard reads: the `shares` and `share_codes` tables
// (made by create_all at its first start, with no migration; DDL as SQLAlchemy emits it for each engine from 5.5.1's
// ORM, the sqlite form as in shared/fixtures/jupyterhub-5.5.1-sharing.sqlite) and the 5.x alembic stamp.
import type { Engine, HubFixture } from './fixtures.js';

export const HEAD_5X = '4621fec11365';

const TYPES: Record<Engine, { id: string; datetime: string; groups: string }> = {
  sqlite: { id: 'INTEGER NOT NULL', datetime: 'DATETIME', groups: 'groups' },
  postgres: { id: 'SERIAL NOT NULL', datetime: 'TIMESTAMP WITHOUT TIME ZONE', groups: '"groups"' },
  mysql: { id: 'INTEGER NOT NULL AUTO_INCREMENT', datetime: 'DATETIME', groups: '`groups`' },
};

export function sharingDdl(engine: Engine): string {
  const t = TYPES[engine];
  const fk = (table: string, column: string, target: string) =>
    `CONSTRAINT fk_${table}_${column}_${target.replace(/\W/g, '')} FOREIGN KEY(${column}) REFERENCES ${target} (id) ON DELETE CASCADE`;
  return `
    CREATE TABLE shares (
      id ${t.id}, created_at ${t.datetime} NOT NULL, scopes TEXT, expires_at ${t.datetime},
      user_id INTEGER, group_id INTEGER, owner_id INTEGER, spawner_id INTEGER,
      CONSTRAINT pk_shares PRIMARY KEY (id),
      ${fk('shares', 'user_id', 'users')}, ${fk('shares', 'group_id', t.groups)},
      ${fk('shares', 'owner_id', 'users')}, ${fk('shares', 'spawner_id', 'spawners')});
    CREATE TABLE share_codes (
      id ${t.id}, created_at ${t.datetime} NOT NULL, scopes TEXT, expires_at ${t.datetime},
      hashed VARCHAR(255), prefix VARCHAR(16), exchange_count INTEGER, last_exchanged_at ${t.datetime},
      owner_id INTEGER, spawner_id INTEGER,
      CONSTRAINT pk_share_codes PRIMARY KEY (id), CONSTRAINT uq_share_codes_hashed UNIQUE (hashed),
      ${fk('share_codes', 'owner_id', 'users')}, ${fk('share_codes', 'spawner_id', 'spawners')});
    CREATE INDEX ix_share_codes_prefix ON share_codes (prefix);`;
}

/** Makes a 3.0 database look as a 5.x hub leaves it, for what hub-guard reads and what inserts need. */
export async function upgradeTo5x(fx: HubFixture): Promise<void> {
  // 4.0's groups.properties and 5.0's managed_by_auth, as their migrations add them
  const added = [`ALTER TABLE ${TYPES[fx.engine].groups} ADD COLUMN properties TEXT`].concat(['roles', 'user_role_map', 'group_role_map', 'service_role_map']
    .map((t) => `ALTER TABLE ${t} ADD COLUMN managed_by_auth BOOLEAN NOT NULL DEFAULT FALSE`));
  await fx.exec(added.join('; '));
  await fx.exec(sharingDdl(fx.engine));
  await fx.exec(`UPDATE alembic_version SET version_num = '${HEAD_5X}'`);
}

export type SqlValue = string | number | boolean | null;

/** One value as a literal all three engines read alike (MySQL treats a backslash in a string as an escape). */
export function literal(engine: Engine, v: SqlValue): string {
  if (v === null) return 'NULL';
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
  if (typeof v === 'number') return String(v);
  const s = v.replace(/'/g, "''");
  return `'${engine === 'mysql' ? s.replace(/\\/g, '\\\\') : s}'`;
}

export function insertRows(engine: Engine, table: string, rows: Array<Record<string, SqlValue>>): string {
  if (rows.length === 0) return '';
  const columns = Object.keys(rows[0]!);
  const name = table === 'groups' ? TYPES[engine].groups : table;
  const values = rows.map((r) => `(${columns.map((c) => literal(engine, r[c] ?? null)).join(', ')})`);
  return `INSERT INTO ${name} (${columns.join(', ')}) VALUES ${values.join(', ')};`;
}
