// JupyterHub-shaped databases on sqlite, PostgreSQL and MariaDB, their schema made by the real JupyterHub 3.0 ORM
// (Debian's python3-jupyterhub, through test/helpers/hub-db.ts; python3-psycopg2 and python3-pymysql for the
// server engines).
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { openHubDb } from '../../src/hubdb/open.js';
import type { HubDb } from '../../src/hubdb/snapshot.js';
import {
  createSchema as createSchemaAt, initializeHub as initializeHubAt, newCookieId, SQLITE_DROP_COOKIE_ID_CONSTRAINTS, type HubConfig,
} from '../helpers/hub-db.js';
import { scratch, type Scratch } from '../helpers/scratch.js';

export { newCookieId, type HubConfig };

export type Engine = 'sqlite' | 'postgres' | 'mysql';
export const ENGINES: Engine[] = ['sqlite', 'postgres', 'mysql'];

export const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };
export const MY = { host: '127.0.0.1', port: 3306, user: 'root' };

export interface HubFixture {
  engine: Engine;
  /** The db_url, in the form the hub itself would use (so the +driver forms are exercised too). */
  url: string;
  /** sqlite only: the file. */
  file: string | null;
  /** Runs one or more statements, as the hub's operators would from a shell. */
  exec(sql: string): Promise<void>;
  /** Removes a user-defined table set by hand, as a wipe would; handles each engine's foreign-key rules. */
  dropTables(tables: string[]): Promise<void>;
  /** Rebuilds users without the NOT NULL / UNIQUE constraints on cookie_id, as the 2017 operators' rebuild did. */
  dropCookieIdConstraints(): Promise<void>;
  drop(): Promise<void>;
}

export interface TestUser { id: number; name: string; admin?: boolean; cookieId?: string | null }

const sqlString = (v: string) => `'${v.replace(/'/g, "''")}'`;

/** INSERT for users in SQL all three engines accept (TRUE/FALSE and 'YYYY-MM-DD hh:mm:ss' literals). */
export function insertUsers(users: TestUser[]): string {
  const values = users.map((u) => {
    const cookie = u.cookieId === undefined ? sqlString(newCookieId()) : u.cookieId === null ? 'NULL' : sqlString(u.cookieId);
    return `(${u.id}, ${sqlString(u.name)}, ${u.admin ? 'TRUE' : 'FALSE'}, '2024-05-06 07:08:09', ${cookie})`;
  });
  return `INSERT INTO users (id, name, admin, created, cookie_id) VALUES ${values.join(', ')}`;
}

/** Lets a real JupyterHub 3.0 initialise the (already created, schema-ready or empty) database with this config. */
export async function initializeHub(fx: HubFixture, config: HubConfig): Promise<void> {
  await initializeHubAt(fx.url, config);
}

/** A unique name per database, so test files running in parallel never meet. */
const uniqueName = () => `hg_${randomBytes(6).toString('hex')}`;

/** Hub DB readers a test file opens; closeAll() in its after(). */
export function hubDbs(defaultTimeoutMs: number): { open(url: string, timeoutMs?: number): HubDb; closeAll(): Promise<void> } {
  const opened: HubDb[] = [];
  return {
    open(url, timeoutMs = defaultTimeoutMs) {
      const db = openHubDb(url, { timeoutMs });
      opened.push(db);
      return db;
    },
    closeAll: async () => { await Promise.all(opened.map((db) => db.close())); },
  };
}

/** A scratch directory for sqlite files; removed by remove(). */
export function scratchDir(): Scratch {
  return scratch('hg-hubdb-');
}

function sqliteFixture(file: string): HubFixture {
  const withDb = async (fn: (db: Database.Database) => void) => {
    const db = new Database(file);
    try {
      fn(db);
    } finally {
      db.close();
    }
  };
  return {
    engine: 'sqlite',
    url: `sqlite:///${file}`,
    file,
    exec: (sql) => withDb((db) => db.exec(sql)),
    dropTables: (tables) => withDb((db) => db.exec(`PRAGMA foreign_keys=OFF; ${tables.map((t) => `DROP TABLE "${t}";`).join(' ')}`)),
    dropCookieIdConstraints: () => withDb((db) => db.exec(SQLITE_DROP_COOKIE_ID_CONSTRAINTS)),
    drop: async () => rmSync(file, { force: true }),
  };
}

async function pgAdmin<T>(fn: (c: pg.Client) => Promise<T>, database = 'test'): Promise<T> {
  const c = new pg.Client({ ...PG, database });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

function pgFixture(name: string): HubFixture {
  const exec = (sql: string) => pgAdmin(async (c) => { await c.query(sql); }, name);
  return {
    engine: 'postgres',
    url: `postgresql://${PG.user}@${PG.host}:${PG.port}/${name}`,
    file: null,
    exec,
    dropTables: (tables) => exec(tables.map((t) => `DROP TABLE "${t}" CASCADE;`).join(' ')),
    dropCookieIdConstraints: () => exec('ALTER TABLE users DROP CONSTRAINT uq_users_cookie_id; ALTER TABLE users ALTER COLUMN cookie_id DROP NOT NULL;'),
    // FORCE: a test that failed midway may have left a connection open.
    drop: () => pgAdmin(async (c) => { await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`); }),
  };
}

async function myAdmin<T>(fn: (c: mysql.Connection) => Promise<T>, database?: string): Promise<T> {
  const c = await mysql.createConnection({ ...MY, database, multipleStatements: true });
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

function mysqlFixture(name: string): HubFixture {
  const exec = (sql: string) => myAdmin(async (c) => { await c.query(sql); }, name);
  return {
    engine: 'mysql',
    url: `mysql+pymysql://${MY.user}@${MY.host}:${MY.port}/${name}`,
    file: null,
    exec,
    dropTables: (tables) => exec(`SET FOREIGN_KEY_CHECKS=0; ${tables.map((t) => `DROP TABLE \`${t}\`;`).join(' ')} SET FOREIGN_KEY_CHECKS=1;`),
    dropCookieIdConstraints: () => exec('ALTER TABLE users DROP INDEX uq_users_cookie_id, MODIFY cookie_id VARCHAR(255) NULL'),
    drop: () => myAdmin(async (c) => { await c.query(`DROP DATABASE IF EXISTS ${name}`); }),
  };
}

/**
 * Creates `count` databases on one engine, with the JupyterHub schema unless `schema` is false (then a sqlite
 * file does not exist yet). sqlite files go into `dir`. Call drop() on each when done.
 */
export async function createHubDatabases(engine: Engine, count: number, dir: string, schema = true): Promise<HubFixture[]> {
  const fixtures: HubFixture[] = [];
  for (let i = 0; i < count; i++) {
    const name = uniqueName();
    if (engine === 'sqlite') {
      fixtures.push(sqliteFixture(join(dir, `${name}.sqlite`)));
    } else if (engine === 'postgres') {
      await pgAdmin(async (c) => { await c.query(`CREATE DATABASE ${name}`); });
      fixtures.push(pgFixture(name));
    } else {
      await myAdmin(async (c) => { await c.query(`CREATE DATABASE ${name}`); });
      fixtures.push(mysqlFixture(name));
    }
  }
  if (schema) await createSchema(fixtures);
  return fixtures;
}

/** Lets the JupyterHub ORM create its tables (and stamp the alembic head) in each database, in one Python run. */
export async function createSchema(fixtures: HubFixture[]): Promise<void> {
  await createSchemaAt(fixtures.map((f) => f.url));
}
