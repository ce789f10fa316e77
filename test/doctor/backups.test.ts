// Verified online backups of a real (JupyterHub-made) sqlite hub database: consistent while a writer is busy,
// checked before they get their name, pruned to the last N; and `hub-guard backup list|verify|restore-plan`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { runBackup } from '../../src/commands/backup.js';
import { listBackups, maybeBackup, pruneBackups, takeVerifiedBackup, verifyBackup } from '../../src/doctor/backups.js';
import { createHubDatabases, insertUsers, scratchDir, type HubFixture } from '../hubdb/fixtures.js';

const run = promisify(execFile);

async function backupCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runBackup(args, { out: (t) => { out += `${t}\n`; }, err: (t) => { err += `${t}\n`; }, env: {} });
  return { code, out, err };
}

const count = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT COUNT(*) FROM users').pluck().get();
  } finally {
    db.close();
  }
};

describe('verified sqlite backups', () => {
  const scratch = scratchDir();
  let fx: HubFixture;
  let file: string;

  before(async () => {
    [fx] = await createHubDatabases('sqlite', 1, scratch.dir);
    await fx.exec(insertUsers([{ id: 1, name: 'ann' }, { id: 2, name: 'bob' }]));
    file = fx.file!;
  });

  after(async () => {
    await fx.drop();
    scratch.remove();
  });

  test('a backup is a consistent copy of committed data, checked, owner-only, named with its time', async () => {
    const dir = join(scratch.dir, 'one');
    // A writer holds an open transaction while the copy is taken: its row must not be in the copy.
    const writer = new Database(file);
    writer.exec('BEGIN IMMEDIATE');
    writer.prepare("INSERT INTO users (id, name, admin, cookie_id) VALUES (3, 'cid', 0, 'ffffffffffffffffffffffffffffffff')").run();
    const at = new Date('2024-05-06T07:08:09.123Z');
    const b = await takeVerifiedBackup(file, dir, at);
    writer.exec('COMMIT');
    writer.close();

    assert.equal(b.name, `${fx.file!.split('/').pop()!.replace(/\.sqlite$/, '')}-20240506T070809123Z.sqlite`);
    assert.equal(b.takenAt, at.toISOString());
    assert.deepEqual([b.users, b.alembicVersion], [2, '651f5419b74d']);
    assert.equal(count(b.file), 2);
    assert.equal(count(file), 3);
    assert.equal(statSync(b.file).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.deepEqual(readdirSync(dir), [b.name], 'no temporary file is left');
    assert.deepEqual(listBackups(dir).map((x) => [x.name, x.takenAt, x.bytes]), [[b.name, b.takenAt, statSync(b.file).size]]);
  });

  test('maybeBackup: only when the newest is old enough, never two at once, keeps the newest N', async () => {
    const dir = join(scratch.dir, 'watchdog');
    const t0 = Date.parse('2024-01-01T00:00:00Z');
    const first = await maybeBackup(file, dir, 2, 60_000, t0);
    assert.ok(first);
    assert.equal(await maybeBackup(file, dir, 2, 60_000, t0 + 59_999), null, 'not due yet');
    const [a, b] = await Promise.all([maybeBackup(file, dir, 2, 60_000, t0 + 60_000), maybeBackup(file, dir, 2, 60_000, t0 + 60_001)]);
    assert.ok((a === null) !== (b === null), 'one of two concurrent calls takes the backup');
    await maybeBackup(file, dir, 2, 60_000, t0 + 120_000);
    const kept = listBackups(dir);
    assert.deepEqual(kept.map((k) => k.takenAt), [new Date(t0 + 120_000).toISOString(), (a ?? b)!.takenAt]);
    // Backups of another database in the same directory are not its to prune.
    const otherStem = join(dir, 'other-20200101T000000000Z.sqlite');
    writeFileSync(otherStem, readFileSync(kept[0].file));
    await maybeBackup(file, dir, 1, 60_000, t0 + 180_000);
    assert.deepEqual(listBackups(dir).map((k) => k.stem).sort(), ['other', kept[0].stem].sort());
  });

  test('crash leftovers are removed once stale, fresh temporary files are not', () => {
    const dir = join(scratch.dir, 'leftovers');
    mkdirSync(dir);
    const stem = 'hub';
    const stale = join(dir, `.${stem}-20240101T000000000Z.sqlite.1.aa.tmp`);
    const fresh = join(dir, `.${stem}-20240101T000001000Z.sqlite.2.bb.tmp`);
    writeFileSync(stale, 'x');
    writeFileSync(fresh, 'x');
    const now = Date.now();
    utimesSync(stale, new Date(now - 2 * 3_600_000), new Date(now - 2 * 3_600_000));
    assert.deepEqual(pruneBackups(dir, stem, 3, now), [stale.split('/').pop()]);
    assert.deepEqual(readdirSync(dir), [fresh.split('/').pop()]);
  });

  test('a source that is missing or not a database gives a clear error and leaves nothing behind', async () => {
    const dir = join(scratch.dir, 'failures');
    await assert.rejects(takeVerifiedBackup(join(scratch.dir, 'absent.sqlite'), dir), /backup of .*absent\.sqlite failed/);
    const junk = join(scratch.dir, 'junk.sqlite');
    writeFileSync(junk, 'this is not a database, just some text that is long enough to look like a file');
    await assert.rejects(takeVerifiedBackup(junk, dir), /backup of .*junk\.sqlite failed: file is not a database/);
    const plain = join(scratch.dir, 'plain.sqlite');
    new Database(plain).exec('CREATE TABLE t (x)').close();
    await assert.rejects(takeVerifiedBackup(plain, dir), /failed its check \(it has no users table/);
    assert.deepEqual(readdirSync(dir), []);
  });

  test('verify finds damaged copies', async () => {
    const dir = join(scratch.dir, 'damaged');
    const good = await takeVerifiedBackup(file, dir, new Date('2024-02-01T00:00:00Z'));
    const bad = await takeVerifiedBackup(file, dir, new Date('2024-02-02T00:00:00Z'));
    truncateSync(bad.file, Math.floor(bad.bytes / 2));
    assert.deepEqual(await verifyBackup(good.file), { ok: true, problem: null, users: 3, alembicVersion: '651f5419b74d' });
    assert.deepEqual(await verifyBackup(bad.file), { ok: false, problem: 'database disk image is malformed', users: null, alembicVersion: null });

    const verify = await backupCli(['verify', '--backup-dir', dir]);
    assert.equal(verify.code, 1);
    assert.match(verify.out, new RegExp(`${bad.name} .* FAILED: database disk image is malformed`));
    assert.match(verify.out, new RegExp(`${good.name} .* ok: 3 users, schema 651f5419b74d`));
    assert.equal((await backupCli(['verify', '--backup-dir', dir, '--backup', good.name])).code, 0);

    // restore-plan skips the damaged newest copy and takes the older good one.
    const plan = await backupCli(['restore-plan', '--backup-dir', dir, '--db', fx.url]);
    assert.equal(plan.code, 0, plan.err);
    assert.match(plan.err, new RegExp(`${bad.name} fails its check .*; trying an older one`));
    assert.match(plan.out, new RegExp(`from ${good.file.replace(/[.]/g, '\\.')}`));
    const named = await backupCli(['restore-plan', '--backup-dir', dir, '--backup', bad.name]);
    assert.equal(named.code, 1);
  });

  test('restore-plan prints the safe order of steps and never touches the database', async () => {
    const dir = join(scratch.dir, 'restore');
    const b = await takeVerifiedBackup(file, dir);
    const before = readFileSync(file);
    const r = await backupCli(['restore-plan', '--backup-dir', dir, '--db', fx.url]);
    assert.equal(r.code, 0, r.err);
    const steps = [
      'hub-guard maintenance on --reason "Restoring the hub database"',
      'kubectl scale deployment hub --replicas=0',
      `fuser ${file}`,
      `mv ${file} ${file}.before-restore-`,
      `cp ${b.file} ${file}.restoring`,
      `mv ${file}.restoring ${file}`,
      `hub-guard doctor --db sqlite:///${file}`,
      'kubectl scale deployment hub --replicas=1',
      `hub-guard maintenance off --reason "Restored from ${b.name}"`,
    ];
    let at = 0;
    for (const step of steps) {
      const found = r.out.indexOf(step, at);
      assert.ok(found > at, `"${step}" comes next in:\n${r.out}`);
      at = found;
    }
    assert.match(r.out, /Never copy a backup over the database of a running hub/);
    assert.deepEqual(readFileSync(file), before);
    // Without --db the steps name a placeholder rather than guess.
    assert.match((await backupCli(['restore-plan', '--backup-dir', dir])).out, /mv <the hub database file/);
  });

  test('list, and the command line\'s answers to bad input', async () => {
    const dir = join(scratch.dir, 'listing');
    assert.match((await backupCli(['list', '--backup-dir', dir])).out, /No backups in/);
    const b = await takeVerifiedBackup(file, dir);
    const list = await backupCli(['list', '--backup-dir', dir, '--json']);
    assert.equal(list.code, 0);
    assert.deepEqual(JSON.parse(list.out).backups.map((x: { name: string }) => x.name), [b.name]);
    assert.equal((await backupCli(['verify', '--backup-dir', join(scratch.dir, 'empty')])).code, 1);

    const usage: Array<[string[], RegExp]> = [
      [[], /say what to do/],
      [['restore'], /unknown action 'restore'/],
      [['list'], /--backup-dir DIR is required/],
      [['list', '--backup-dir', dir, '--backup', b.name], /--backup is for verify and restore-plan/],
      [['verify', '--backup-dir', dir, '--backup', '/etc/passwd'], /a file name .* not a path/],
      [['verify', '--backup-dir', dir, '--db', fx.url], /--db is for restore-plan/],
      [['restore-plan', '--backup-dir', dir, '--json'], /--json is for list and verify/],
      [['restore-plan', '--backup-dir', dir, '--db', 'postgresql://u:pw@h/db'], /backed up by the database service .*docs\/doctor\.md/],
    ];
    for (const [args, message] of usage) {
      const r = await backupCli(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.err, message);
      assert.doesNotMatch(r.err, /:pw@/);
    }
    assert.match((await backupCli(['verify', '--backup-dir', dir, '--backup', 'nope.sqlite'])).err, /no backup called nope\.sqlite/);
  });

  test('runs as a child process, through the CLI when it dispatches "backup"', async () => {
    const dir = join(scratch.dir, 'child');
    const b = await takeVerifiedBackup(file, dir);
    const cli = readFileSync(new URL('../../src/cli.js', import.meta.url), 'utf8');
    const args = ['verify', '--backup-dir', dir, '--json'];
    const { stdout } = cli.includes('runBackup')
      ? await run(process.execPath, [new URL('../../src/cli.js', import.meta.url).pathname, 'backup', ...args])
      // Not --input-type=module: the verifying worker thread would inherit it and refuse to start.
      : await run(process.execPath, ['-e',
        `import(${JSON.stringify(new URL('../../src/commands/backup.js', import.meta.url).href)}).then((m) => m.runBackup(process.argv.slice(1))).then((code) => { process.exitCode = code; });`,
        '--', ...args]);
    const result = JSON.parse(stdout);
    assert.deepEqual(result.backups.map((x: { name: string; verification: { ok: boolean } }) => [x.name, x.verification.ok]), [[b.name, true]]);
  });
});
