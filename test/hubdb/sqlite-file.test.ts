// The sqlite file's life on a hub volume: not there yet, replaced, truncated, removed, garbage, locked, damaged,
// hung. One HubDb stays open through each story, as the watchdog keeps it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, copyFileSync, openSync, renameSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { checkSnapshot, DEFAULT_CHECK_OPTIONS } from '../../src/hubdb/checks.js';
import type { HubDb } from '../../src/hubdb/snapshot.js';
import { createHubDatabases, createSchema, hubDbs, insertUsers, scratchDir } from './fixtures.js';

const scratch = scratchDir();
const dbs = hubDbs(10_000);
const open = (file: string, timeoutMs?: number) => dbs.open(`sqlite:///${file}`, timeoutMs);
const userNames = async (db: HubDb) => (await db.read()).users.map((u) => u.name);
const errorOf = (p: Promise<unknown>) => p.then(() => assert.fail('read() should have rejected'), (e: { code?: string; message: string }) => e);

/** An empty database, as `sqlite3 x .save` from an empty session or a hub volume re-initialised by hand leaves it. */
function emptyDb(file: string): void {
  const db = new Database(file);
  db.exec('CREATE TABLE scratch (x); DROP TABLE scratch;');
  db.close();
}

let template: string;

before(async () => {
  const [fx] = await createHubDatabases('sqlite', 1, scratch.dir);
  await fx.exec(insertUsers([{ id: 1, name: 'alice' }, { id: 2, name: 'bob' }]));
  template = fx.file!;
});

after(async () => {
  await dbs.closeAll();
  scratch.remove();
});

describe('a sqlite hub database file', () => {
  test('that does not exist yet rejects with ENOENT (waiting), and is read once the hub creates it', async () => {
    const [fx] = await createHubDatabases('sqlite', 1, scratch.dir, false);
    const db = open(fx.file!);
    assert.equal(db.engine, 'sqlite');
    assert.equal(db.file, fx.file);
    const err = await errorOf(db.read());
    assert.equal(err.code, 'ENOENT');
    assert.match(err.message, /does not exist|no such file/i);

    await createSchema([fx]);
    const s = await db.read();
    assert.deepEqual(checkSnapshot(s, null, DEFAULT_CHECK_OPTIONS), []);
    assert.equal(s.alembicVersion, '651f5419b74d');

    rmSync(fx.file!);
    assert.equal((await errorOf(db.read())).code, 'ENOENT', 'a removed file is the waiting state again');
  });

  test('in a directory that does not exist rejects with ENOENT too', async () => {
    assert.equal((await errorOf(open(join(scratch.dir, 'no-such-dir', 'jupyterhub.sqlite')).read())).code, 'ENOENT');
  });

  const replacements: Array<[string, (file: string) => void | Promise<void>, boolean]> = [
    ['renamed over (new inode)', (file) => { emptyDb(`${file}.new`); renameSync(`${file}.new`, file); }, false],
    ['copied over in place (same inode)', (file) => { emptyDb(`${file}.new`); copyFileSync(`${file}.new`, file); }, true],
    ['overwritten through the SQLite backup API, as sqlite3 .save does', (file) => {
      const mem = new Database(':memory:');
      mem.exec('CREATE TABLE scratch (x); DROP TABLE scratch;');
      return mem.backup(file).then(() => { mem.close(); });
    }, true],
    ['truncated to zero bytes', (file) => truncateSync(file, 0), true],
  ];
  for (const [how, replace, sameInode] of replacements) {
    test(`replaced by an empty database while open (${how}): the next read sees the empty one`, async () => {
      const file = join(scratch.dir, `replaced-${Math.random().toString(36).slice(2)}.sqlite`);
      copyFileSync(template, file);
      const db = open(file);
      assert.deepEqual(await userNames(db), ['alice', 'bob']);

      const inode = statSync(file).ino;
      await replace(file);
      assert.equal(statSync(file).ino === inode, sameInode, 'the test replaces the file the way it says');

      const s = await db.read();
      assert.deepEqual(s.tables, []);
      assert.deepEqual(s.users, []);
      const checks = checkSnapshot(s, null, DEFAULT_CHECK_OPTIONS).map((f) => f.check).sort();
      assert.deepEqual(checks, ['alembic-missing', 'tables-missing']);

      copyFileSync(template, file);
      assert.deepEqual(await userNames(db), ['alice', 'bob'], 'and the restored one after that');
    });
  }

  test('that is not a database rejects with SQLITE_NOTADB', async () => {
    const file = join(scratch.dir, 'garbage.sqlite');
    writeFileSync(file, 'this is not a sqlite database, just some text long enough to fill a header '.repeat(20));
    const err = await errorOf(open(file).read());
    assert.equal(err.code, 'SQLITE_NOTADB');
    assert.ok(err.message.includes(file), 'the message says which file');
  });

  test('locked by a writer rejects with SQLITE_BUSY within the timeout, then reads again once released', { timeout: 30_000 }, async () => {
    const file = join(scratch.dir, 'locked.sqlite');
    copyFileSync(template, file);
    const writer = new Database(file);
    writer.exec('BEGIN EXCLUSIVE');
    const db = open(file, 1000);
    try {
      assert.equal((await errorOf(db.read())).code, 'SQLITE_BUSY');
    } finally {
      writer.exec('ROLLBACK');
      writer.close();
    }
    assert.deepEqual(await userNames(db), ['alice', 'bob']);
  });

  test('with a damaged page is reported by the integrity check while users still read', async () => {
    const file = join(scratch.dir, 'damaged.sqlite');
    copyFileSync(template, file);
    const probe = new Database(file, { readonly: true });
    const rootpage = (probe.prepare(`SELECT rootpage FROM sqlite_master WHERE name = 'servers'`).get() as { rootpage: number }).rootpage;
    const pageSize = probe.pragma('page_size', { simple: true }) as number;
    probe.close();
    // An invalid b-tree page type on a table hub-guard never reads: only quick_check can notice.
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.from([0xff]), 0, 1, (rootpage - 1) * pageSize);
    closeSync(fd);

    const s = await open(file).read();
    assert.deepEqual(s.users.map((u) => u.name), ['alice', 'bob']);
    assert.notEqual(s.integrity, 'ok');
    const f = checkSnapshot(s, null, DEFAULT_CHECK_OPTIONS);
    assert.deepEqual(f.map((x) => [x.check, x.severity]), [['integrity', 'critical']]);
  });

  test('whose open hangs (a FIFO, like a stuck network volume) rejects with ETIMEDOUT instead of hanging', { timeout: 30_000 }, async () => {
    const file = join(scratch.dir, 'hung.sqlite');
    execFileSync('mkfifo', [file]);
    const db = open(file, 500);
    try {
      assert.equal((await errorOf(db.read())).code, 'ETIMEDOUT');
      assert.equal((await errorOf(db.read())).code, 'ETIMEDOUT', 'the next read tries again on a fresh thread');
      const err = await errorOf(db.read());
      assert.equal(err.code, 'ETIMEDOUT');
      assert.match(err.message, /still stuck/, 'but threads do not pile up without bound');
    } finally {
      // Let the abandoned reader threads' open() return. Non-blocking: if no reader waits, this fails instead of hanging.
      closeSync(openSync(file, constants.O_WRONLY | constants.O_NONBLOCK));
    }
    rmSync(file);
    copyFileSync(template, file);
    // The abandoned threads answer (and are stopped) once unblocked; after that reads work again.
    let names: string[] | undefined;
    for (let i = 0; i < 100 && !names; i++) {
      names = await db.read().then((s) => s.users.map((u) => u.name), (e: { message: string }) => {
        assert.match(e.message, /still stuck/);
        return sleep(100).then(() => undefined);
      });
    }
    assert.deepEqual(names, ['alice', 'bob']);
  });
});
