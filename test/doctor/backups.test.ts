// Verified online backups of a real (JupyterHub-made) sqlite hub database: consistent while a writer is busy,
// checked before they get their name, pruned to the last N; and `hub-guard backup list|verify|restore-plan`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { runBackup } from '../../src/commands/backup.js';
import {
  backupStem, copySize, ensureRoom, listBackups, maybeBackup, pruneBackups, takeVerifiedBackup, verifyBackup,
  type BackupOutcome, type BackupPolicy, type SkipReason, type SpaceProbe, type VerifiedBackup,
} from '../../src/doctor/backups.js';
import { defaultReserve, planCopy, statfsRoom } from '../../src/doctor/space.js';
import { DEFAULT_CHECK_OPTIONS } from '../../src/hubdb/checks.js';
import { openHubDb } from '../../src/hubdb/open.js';
import { UsersIndex } from '../../src/identity/users-index.js';
import { metrics } from '../../src/metrics.js';
import { Maintenance } from '../../src/monitor/maintenance.js';
import { Watchdog } from '../../src/monitor/watchdog.js';
import { MemoryStore } from '../../src/state/store.js';
import { eventually } from '../helpers/eventually.js';
import { createHubDatabases, insertUsers, scratchDir, type HubFixture } from '../hubdb/fixtures.js';

const run = promisify(execFile);

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const iso = (t: number) => new Date(t).toISOString();

/** A file system of `size` bytes with `free` of them left, whatever the machine's disk has. */
const volume = (free: number, size = GiB): SpaceProbe => async () => ({ size, free });

/** The watchdog's policy on a roomy pretend volume, unless a test says otherwise. */
const policy = (dir: string, o: Partial<BackupPolicy> = {}): BackupPolicy =>
  ({ dir, keep: 24, intervalMs: 60_000, maxBytes: { percent: 100 }, space: volume(GiB), ...o });

function taken(o: BackupOutcome | null): VerifiedBackup & { removed: string[] } {
  if (o?.status !== 'taken') assert.fail(`expected a backup, got ${JSON.stringify(o)}`);
  return { ...o.backup, removed: o.removed };
}

function skipped(o: BackupOutcome | null, reason: SkipReason): string {
  if (o?.status !== 'skipped') assert.fail(`expected a skip, got ${JSON.stringify(o)}`);
  assert.equal(o.reason, reason);
  return o.message;
}

const skipCount = async (reason: SkipReason) => (await metrics.backupsSkipped.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
const totalBytes = (dir: string, stem: string) => listBackups(dir, stem).reduce((sum, b) => sum + b.bytes, 0);

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
    const keep2 = policy(dir, { keep: 2 });
    const first = await maybeBackup(file, keep2, t0);
    assert.equal(first?.status, 'taken');
    assert.equal(await maybeBackup(file, keep2, t0 + 59_999), null, 'not due yet');
    const [a, b] = await Promise.all([maybeBackup(file, keep2, t0 + 60_000), maybeBackup(file, keep2, t0 + 60_001)]);
    assert.ok((a === null) !== (b === null), 'one of two concurrent calls takes the backup');
    await maybeBackup(file, keep2, t0 + 120_000);
    const kept = listBackups(dir);
    assert.deepEqual(kept.map((k) => k.takenAt), [new Date(t0 + 120_000).toISOString(), taken(a ?? b).takenAt]);
    // Backups of another database in the same directory are not its to prune.
    const otherStem = join(dir, 'other-20200101T000000000Z.sqlite');
    writeFileSync(otherStem, readFileSync(kept[0].file));
    await maybeBackup(file, { ...keep2, keep: 1 }, t0 + 180_000);
    assert.deepEqual(listBackups(dir).map((k) => k.stem).sort(), ['other', kept[0].stem].sort());
  });

  test('too little free space: the copy is skipped and counted, nothing is written, the database is untouched', async () => {
    const dir = join(scratch.dir, 'full');
    const t0 = Date.parse('2024-03-01T00:00:00Z');
    const before = readFileSync(file);
    const counted = await skipCount('free-space');
    // 100 MiB would be left after the copy: less than the default reserve's floor of 256 MiB
    const tight = policy(dir, { space: volume(copySize(file) + 100 * MiB) });
    const message = skipped(await maybeBackup(file, tight, t0), 'free-space');
    assert.match(message, /would leave 100\.0 MiB free on the file system of the backup directory, less than the 256\.0 MiB kept for the hub \(--backup-min-free\)/);
    assert.deepEqual(readdirSync(dir), [], 'nothing written, not even a temporary file');
    assert.deepEqual(readFileSync(file), before);
    assert.equal(await skipCount('free-space'), counted + 1);

    assert.equal(await maybeBackup(file, tight, t0 + 59_999), null, 'a skipped copy is due again an interval later, as a taken one');
    assert.equal(await skipCount('free-space'), counted + 1);
    skipped(await maybeBackup(file, tight, t0 + 60_000), 'free-space');
    assert.equal(await skipCount('free-space'), counted + 2);

    // the operator's reserve, in bytes or as a share of the volume, is what counts when given
    taken(await maybeBackup(file, { ...tight, minFree: { bytes: 100 * MiB } }, t0 + 120_000));
    skipped(await maybeBackup(file, { ...tight, minFree: { percent: 10 } }, t0 + 180_000), 'free-space');
    assert.equal(listBackups(dir).length, 1);
    assert.deepEqual(readFileSync(file), before);
  });

  test('a budget: the oldest copies make room before a new one is written, and together they stay within it', async () => {
    const dir = join(scratch.dir, 'budget');
    const stem = backupStem(file);
    const size = copySize(file);
    const budget = Math.floor(3.5 * size);
    const t0 = Date.parse('2024-04-01T00:00:00Z');
    const removed: number[] = [];
    for (let i = 0; i < 5; i++) {
      const b = taken(await maybeBackup(file, policy(dir, { maxBytes: { bytes: budget } }), t0 + i * 60_000));
      removed.push(b.removed.length);
      assert.ok(totalBytes(dir, stem) <= budget, `copy ${i}: ${totalBytes(dir, stem)} bytes, budget ${budget}`);
    }
    assert.deepEqual(removed, [0, 0, 0, 1, 1], 'from the fourth copy on, each displaces the oldest');
    assert.deepEqual(listBackups(dir).map((b) => b.takenAt), [4, 3, 2].map((i) => iso(t0 + i * 60_000)));

    // as a share of the volume: 25 % of a volume ten copies large holds two and a half
    const share = join(scratch.dir, 'budget-share');
    const onVolume = policy(share, { maxBytes: { percent: 25 }, space: volume(GiB, 10 * size) });
    for (let i = 0; i < 4; i++) taken(await maybeBackup(file, onVolume, t0 + i * 60_000));
    assert.deepEqual(listBackups(share).map((b) => b.takenAt), [3, 2].map((i) => iso(t0 + i * 60_000)));
  });

  test('a copy larger than the budget is skipped and reported; a budget for one copy keeps that one', async () => {
    const dir = join(scratch.dir, 'over-budget');
    const size = copySize(file);
    const t0 = Date.parse('2024-05-01T00:00:00Z');
    const counted = await skipCount('budget');
    const message = skipped(await maybeBackup(file, policy(dir, { maxBytes: { bytes: size - 1 } }), t0), 'budget');
    assert.match(message, /is larger than the budget for its backups \(.*, --backup-max-bytes\)/);
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(await skipCount('budget'), counted + 1);

    const one = policy(dir, { maxBytes: { bytes: Math.floor(1.5 * size) } });
    const first = taken(await maybeBackup(file, one, t0 + 60_000));
    const why = skipped(await maybeBackup(file, one, t0 + 120_000), 'budget');
    assert.match(why, /the newest is never deleted before a newer one has passed its check; raise --backup-max-bytes to at least/);
    assert.deepEqual(listBackups(dir).map((b) => b.name), [first.name]);
    assert.equal(await skipCount('budget'), counted + 2);
  });

  test('a new copy that fails its check leaves the newest good one in place', async () => {
    const dir = join(scratch.dir, 'failing-copy');
    const fragile = join(scratch.dir, 'fragile.sqlite');
    copyFileSync(file, fragile);
    const size = copySize(fragile);
    const t0 = Date.parse('2024-06-01T00:00:00Z');
    const tight = policy(dir, { maxBytes: { bytes: Math.floor(2.5 * size) } });
    taken(await maybeBackup(fragile, tight, t0));
    const newest = taken(await maybeBackup(fragile, tight, t0 + 60_000));
    writeFileSync(fragile, Buffer.alloc(size, 'x'));
    await assert.rejects(maybeBackup(fragile, tight, t0 + 120_000), /backup of .*fragile\.sqlite failed/);
    // the older copy made room for the new one before it was written; the newest waited for a successor that never came
    assert.deepEqual(readdirSync(dir), [newest.name]);
    assert.equal((await verifyBackup(newest.file)).ok, true);
  });

  test('on the real file system: statfs reads the temp directory\'s volume, and a reserve it cannot meet stops the copy', async () => {
    const dir = join(scratch.dir, 'real-statfs');
    mkdirSync(dir);
    const room = await statfsRoom(dir);
    assert.ok(room.free > 0 && room.free <= room.size, JSON.stringify(room));
    const real: BackupPolicy = { dir, keep: 24, intervalMs: 60_000, maxBytes: { percent: 100 } };
    const t0 = Date.parse('2024-07-01T00:00:00Z');
    taken(await maybeBackup(file, { ...real, minFree: { bytes: 0 } }, t0));
    // keeping the whole volume free can never be met
    skipped(await maybeBackup(file, { ...real, minFree: { percent: 100 } }, t0 + 60_000), 'free-space');
    assert.equal(listBackups(dir).length, 1);
  });

  test("doctor --apply's copy: ensureRoom refuses a directory the copy would leave short", async () => {
    const dir = join(scratch.dir, 'apply-room');
    await assert.rejects(ensureRoom(file, dir, { space: volume(copySize(file) + MiB) }), /not enough free space in .*apply-room: .* less than the 256\.0 MiB kept for the hub; choose a directory on another volume/);
    await ensureRoom(file, dir, { space: volume(GiB) });
    await ensureRoom(file, dir, { space: volume(copySize(file) + MiB), minFree: { bytes: MiB } });
  });

  test('the watchdog warns once while copies are skipped for one reason, and says when they resume', async () => {
    const dir = join(scratch.dir, 'watchdog-skips');
    let space = volume(copySize(file) + MiB);
    const store = new MemoryStore();
    const db = openHubDb(`sqlite:///${file}`, { timeoutMs: 10_000 });
    const w = new Watchdog({
      db, store, maintenance: new Maintenance(store), users: new UsersIndex(Buffer.alloc(32)),
      intervalMs: 3_600_000, unreachableChecks: 2, checks: DEFAULT_CHECK_OPTIONS,
      // due at every check, so that every check tries a copy
      backup: { dir, keep: 24, intervalMs: 1, maxBytes: { percent: 100 }, space: (d) => space(d) },
    });
    w.stop();
    const lines: { msg: string }[] = [];
    const write = process.stderr.write;
    // the log lines are what is under test here; they are read, not shown
    process.stderr.write = ((chunk: string | Uint8Array) => {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        try {
          lines.push(JSON.parse(line));
        } catch {
          // not a log line
        }
      }
      return true;
    }) as typeof process.stderr.write;
    const said = (msg: string) => lines.filter((l) => l.msg === msg).length;
    // every probe runs a check, and every check of the healthy database tries a copy
    const until = (what: string, done: () => Promise<boolean> | boolean) =>
      eventually(what, async () => {
        await w.checkNow();
        assert.equal(w.state, 'healthy');
        return (await done()) ? true : undefined;
      });
    try {
      const counted = await skipCount('free-space');
      await until('three skipped copies', async () => (await skipCount('free-space')) >= counted + 3);
      assert.equal(said('hub database backup skipped'), 1, 'three skips or more, one warning');
      space = volume(GiB);
      await until('a copy', () => listBackups(dir).length > 0);
      await until('the all-clear', () => said('hub database backups resumed') === 1);
      space = volume(copySize(file) + MiB);
      await until('a warning for the new skip', () => said('hub database backup skipped') === 2);
    } finally {
      process.stderr.write = write;
      await db.close();
    }
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
    const json = JSON.parse(list.out);
    assert.deepEqual(json.backups.map((x: { name: string }) => x.name), [b.name]);
    assert.deepEqual(json.totals, [{ stem: b.stem, backups: 1, bytes: b.bytes }]);
    assert.ok(json.fileSystem.freeBytes > 0 && json.fileSystem.freeBytes <= json.fileSystem.sizeBytes);
    const text = (await backupCli(['list', '--backup-dir', dir])).out;
    assert.match(text, new RegExp(`\nTotal: \\d+ KiB in 1 backup of ${b.stem}; [\\d.]+ [KMG]i?B free of [\\d.]+ [KMG]i?B on this file system\\.\n`));
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

describe('planning a copy against the free space and the budget', () => {
  const copies = (...sizes: number[]) => sizes.map((bytes, i) => ({ name: `c${i}`, bytes }));
  const names = (plan: ReturnType<typeof planCopy<{ name: string; bytes: number }>>) => (plan.ok ? plan.remove.map((b) => b.name) : plan.reason);
  const roomy = { size: GiB, free: GiB };

  test('the oldest go first, what stays is an unbroken run of the newest, and the newest never goes before writing', () => {
    assert.deepEqual(names(planCopy(10, copies(10, 10, 10, 10), roomy, { maxBytes: { bytes: 35 } })), ['c2', 'c3']);
    // c2 would fit after c1 is gone, but a gap in the history is not kept
    assert.deepEqual(names(planCopy(10, copies(10, 30, 5), roomy, { maxBytes: { bytes: 30 } })), ['c1', 'c2']);
    assert.deepEqual(names(planCopy(10, copies(25, 1), roomy, { maxBytes: { bytes: 30 } })), 'budget');
    assert.deepEqual(names(planCopy(31, [], roomy, { maxBytes: { bytes: 30 } })), 'budget');
    assert.deepEqual(names(planCopy(30, [], roomy, { maxBytes: { bytes: 30 } })), []);
  });

  test('the bytes it deletes count toward the free space; a share resolves against the volume', () => {
    const small = { size: 1000, free: 10 };
    const limits = { maxBytes: { bytes: 25 } };
    // 10 free + 20 deleted - 10 written = 20 left
    assert.deepEqual(names(planCopy(10, copies(10, 10, 10), small, { ...limits, minFree: { bytes: 20 } })), ['c1', 'c2']);
    assert.deepEqual(names(planCopy(10, copies(10, 10, 10), small, { ...limits, minFree: { bytes: 21 } })), 'free-space');
    assert.deepEqual(names(planCopy(10, copies(10, 10, 10), small, { ...limits, minFree: { percent: 2 } })), ['c1', 'c2']);
    assert.deepEqual(names(planCopy(10, copies(10, 10, 10), small, { ...limits, minFree: { percent: 2.1 } })), 'free-space');
    const plan = planCopy(10, [], { size: 1000, free: 1000 }, { maxBytes: { percent: 25 }, minFree: { bytes: 0 } });
    assert.deepEqual([plan.budget, plan.reserve], [250, 0]);
  });

  test('the default reserve: twice the database, and never under 256 MiB', () => {
    assert.equal(defaultReserve(0), 256 * MiB);
    assert.equal(defaultReserve(100 * MiB), 256 * MiB);
    assert.equal(defaultReserve(200 * MiB), 400 * MiB);
    const plan = planCopy(200 * MiB, [], { size: GiB, free: 500 * MiB }, { maxBytes: { percent: 100 } });
    assert.equal(plan.ok, false, '300 MiB would be left, less than twice the database');
    assert.deepEqual(names(planCopy(100 * MiB, [], { size: GiB, free: 400 * MiB }, { maxBytes: { percent: 100 } })), []);
  });
});
