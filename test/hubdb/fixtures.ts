// JupyterHub-shaped databases on sqlite, PostgreSQL and MariaDB, their schema made by the real JupyterHub 3.0 ORM
// (Debian's python3-jupyterhub; python3-psycopg2 and python3-pymysql for the server engines).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { openHubDb } from '../../src/hubdb/open.js';
import type { HubDb } from '../../src/hubdb/snapshot.js';

export type Engine = 'sqlite' | 'postgres' | 'mysql';
export const ENGINES: Engine[] = ['sqlite', 'postgres', 'mysql'];

export const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };
export const MY = { host: '127.0.0.1', port: 3306, user: 'root' };

const run = promisify(execFile);

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

export const newCookieId = () => randomBytes(16).toString('hex');

const sqlString = (v: string) => `'${v.replace(/'/g, "''")}'`;

/** INSERT for users in SQL all three engines accept (TRUE/FALSE and 'YYYY-MM-DD hh:mm:ss' literals). */
export function insertUsers(users: TestUser[]): string {
  const values = users.map((u) => {
    const cookie = u.cookieId === undefined ? sqlString(newCookieId()) : u.cookieId === null ? 'NULL' : sqlString(u.cookieId);
    return `(${u.id}, ${sqlString(u.name)}, ${u.admin ? 'TRUE' : 'FALSE'}, '2024-05-06 07:08:09', ${cookie})`;
  });
  return `INSERT INTO users (id, name, admin, created, cookie_id) VALUES ${values.join(', ')}`;
}

const PYTHON = '/usr/bin/python3';

// mode "schema": orm.new_session_factory on each URL (creates the tables and stamps the alembic head).
// mode "hub": JupyterHub.initialize() with the given config, which also creates users, roles and groups the way a
// starting hub does, without starting a proxy or listening.
const PY_SCRIPT = String.raw`
import asyncio, json, logging, sys
spec = json.loads(sys.argv[1])
logging.disable(logging.INFO)
if spec['mode'] == 'schema':
    from jupyterhub import orm
    for url in spec['urls']:
        orm.new_session_factory(url)
else:
    from traitlets.config import Config
    from jupyterhub.app import JupyterHub
    c = Config()
    c.JupyterHub.db_url = spec['url']
    c.JupyterHub.authenticator_class = 'dummy'
    c.JupyterHub.cookie_secret = b'\x01' * 32
    c.Authenticator.admin_users = set(spec['admin_users'])
    c.Authenticator.allowed_users = set(spec['allowed_users'])
    c.JupyterHub.load_groups = spec['load_groups']
    c.JupyterHub.load_roles = spec['load_roles']
    asyncio.run(JupyterHub(config=c).initialize([]))
`;

async function python(spec: unknown, cwd: string): Promise<void> {
  try {
    await run(PYTHON, ['-c', PY_SCRIPT, JSON.stringify(spec)], { cwd, timeout: 120_000, maxBuffer: 16 << 20 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`JupyterHub fixture script failed: ${e.message}\n${e.stderr ?? ''}`);
  }
}

export interface HubConfig {
  admin_users: string[];
  allowed_users: string[];
  load_groups: Record<string, string[]>;
  load_roles: Array<{ name: string; scopes: string[]; users?: string[]; groups?: string[] }>;
}

/** Lets a real JupyterHub 3.0 initialise the (already created, schema-ready or empty) database with this config. */
export async function initializeHub(fx: HubFixture, config: HubConfig): Promise<void> {
  await python({ mode: 'hub', url: fx.url, ...config }, tmpdir());
}

/** A unique name per database, so test files running in parallel never meet. */
const uniqueName = () => `hg_${randomBytes(6).toString('hex')}`;

/** A scratch directory for sqlite files; removed by the returned function. */
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

export function scratchDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'hg-hubdb-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
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
    dropCookieIdConstraints: () =>
      withDb((db) =>
        db.exec(`
          PRAGMA foreign_keys=OFF;
          CREATE TABLE users_rebuilt (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255), admin BOOLEAN, created DATETIME,
            last_activity DATETIME, cookie_id VARCHAR(255), state TEXT, encrypted_auth_state BLOB);
          INSERT INTO users_rebuilt SELECT id, name, admin, created, last_activity, cookie_id, state, encrypted_auth_state FROM users;
          DROP TABLE users;
          ALTER TABLE users_rebuilt RENAME TO users;`),
      ),
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
  await python({ mode: 'schema', urls: fixtures.map((f) => f.url) }, tmpdir());
}
