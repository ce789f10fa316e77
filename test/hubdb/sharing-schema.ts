// What a JupyterHub 5.x hub adds to a 3.0 database that hub-guard reads: the `shares` and `share_codes` tables
// (made by create_all at its first start, with no migration; DDL as SQLAlchemy emits it for each engine from 5.5.1's
// ORM, the sqlite form as in shared/fixtures/jupyterhub-5.5.1-sharing.sqlite) and the 5.x alembic stamp.
import type { Engine } from './fixtures.js';
import { addColumnsOf, headOf, stamp, type SqlTarget } from './release-schemas.js';

export const HEAD_5X = headOf('5.x');

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

/** Makes a 3.0 database look as a 5.x hub leaves it: 4.0's and 5.0's columns, the sharing tables, the 5.x head. */
export async function upgradeTo5x(fx: SqlTarget): Promise<void> {
  await addColumnsOf(fx, '4.x');
  await addColumnsOf(fx, '5.x');
  await fx.exec(sharingDdl(fx.engine));
  await stamp(fx, '5.x');
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
