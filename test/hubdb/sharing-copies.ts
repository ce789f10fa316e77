// The database a real JupyterHub 5.5.1 wrote (shared/fixtures, see test/helpers/jupyterhub-5.ts) on each engine: on
// sqlite a copy of the file itself; on PostgreSQL and MySQL a 3.0 schema made by the hub's ORM, upgraded as a 5.x
// hub leaves it (sharing-schema.ts), holding the file's rows.
import { chmodSync, copyFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SHARING_DB } from '../helpers/jupyterhub-5.js';
import { createHubDatabases, type Engine } from './fixtures.js';
import { insertRows, upgradeTo5x, type SqlValue } from './sharing-schema.js';
import type { SqlTarget } from './release-schemas.js';

export type Rows = Array<Record<string, SqlValue>>;

export interface SharingDb extends SqlTarget {
  url: string;
  /** sqlite only: the copy. */
  file: string | null;
  drop(): Promise<void>;
}

/** The fixture's rows hub-guard reads, by table, in an order the foreign keys accept. */
export function sharingFixtureRows(): Array<[string, Rows]> {
  const db = new Database(SHARING_DB, { readonly: true, fileMustExist: true });
  try {
    const all = (sql: string) => db.prepare(sql).all() as Rows;
    return [
      ['users', all('SELECT id, name, admin, created, cookie_id FROM users ORDER BY id').map((r) => ({ ...r, admin: r.admin === 1 }))],
      ['groups', all('SELECT id, name FROM groups')],
      ['roles', all('SELECT id, name, description, scopes FROM roles')],
      ['user_group_map', all('SELECT user_id, group_id FROM user_group_map')],
      ['user_role_map', all('SELECT user_id, role_id FROM user_role_map')],
      ['group_role_map', all('SELECT group_id, role_id FROM group_role_map')],
      ['spawners', all('SELECT id, user_id, name FROM spawners')],
      ['shares', all('SELECT id, created_at, scopes, expires_at, user_id, group_id, owner_id, spawner_id FROM shares')],
      ['share_codes', all('SELECT id, created_at, scopes, expires_at, hashed, prefix, exchange_count, last_exchanged_at, owner_id, spawner_id FROM share_codes')],
    ];
  } finally {
    db.close();
  }
}

function sqliteCopy(dir: string): SharingDb {
  const file = join(dir, `jupyterhub-5.5.1-${randomBytes(4).toString('hex')}.sqlite`);
  copyFileSync(SHARING_DB, file);
  // The original is read-only; the copy is the test's to change.
  chmodSync(file, 0o644);
  const exec = async (sql: string) => {
    const db = new Database(file);
    try {
      db.exec(sql);
    } finally {
      db.close();
    }
  };
  return { engine: 'sqlite', url: `sqlite:///${file}`, file, exec, drop: async () => rmSync(file, { force: true }) };
}

/**
 * A 5.5.1 database on `engine`; sqlite files go into `dir`. On the server engines `rows` are the rows put in (the
 * fixture's by default), so a test can start from the fixture's data changed.
 */
export async function sharingDb(engine: Engine, dir: string, rows: Array<[string, Rows]> = sharingFixtureRows()): Promise<SharingDb> {
  if (engine === 'sqlite') return sqliteCopy(dir);
  const [fx] = await createHubDatabases(engine, 1, dir);
  await upgradeTo5x(fx!);
  for (const [table, list] of rows) if (list.length > 0) await fx!.exec(insertRows(engine, table, list));
  return fx!;
}
