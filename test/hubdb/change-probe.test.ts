// readIfChanged(): an unchanged hub DB answers null (for sqlite without reading it), and every kind of change is
// seen: rows the snapshot holds, files replaced, overwritten, truncated, written through the WAL, removed. The
// watchdog keeps its verdict on null and judges every snapshot as before.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { DEFAULT_CHECK_OPTIONS } from '../../src/hubdb/checks.js';
import type { HubDb, HubSnapshot } from '../../src/hubdb/snapshot.js';
import { Watchdog } from '../../src/monitor/watchdog.js';
import { UsersIndex } from '../../src/identity/users-index.js';
import { setLogLevel } from '../../src/log.js';
import { Maintenance } from '../../src/monitor/maintenance.js';
import { MemoryStore } from '../../src/state/store.js';
import { createHubDatabases, ENGINES, insertUsers, MY, newCookieId, PG, hubDbs, scratchDir, type HubFixture } from './fixtures.js';
import { upgradeTo5x } from './sharing-schema.js';

// Findings are expected here; their log lines would only bury the test output.
setLogLevel('error');

const scratch = scratchDir();
const { open, closeAll } = hubDbs(10_000);
const names = (s: HubSnapshot) => s.users.map((u) => u.name);
const errorOf = (p: Promise<unknown>) => p.then(() => assert.fail('the read should have rejected'), (e: { code?: string; message: string }) => e);

/** The change shows in the next readIfChanged(), and the one after it is quiet again. */
async function seesChange(db: HubDb, what: string, shows: (s: HubSnapshot) => void): Promise<void> {
  const s = await db.readIfChanged();
  assert.ok(s, `${what}: readIfChanged() answered null`);
  shows(s);
  assert.equal(await db.readIfChanged(), null, `${what}: and the read after it saw nothing new`);
}

/** Holds a lock on users from another session, as a hub migration would, until the returned function is called. */
async function lockUsers(fx: HubFixture): Promise<() => Promise<void>> {
  const database = fx.url.slice(fx.url.lastIndexOf('/') + 1);
  if (fx.engine === 'postgres') {
    const c = new pg.Client({ ...PG, database });
    await c.connect();
    await c.query('BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
    return async () => { await c.query('ROLLBACK'); await c.end(); };
  }
  const c = await mysql.createConnection({ ...MY, database });
  await c.query('LOCK TABLES users WRITE');
  return async () => { await c.query('UNLOCK TABLES'); await c.end(); };
}

/** An empty database, as `sqlite3 x .save` from an empty session or a hub volume re-initialised by hand leaves it. */
function emptyDb(file: string): void {
  const db = new Database(file);
  db.exec('CREATE TABLE scratch (x); DROP TABLE scratch;');
  db.close();
}

after(async () => {
  await closeAll();
  scratch.remove();
});

// The same story in SQL on every engine: each change to what the snapshot holds is seen, other writes are not.
for (const engine of ENGINES) {
  describe(`readIfChanged() on ${engine}`, () => {
    let fx: HubFixture;
    let db: HubDb;
    const groups = () => (engine === 'mysql' ? '`groups`' : '"groups"');

    before(async () => {
      [fx] = await createHubDatabases(engine, 1, scratch.dir);
      await fx.exec(insertUsers([{ id: 1, name: 'alice' }, { id: 2, name: 'bob' }]));
      db = open(fx.url);
    });
    after(() => fx.drop());

    test('the first call answers a snapshot, an unchanged database null without being read whole', async () => {
      const s = await db.readIfChanged();
      assert.ok(s);
      assert.deepEqual(names(s), ['alice', 'bob']);
      const reads = db.fullReads;
      assert.equal(await db.readIfChanged(), null);
      assert.equal(await db.readIfChanged(), null);
      assert.equal(db.fullReads, reads, engine === 'sqlite' ? 'the change probe answered' : "the server's fingerprint answered");
      assert.deepEqual(names(await db.read()), ['alice', 'bob'], 'read() still answers a snapshot every time');
      assert.equal(await db.readIfChanged(), null, 'and counts as the last snapshot returned');
    });

    test('a write that changes nothing the snapshot holds answers null', async () => {
      await fx.exec(`UPDATE users SET last_activity = '2024-06-01 10:00:00'`);
      assert.equal(await db.readIfChanged(), null);
    });

    test('an UPDATE of a cookie_id', async () => {
      const cookieId = newCookieId();
      await fx.exec(`UPDATE users SET cookie_id = '${cookieId}' WHERE name = 'alice'`);
      await seesChange(db, 'cookie_id', (s) => assert.equal(s.users[0].cookieId, cookieId));
    });

    test('an INSERT and a DELETE of a user', async () => {
      await fx.exec(insertUsers([{ id: 3, name: 'carol' }]));
      await seesChange(db, 'insert', (s) => assert.deepEqual(names(s), ['alice', 'bob', 'carol']));
      await fx.exec(`DELETE FROM users WHERE name = 'carol'`);
      await seesChange(db, 'delete', (s) => assert.deepEqual(names(s), ['alice', 'bob']));
    });

    test('changes a looser comparison would miss: case, a trailing space, NULL against empty, values swapped', async () => {
      const [alice, bob] = (await db.read()).users;
      const upper = alice.cookieId!.toUpperCase();
      await fx.exec(`UPDATE users SET cookie_id = '${upper}' WHERE id = 1`);
      await seesChange(db, 'case', (s) => assert.equal(s.users[0].cookieId, upper));
      await fx.exec(`UPDATE users SET cookie_id = '${upper} ' WHERE id = 1`);
      await seesChange(db, 'trailing space', (s) => assert.equal(s.users[0].cookieId, `${upper} `));
      await fx.dropCookieIdConstraints();
      await fx.exec(`UPDATE users SET cookie_id = '' WHERE id = 1`);
      await seesChange(db, 'empty', (s) => {
        assert.equal(s.users[0].cookieId, '');
        assert.deepEqual(s.cookieIdConstraint, { notNull: false, unique: false });
      });
      await fx.exec(`UPDATE users SET cookie_id = NULL WHERE id = 1`);
      await seesChange(db, 'NULL', (s) => assert.equal(s.users[0].cookieId, null));
      await fx.exec(`UPDATE users SET cookie_id = '${alice.cookieId}' WHERE id = 1`);
      await seesChange(db, 'back', (s) => assert.equal(s.users[0].cookieId, alice.cookieId));
      // every column still holds the same values, only not in the same rows
      await fx.exec(`UPDATE users SET cookie_id = CASE id WHEN 1 THEN '${bob.cookieId}' ELSE '${alice.cookieId}' END`);
      await seesChange(db, 'swapped', (s) => assert.deepEqual(s.users.map((u) => u.cookieId), [bob.cookieId, alice.cookieId]));
    });

    test('a user joining a group, a role granted, a role widened', async () => {
      await fx.exec(`INSERT INTO ${groups()} (id, name) VALUES (1, 'lab')`);
      assert.equal(await db.readIfChanged(), null, 'a group without members is nothing the snapshot holds');
      await fx.exec('INSERT INTO user_group_map (user_id, group_id) VALUES (1, 1)');
      await seesChange(db, 'group member', (s) => assert.deepEqual(Object.fromEntries(s.groups), { alice: ['lab'] }));

      await fx.exec(`INSERT INTO roles (id, name, scopes) VALUES (1, 'peek', '["access:servers!user=bob"]')`);
      await fx.exec('INSERT INTO user_role_map (user_id, role_id) VALUES (1, 1)');
      await seesChange(db, 'role granted', (s) => assert.deepEqual(Object.fromEntries(s.access), { alice: { all: false, users: ['bob'], groups: [], servers: [] } }));

      await fx.exec(`UPDATE roles SET scopes = '["access:servers"]' WHERE id = 1`);
      await seesChange(db, 'role widened', (s) => assert.equal(s.access.get('alice')?.all, true));
    });

    // The shares are read with a join: the fingerprint has to fold that statement too, not only the tables it reads.
    test('a server shared, given an expiry, and the share revoked (5.x)', async () => {
      await upgradeTo5x(fx);
      await seesChange(db, '5.x tables', (s) => assert.ok(s.tables.includes('shares')));
      await fx.exec(`INSERT INTO spawners (id, user_id, name) VALUES (1, 1, '')`);
      assert.equal(await db.readIfChanged(), null, 'a server nobody shares is nothing the snapshot holds');

      await fx.exec(`INSERT INTO shares (id, created_at, scopes, user_id, owner_id, spawner_id) VALUES (1, '2026-12-03 17:35:35', '["access:servers!server=alice/"]', 2, 1, 1)`);
      await seesChange(db, 'shared', (s) => assert.deepEqual(s.access.get('bob'), { all: false, users: [], groups: [], servers: ['alice/'] }));
      await fx.exec(`UPDATE shares SET expires_at = '2030-06-01 12:00:00' WHERE id = 1`);
      await seesChange(db, 'expiry', (s) => assert.deepEqual(s.access.get('bob')?.expiring, [{ server: 'alice/', expiresAt: Date.UTC(2030, 5, 1, 12) }]));
      await fx.exec('DELETE FROM shares WHERE id = 1');
      await seesChange(db, 'revoked', (s) => assert.equal(s.access.get('bob'), undefined));
    });

    // sqlite's own failures are in the file tests below
    if (engine !== 'sqlite') test('a rejected read in between: the next call answers a snapshot, even of the same content', { timeout: 30_000 }, async () => {
      const impatient = open(fx.url, 1000);
      assert.ok(await impatient.readIfChanged());
      const release = await lockUsers(fx);
      try {
        assert.equal((await errorOf(impatient.readIfChanged())).code, 'ETIMEDOUT');
      } finally {
        await release();
      }
      // The caller last saw a failure: null would leave it believing the failure still stands.
      const s = await impatient.readIfChanged();
      assert.deepEqual(s && names(s), ['alice', 'bob']);
      assert.equal(await impatient.readIfChanged(), null);
    });
  });
}

describe('readIfChanged() on a sqlite file', () => {
  let template: string;
  let n = 0;

  before(async () => {
    const [fx] = await createHubDatabases('sqlite', 1, scratch.dir);
    await fx.exec(insertUsers([{ id: 1, name: 'alice' }, { id: 2, name: 'bob' }]));
    template = fx.file!;
  });

  /** A fresh copy of the two-user database and a reader that has seen it once. */
  async function reader(): Promise<{ file: string; db: HubDb }> {
    const file = join(scratch.dir, `probe-${n++}.sqlite`);
    copyFileSync(template, file);
    const db = open(`sqlite:///${file}`);
    const s = await db.readIfChanged();
    assert.deepEqual(s && names(s), ['alice', 'bob']);
    return { file, db };
  }

  test('an unchanged file is not read at all; a write the snapshot does not show is read but answers null', async () => {
    const { file, db } = await reader();
    assert.equal(db.fullReads, 1);
    for (let i = 0; i < 5; i++) assert.equal(await db.readIfChanged(), null);
    assert.equal(db.fullReads, 1, 'the probe alone answered');

    const w = new Database(file);
    w.exec(`UPDATE users SET last_activity = '2024-06-01 10:00:00'`);
    w.close();
    assert.equal(await db.readIfChanged(), null);
    assert.equal(db.fullReads, 2, 'the probe saw the commit, the content digest found nothing new');
    assert.equal(await db.readIfChanged(), null);
    assert.equal(db.fullReads, 2);

    assert.ok(await db.read(), 'read() reads everything, as before');
    assert.equal(db.fullReads, 3);
  });

  test('concurrent calls share one read; read() during a readIfChanged() still gets a snapshot', async () => {
    const { db } = await reader();
    const [a, b, c] = await Promise.all([db.readIfChanged(), db.readIfChanged(), db.read()]);
    assert.equal(a, null);
    assert.equal(b, null);
    assert.deepEqual(c && names(c), ['alice', 'bob']);
    assert.equal(db.fullReads, 2, 'one probe for both readIfChanged() calls, one full read for read()');
  });

  test('an UPDATE, INSERT and DELETE made by another connection', async () => {
    const { file, db } = await reader();
    const exec = (sql: string) => {
      const w = new Database(file);
      w.exec(sql);
      w.close();
    };
    const cookieId = newCookieId();
    exec(`UPDATE users SET cookie_id = '${cookieId}' WHERE id = 2`);
    await seesChange(db, 'cookie_id', (s) => assert.equal(s.users[1].cookieId, cookieId));
    exec(insertUsers([{ id: 3, name: 'carol' }]));
    await seesChange(db, 'insert', (s) => assert.deepEqual(names(s), ['alice', 'bob', 'carol']));
    exec(`DELETE FROM users WHERE id = 1`);
    await seesChange(db, 'delete', (s) => assert.deepEqual(names(s), ['bob', 'carol']));
  });

  const replacements: Array<[string, (file: string) => void | Promise<void>]> = [
    ['renamed over by an empty database (new inode)', (file) => { emptyDb(`${file}.new`); renameSync(`${file}.new`, file); }],
    ['copied over in place by an empty database', (file) => { emptyDb(`${file}.new`); copyFileSync(`${file}.new`, file); }],
    ['overwritten in place through the SQLite backup API, as sqlite3 .save does', (file) => {
      const mem = new Database(':memory:');
      mem.exec('CREATE TABLE scratch (x); DROP TABLE scratch;');
      return mem.backup(file).then(() => { mem.close(); });
    }],
    ['truncated to zero bytes', (file) => truncateSync(file, 0)],
  ];
  for (const [how, replace] of replacements) {
    test(`a file ${how} is seen, and so is the restored one`, async () => {
      const { file, db } = await reader();
      await replace(file);
      await seesChange(db, how, (s) => {
        assert.deepEqual(s.tables, []);
        assert.deepEqual(s.users, []);
      });
      copyFileSync(template, file);
      await seesChange(db, 'restored', (s) => assert.deepEqual(names(s), ['alice', 'bob']));
    });
  }

  test('a commit in WAL mode that is still only in the -wal file', async () => {
    const { file, db } = await reader();
    const w = new Database(file);
    try {
      w.pragma('journal_mode = WAL');
      // journal_mode rewrote the header: that is a change of the file, though not of the content
      assert.equal(await db.readIfChanged(), null);
      // kept open, so the commit is neither checkpointed nor the -wal file removed
      w.exec(insertUsers([{ id: 3, name: 'carol' }]));
      assert.ok(existsSync(`${file}-wal`));
      await seesChange(db, 'WAL insert', (s) => assert.deepEqual(names(s), ['alice', 'bob', 'carol']));
      w.exec(`UPDATE users SET name = 'carla' WHERE id = 3`);
      await seesChange(db, 'WAL update', (s) => assert.deepEqual(names(s), ['alice', 'bob', 'carla']));
      // the probe holds no read transaction between checks, so a checkpoint can empty the WAL completely
      assert.equal((w.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>)[0].busy, 0);
      assert.equal(await db.readIfChanged(), null);
    } finally {
      w.close();
    }
  });

  test('the probe holds no lock between checks: the hub can take an exclusive lock at once', async () => {
    const { file, db } = await reader();
    assert.equal(await db.readIfChanged(), null);
    const w = new Database(file, { timeout: 0 });
    try {
      w.exec('BEGIN EXCLUSIVE');
      w.exec(`UPDATE users SET admin = 1 WHERE id = 1`);
      w.exec('COMMIT');
    } finally {
      w.close();
    }
    await seesChange(db, 'admin', (s) => assert.equal(s.users[0].admin, true));
  });

  test('a removed file rejects with ENOENT on every check, and a recreated one is read', async () => {
    const { file, db } = await reader();
    rmSync(file);
    assert.equal((await errorOf(db.readIfChanged())).code, 'ENOENT');
    assert.equal((await errorOf(db.readIfChanged())).code, 'ENOENT', 'not "unchanged" the second time');
    copyFileSync(template, file);
    await seesChange(db, 'recreated', (s) => assert.deepEqual(names(s), ['alice', 'bob']));
  });

  test('after a failed read the same content answers a snapshot again', async () => {
    const { file, db } = await reader();
    const saved = `${file}.saved`;
    copyFileSync(file, saved);
    writeFileSync(file, 'this is not a sqlite database, just some text long enough to fill a header '.repeat(20));
    assert.equal((await errorOf(db.readIfChanged())).code, 'SQLITE_NOTADB');
    copyFileSync(saved, file);
    await seesChange(db, 'back', (s) => assert.deepEqual(names(s), ['alice', 'bob']));
  });
});

describe('the watchdog on readIfChanged()', () => {
  /** A watchdog checked by hand (no timer, no file watch), counting how often the identity index is rebuilt. */
  function watchdog(file: string, autoRecoverChecks?: number) {
    const store = new MemoryStore();
    const maintenance = new Maintenance(store);
    const users = new UsersIndex(Buffer.alloc(32));
    let updates = 0;
    const update = users.update.bind(users);
    users.update = (s) => { updates++; update(s); };
    const w = new Watchdog({
      db: open(`sqlite:///${file}`), store, maintenance, users,
      intervalMs: 3_600_000, unreachableChecks: 2, checks: DEFAULT_CHECK_OPTIONS, autoRecoverChecks,
    });
    w.stop();
    return { w, maintenance, users, updates: () => updates };
  }

  test('a new hub database: waiting, then healthy on the next (unchanged) check, as with full reads', async () => {
    const [fx] = await createHubDatabases('sqlite', 1, scratch.dir);
    const { w, updates } = watchdog(fx.file!);
    await w.checkNow();
    assert.equal(w.state, 'waiting');
    await w.checkNow();
    assert.equal(w.state, 'healthy', 'the baseline learned on the first check changes the verdict on the same content');
    await w.checkNow();
    assert.equal(w.state, 'healthy');
    assert.equal(updates(), 1, 'the index was built once');
  });

  test('unchanged checks keep the verdict and skip the index; changes, wipes and removals are judged', async () => {
    const [fx] = await createHubDatabases('sqlite', 1, scratch.dir);
    await fx.exec(insertUsers([{ id: 1, name: 'alice' }, { id: 2, name: 'bob' }]));
    const { w, maintenance, users, updates } = watchdog(fx.file!, 2);

    await w.checkNow();
    await w.checkNow();
    await w.checkNow();
    assert.equal(w.state, 'healthy');
    assert.equal(w.findings.length, 0);
    assert.equal(users.size, 2);
    assert.equal(updates(), 1);
    assert.equal(w.lastCheck?.error, undefined);

    await fx.exec(insertUsers([{ id: 3, name: 'carol' }]));
    await w.checkNow();
    assert.equal(users.size, 3);
    assert.equal(updates(), 2);
    const saved = `${fx.file}.saved`;
    copyFileSync(fx.file!, saved);

    emptyDb(`${fx.file}.new`);
    copyFileSync(`${fx.file}.new`, fx.file!);
    await w.checkNow();
    assert.equal(w.state, 'unhealthy');
    assert.equal(maintenance.current?.mode, 'auto');
    const wiped = w.findings.map((f) => f.check).sort();
    assert.deepEqual(wiped, ['alembic-missing', 'tables-missing', 'user-drop']);
    await w.checkNow();
    assert.equal(w.state, 'unhealthy', 'an unchanged wiped database stays unhealthy');
    assert.deepEqual(w.findings.map((f) => f.check).sort(), wiped);

    rmSync(fx.file!);
    await w.checkNow();
    await w.checkNow();
    assert.equal(w.state, 'unreachable');
    assert.match(w.findings[0].message, /2 checks in a row/);

    // --auto-recover counts unchanged healthy checks too
    copyFileSync(saved, fx.file!);
    await w.checkNow();
    assert.equal(w.state, 'healthy');
    assert.equal(users.size, 3);
    assert.ok(maintenance.current, 'one healthy check is not enough');
    await w.checkNow();
    assert.equal(maintenance.current, undefined, 'the second, unchanged, healthy check clears it');
  });
});
