// Hub databases as JupyterHub 3.0 makes them (Debian's python3-jupyterhub, run by /usr/bin/python3): the schema by
// its ORM, and users either inserted the way the hub inserts them or created by JupyterHub.initialize() itself, with
// the admin flags, groups and roles a starting hub writes. makeHubDb() gives a sqlite one ready for a test.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { scratch } from './scratch.js';

export const PYTHON = '/usr/bin/python3';

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

async function python(spec: unknown): Promise<void> {
  try {
    await promisify(execFile)(PYTHON, ['-c', PY_SCRIPT, JSON.stringify(spec)], { cwd: tmpdir(), timeout: 120_000, maxBuffer: 16 << 20 });
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

/** Lets the JupyterHub ORM create its tables (and stamp the alembic head) in each database, in one Python run. */
export async function createSchema(urls: string[]): Promise<void> {
  await python({ mode: 'schema', urls });
}

/** Lets a real JupyterHub 3.0 initialise the (schema-ready or empty) database at `url` with this config. */
export async function initializeHub(url: string, config: HubConfig): Promise<void> {
  await python({ mode: 'hub', url, ...config });
}

/** A cookie_id of the hub's form: 32 lower-case hex digits. */
export const newCookieId = (): string => randomBytes(16).toString('hex');

/** Rebuilds a sqlite users table without NOT NULL/UNIQUE on cookie_id, as the 2017 operators did. */
export const SQLITE_DROP_COOKIE_ID_CONSTRAINTS = `
  PRAGMA foreign_keys=OFF;
  CREATE TABLE users_rebuilt (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255), admin BOOLEAN, created DATETIME,
    last_activity DATETIME, cookie_id VARCHAR(255), state TEXT, encrypted_auth_state BLOB);
  INSERT INTO users_rebuilt SELECT id, name, admin, created, last_activity, cookie_id, state, encrypted_auth_state FROM users;
  DROP TABLE users;
  ALTER TABLE users_rebuilt RENAME TO users;`;

export interface HubUserRow { id: number; name: string; cookieId: string }

export interface HubDbOptions extends Partial<HubConfig> {
  /** Where `jupyterhub.sqlite` goes; default a scratch directory of its own, which remove() deletes. */
  dir?: string;
  /**
   * Users inserted as rows the way the hub inserts them (ids counting on from the highest, fresh cookie_ids, not
   * admins), after the schema. With any of the HubConfig fields JupyterHub.initialize() makes the database first.
   */
  users?: string[];
}

export interface HubDbFixture {
  dir: string;
  file: string;
  /** `sqlite:///<file>`, the hub's db_url. */
  url: string;
  /** The users as the hub wrote them, by name. */
  users: Map<string, HubUserRow>;
  /** Runs SQL on the file, as an operator at a shell would. */
  exec(sql: string): void;
  /** Re-reads `users` (after an exec that changed them). */
  reload(): void;
  /** Copies the current file aside, to restore it later with restore(). */
  save(): void;
  restore(): void;
  /** Puts an empty sqlite database in place of the file, in place (same inode), as `sqlite3 … .save` did. */
  wipe(): void;
  /** Rebuilds users without NOT NULL/UNIQUE on cookie_id, as the 2017 operators did. */
  dropCookieIdConstraints(): void;
  /** Deletes the files, and the directory when it was made for this database. */
  remove(): void;
}

/** A sqlite hub DB whose schema (tables, constraints, alembic stamp) and users JupyterHub 3.0 made. */
export async function makeHubDb(o: HubDbOptions): Promise<HubDbFixture> {
  const own = o.dir === undefined ? scratch('hg-hubdb-') : undefined;
  const dir = o.dir ?? own!.dir;
  const file = join(dir, 'jupyterhub.sqlite');
  const url = `sqlite:///${file}`;
  const saved = `${file}.saved`;
  const empty = join(dir, 'empty.sqlite');
  const { dir: _dir, users: names = [], ...config } = o;
  if (Object.keys(config).length > 0) {
    await initializeHub(url, { admin_users: [], allowed_users: [], load_groups: {}, load_roles: [], ...config });
  } else {
    await createSchema([url]);
  }
  const withDb = <T>(fn: (d: Database.Database) => T, readonly = false): T => {
    const d = new Database(file, { readonly });
    try {
      return fn(d);
    } finally {
      d.close();
    }
  };
  if (names.length > 0) {
    withDb((d) => {
      const first = (d.prepare('SELECT COALESCE(MAX(id), 0) AS id FROM users').get() as { id: number }).id + 1;
      const insert = d.prepare("INSERT INTO users (id, name, admin, created, cookie_id) VALUES (?, ?, 0, '2024-05-06 07:08:09', ?)");
      d.transaction(() => names.forEach((name, i) => insert.run(first + i, name, newCookieId())))();
    });
  }
  const out: HubDbFixture = {
    dir,
    file,
    url,
    users: new Map(),
    exec: (sql) => withDb((d) => { d.exec(sql); }),
    reload() {
      const rows = withDb((d) => d.prepare('SELECT id, name, cookie_id AS cookieId FROM users ORDER BY id').all() as HubUserRow[], true);
      out.users = new Map(rows.map((r) => [r.name, r]));
    },
    save: () => copyFileSync(file, saved),
    restore: () => copyFileSync(saved, file),
    wipe() {
      const d = new Database(empty);
      d.exec('CREATE TABLE scratch (x); DROP TABLE scratch;');
      d.close();
      copyFileSync(empty, file);
    },
    dropCookieIdConstraints: () => out.exec(SQLITE_DROP_COOKIE_ID_CONSTRAINTS),
    remove() {
      if (own) return own.remove();
      for (const f of [file, saved, empty]) rmSync(f, { force: true });
    },
  };
  out.reload();
  return out;
}
