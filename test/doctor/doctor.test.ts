// hub-guard doctor against real JupyterHub-shaped databases on sqlite, PostgreSQL and MariaDB: the 2017 incident's
// scenarios (empty and shared cookie_ids, john-doe / john.doe, ids changed after a wipe, a rebuild from volume
// claims), each repaired for real: by --apply on sqlite, by running the printed plan on the server engines.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { runDoctor } from '../../src/commands/doctor.js';
import { listBackups, verifyBackup } from '../../src/doctor/backups.js';
import { USER_REFERENCES } from '../../src/doctor/plan.js';
import { FileStore } from '../../src/state/store.js';
import { safeSlug } from '../../src/doctor/slugs.js';
import { createHubDatabases, ENGINES, initializeHub, insertUsers, MY, newCookieId, PG, scratchDir, type HubFixture } from '../hubdb/fixtures.js';
import { pvc, pvcList } from './pvcs.js';

const run = promisify(execFile);

type Row = Record<string, unknown>;

/** Reads rows straight from the database, as an operator's client would. */
async function rows(fx: HubFixture, sql: string): Promise<Row[]> {
  if (fx.engine === 'sqlite') {
    const db = new Database(fx.file!, { readonly: true });
    try {
      return db.prepare(sql).all() as Row[];
    } finally {
      db.close();
    }
  }
  const database = fx.url.slice(fx.url.lastIndexOf('/') + 1);
  if (fx.engine === 'postgres') {
    const c = new pg.Client({ ...PG, database });
    await c.connect();
    try {
      return (await c.query(sql)).rows as Row[];
    } finally {
      await c.end();
    }
  }
  const c = await mysql.createConnection({ ...MY, database });
  try {
    return (await c.query(sql))[0] as Row[];
  } finally {
    await c.end();
  }
}

const usersById = async (fx: HubFixture) =>
  Object.fromEntries((await rows(fx, 'SELECT id, name FROM users ORDER BY id')).map((r) => [Number(r.id), String(r.name)]));

interface Outcome {
  code: number;
  out: string;
  err: string;
  json(): Record<string, any>;
}

async function doctor(args: string[], opts: { tty?: boolean; answer?: string } = {}): Promise<Outcome> {
  let out = '';
  let err = '';
  const code = await runDoctor(args, {
    out: (t) => { out += t.endsWith('\n') ? t : `${t}\n`; },
    err: (t) => { err += t.endsWith('\n') ? t : `${t}\n`; },
    isTTY: opts.tty ?? false,
    ask: async () => opts.answer ?? '',
    env: {},
  });
  return { code, out, err, json: () => JSON.parse(out) };
}

/** Repairs the database with the plan: --apply on sqlite (checks again itself); the printed SQL on the servers. */
async function repair(fx: HubFixture, args: string[], backupDir: string): Promise<Record<string, any>> {
  if (fx.engine === 'sqlite') {
    const r = await doctor([...args, '--apply', '--yes', '--backup-dir', backupDir, '--json']);
    const report = r.json();
    assert.ok(report.applied, r.err);
    return report;
  }
  const report = (await doctor([...args, '--json'])).json();
  assert.match(report.sql, fx.engine === 'mysql' ? /^START TRANSACTION;$/m : /^BEGIN;$/m);
  assert.match(report.sql, /^COMMIT;$/m);
  await fx.exec(report.sql);
  return report;
}

const checksOf = (report: Record<string, any>) => (report.findings as Array<{ check: string }>).map((f) => f.check).sort();

for (const engine of ENGINES) {
  describe(`doctor on ${engine}`, () => {
    const scratch = scratchDir();
    const names = ['cookies', 'lookalike', 'ids', 'rebuild', 'healthy'] as const;
    const db = {} as Record<(typeof names)[number], HubFixture>;
    const backups = join(scratch.dir, 'backups');

    before(async () => {
      const fixtures = await createHubDatabases(engine, names.length, scratch.dir);
      names.forEach((n, i) => { db[n] = fixtures[i]; });
    });

    after(async () => {
      await Promise.all(Object.values(db).map((fx) => fx.drop()));
      scratch.remove();
    });

    test('empty, NULL, malformed and shared cookie_ids get fresh ones and the constraints come back', async () => {
      const fx = db.cookies;
      const shared = newCookieId();
      const keep = newCookieId();
      await fx.dropCookieIdConstraints();
      await fx.exec(insertUsers([
        { id: 1, name: 'alice', cookieId: '' }, { id: 2, name: 'bob', cookieId: '' }, { id: 3, name: 'carol', cookieId: null },
        { id: 4, name: 'dave', cookieId: 'dummy' }, { id: 5, name: 'erin', cookieId: shared }, { id: 6, name: 'fay', cookieId: shared },
        { id: 7, name: 'gus', cookieId: keep },
      ]));

      const first = await doctor(['--db', fx.url, '--json']);
      assert.equal(first.code, 1);
      const report = first.json();
      assert.deepEqual(checksOf(report), ['cookie-id-constraint', 'cookie-id-duplicate', 'cookie-id-empty', 'cookie-id-malformed', 'cookie-id-null']);
      assert.ok(report.findings.every((f: { action: string }) => f.action.length > 0));
      assert.deepEqual(report.plan.expected, [], 'the plan is expected to leave nothing behind');
      // The plan never prints a login id the database holds: only new ones.
      assert.ok(!report.sql.includes(keep) && !report.sql.includes(shared));
      const updates = report.sql.match(/^UPDATE users SET cookie_id = '[0-9a-f]{32}' WHERE id = \d+/gm) ?? [];
      assert.deepEqual(updates.map((u: string) => Number(/id = (\d+)/.exec(u)![1])), [1, 2, 3, 4, 5, 6]);

      const text = await doctor(['--db', fx.url]);
      assert.match(text.out, /\[critical\] cookie-id-empty/);
      assert.match(text.out, /What to do: /);
      assert.match(text.out, /--- SQL ---/);

      await repair(fx, ['--db', fx.url], backups);
      const again = await doctor(['--db', fx.url, '--json']);
      assert.equal(again.code, 0, again.out);
      assert.deepEqual(again.json().findings, []);
      const cookies = await rows(fx, 'SELECT name, cookie_id FROM users ORDER BY id');
      assert.equal(new Set(cookies.map((r) => r.cookie_id)).size, 7);
      for (const r of cookies) assert.match(String(r.cookie_id), /^[0-9a-f]{32}$/);
      assert.equal(cookies.find((r) => r.name === 'gus')?.cookie_id, keep, 'a good login id is left alone');

      if (engine === 'sqlite') {
        // The backup was taken before the change and passes its check.
        const [b] = listBackups(backups);
        assert.ok(b, 'a backup was kept');
        assert.equal(statSync(b.file).mode & 0o777, 0o600);
        assert.deepEqual(await verifyBackup(b.file), { ok: true, problem: null, users: 7, alembicVersion: '651f5419b74d' });
        const old = new Database(b.file, { readonly: true });
        assert.equal(old.prepare("SELECT COUNT(*) FROM users WHERE cookie_id = ''").pluck().get(), 2);
        old.close();
      }
    });

    test('john-doe / john.doe: the older row keeps its id and volume under the proper name', async () => {
      const fx = db.lookalike;
      await fx.exec(insertUsers([{ id: 51, name: 'john-doe' }, { id: 60, name: 'amy' }, { id: 300, name: 'john.doe' }]));
      await fx.exec("INSERT INTO roles (name, scopes) VALUES ('user', '[]')");
      await fx.exec("INSERT INTO servers (id, proto, ip, port, base_url) VALUES (1, 'http', '10.0.0.5', 8888, '/user/john.doe/')");
      await fx.exec("INSERT INTO spawners (id, user_id, server_id, name) VALUES (1, 51, NULL, ''), (2, 300, 1, '')");
      await fx.exec("INSERT INTO api_tokens (id, user_id, hashed, prefix) VALUES (1, 300, 'h-new', 'abcd'), (2, 51, 'h-old', 'efgh')");
      await fx.exec("INSERT INTO user_role_map (user_id, role_id) SELECT u.id, r.id FROM users u, roles r WHERE r.name = 'user'");
      const pvcs = join(scratch.dir, `lookalike-${engine}.json`);
      writeFileSync(pvcs, pvcList([
        pvc('claim-john-doe-51', '2016-09-01T10:00:00Z'), pvc('claim-amy-60', '2016-09-02T10:00:00Z'),
        pvc('claim-john-doe-300', '2017-02-10T09:00:00Z'), pvc('hub-db-dir', '2016-01-01T00:00:00Z'),
      ]));

      const first = await doctor(['--db', fx.url, '--pvcs', pvcs, '--json']);
      assert.equal(first.code, 1);
      const report = first.json();
      assert.deepEqual(checksOf(report), ['lookalike-names']);
      assert.equal(report.plan.lookalikes.length, 1);
      const decision = report.plan.lookalikes[0];
      assert.equal(decision.action, 'rename');
      assert.match(decision.explanation, /"john-doe" \(id 51.*holds the older id \(the volume claim-john-doe-51 carries id 51\)/);
      assert.match(decision.explanation, /the volume claim-john-doe-300 made for id 300 is left alone/);
      assert.deepEqual(report.volumes.unmapped.map((u: { claim: string }) => u.claim), ['hub-db-dir']);

      await repair(fx, ['--db', fx.url, '--pvcs', pvcs], backups);
      assert.deepEqual(await usersById(fx), { 51: 'john.doe', 60: 'amy' });
      assert.deepEqual((await rows(fx, 'SELECT id, user_id FROM spawners')).map((r) => [Number(r.id), Number(r.user_id)]), [[1, 51]]);
      assert.deepEqual(await rows(fx, 'SELECT id FROM servers'), []);
      assert.deepEqual((await rows(fx, 'SELECT id FROM api_tokens')).map((r) => Number(r.id)), [2]);
      assert.deepEqual((await rows(fx, 'SELECT user_id FROM user_role_map ORDER BY user_id')).map((r) => Number(r.user_id)), [51, 60]);

      const again = await doctor(['--db', fx.url, '--pvcs', pvcs, '--json']);
      assert.equal(again.code, 0, again.out);
      const after = again.json();
      assert.deepEqual(after.plan.steps, []);
      // The newer volume now reads as john.doe's too, but its id is only reported, never given to anyone.
      assert.ok(after.volumes.ambiguities.some((a: { message: string }) => /^claim-john-doe-300: taken as "john\.doe".*id 300 is not given back/.test(a.message)));
    });

    test('ids changed after a wipe come back from the baseline, with every reference to them', async () => {
      const fx = db.ids;
      const hub = { admin_users: [], allowed_users: ['alice', 'bob', 'carol', 'dan'], load_groups: { team: ['alice', 'carol'] }, load_roles: [] };
      await initializeHub(fx, hub);
      const now = Object.fromEntries(Object.entries(await usersById(fx)).map(([id, name]) => [name, Number(id)]));
      await fx.exec(`INSERT INTO spawners (id, user_id, name) VALUES (901, ${now.alice}, '')`);
      await fx.exec(`INSERT INTO api_tokens (id, user_id, hashed, prefix) VALUES (901, ${now.bob}, 'h-bob', 'bbbb')`);
      // Before the wipe alice and bob had each other's ids, carol had 40, and erin has gone since.
      const baseline = { highWater: 5, users: { alice: now.bob, bob: now.alice, carol: 40, dan: now.dan, erin: 41 }, updatedAt: Date.parse('2017-02-08T00:00:00Z') };
      let source: string[];
      if (engine === 'sqlite') {
        // Written by hub-guard's own state store, in the form the watchdog keeps it.
        const stateDir = join(scratch.dir, 'state');
        const store = new FileStore(stateDir);
        await store.save('baseline', baseline);
        await store.close();
        source = ['--state-dir', stateDir];
      } else if (engine === 'postgres') {
        const stateDir = join(scratch.dir, 'pg-state');
        const store = new FileStore(stateDir);
        await store.save('baseline', baseline);
        await store.close();
        source = ['--baseline', join(stateDir, 'baseline.json')];
      } else {
        const file = join(scratch.dir, `baseline_${engine}.json`);
        writeFileSync(file, JSON.stringify(baseline));
        source = ['--baseline', file];
      }

      const first = await doctor(['--db', fx.url, ...source, '--json']);
      assert.equal(first.code, 1);
      const report = first.json();
      assert.deepEqual(checksOf(report), ['id-changed']);
      assert.deepEqual(
        report.plan.idRestores.map((r: { name: string; to: number; blocked: string | null }) => [r.name, r.to, r.blocked]).sort(),
        [['alice', now.bob, null], ['bob', now.alice, null], ['carol', 40, null]],
      );
      assert.match(report.plan.steps[0].why, /spawners\.user_id, api_tokens\.user_id, oauth_codes\.user_id, user_role_map\.user_id, user_group_map\.user_id/);
      assert.deepEqual(report.plan.expected, []);

      await repair(fx, ['--db', fx.url, ...source], backups);
      const ids = Object.fromEntries(Object.entries(await usersById(fx)).map(([id, name]) => [name, Number(id)]));
      assert.deepEqual(ids, { alice: now.bob, bob: now.alice, carol: 40, dan: now.dan });
      assert.equal(Number((await rows(fx, 'SELECT user_id FROM spawners WHERE id = 901'))[0].user_id), ids.alice);
      assert.equal(Number((await rows(fx, 'SELECT user_id FROM api_tokens WHERE id = 901'))[0].user_id), ids.bob);
      const team = await rows(fx, "SELECT m.user_id FROM user_group_map m JOIN groups g ON g.id = m.group_id WHERE g.name = 'team' ORDER BY m.user_id");
      assert.deepEqual(team.map((r) => Number(r.user_id)), [ids.alice, ids.carol].sort((a, b) => a - b));
      const roles = await rows(fx, "SELECT m.user_id FROM user_role_map m JOIN roles r ON r.id = m.role_id WHERE r.name = 'user' ORDER BY m.user_id");
      assert.deepEqual(roles.map((r) => Number(r.user_id)), Object.values(ids).sort((a, b) => a - b));

      // The real hub starts on the repaired database, keeps the ids, and gives a new user an id past the restored ones.
      await initializeHub(fx, { ...hub, allowed_users: [...hub.allowed_users, 'newbie'] });
      const later = await usersById(fx);
      assert.deepEqual(Object.entries(later).filter(([, n]) => n !== 'newbie').map(([id, n]) => [n, Number(id)]).sort(), Object.entries(ids).sort());
      assert.ok(Number(Object.entries(later).find(([, n]) => n === 'newbie')![0]) > 40);

      const again = await doctor(['--db', fx.url, ...source, '--json']);
      assert.equal(again.code, 0, again.out);
    });

    test('a wiped users table is rebuilt from a PVC list in all three naming schemes, leaving the ambiguous claims to a person', async () => {
      const fx = db.rebuild;
      await fx.exec("INSERT INTO roles (name, scopes) VALUES ('user', '[]')");
      const pvcs = join(scratch.dir, `rebuild-${engine}.json`);
      writeFileSync(pvcs, pvcList([
        pvc('claim-u-51', '2016-09-01T10:00:00Z'),
        pvc('claim-u-257', '2017-02-09T12:00:00Z'),
        pvc('claim-alice-7', '2016-10-01T00:00:00Z'),
        pvc('claim-john-doe-52', '2016-10-02T00:00:00Z'),
        pvc('claim-mary-2esmith', '2019-01-01T00:00:00Z'),
        pvc('claim-jane-40example-2ecom', '2019-01-02T00:00:00Z'),
        pvc('claim-kim-2elee--gpu', '2019-01-03T00:00:00Z'),
        pvc(`claim-${safeSlug('bob.smith')}`, '2024-01-01T00:00:00Z'),
        pvc('claim-x-0day---819d812d', '2024-01-02T00:00:00Z'),
        pvc('claim-carol', '2024-01-03T00:00:00Z'),
        pvc('claim-dan-o-9', '2016-11-01T00:00:00Z', { 'hub.jupyter.org/username': 'dan.o' }),
        pvc('hub-db-dir', '2016-01-01T00:00:00Z'),
        pvc('claim-zz---deadbeef', '2024-02-01T00:00:00Z'),
      ]));

      const first = await doctor(['--db', fx.url, '--pvcs', pvcs, '--json']);
      assert.equal(first.code, 1);
      const report = first.json();
      assert.deepEqual(report.findings, []);
      assert.deepEqual(report.volumes.unmapped.map((u: { claim: string }) => u.claim).sort(), ['claim-zz---deadbeef', 'hub-db-dir']);
      assert.ok(report.volumes.ambiguities.some((a: { claims: string[] }) => a.claims.includes('claim-u-257')));
      assert.ok(report.volumes.ambiguities.some((a: { claims: string[] }) => a.claims.includes('claim-john-doe-52')));
      assert.match(report.sql, /^-- claim-john-doe-52: user 52 is one of "john-doe", "john\.doe", "john_doe"/m);
      assert.match(report.sql, /^-- INSERT INTO users \(id, name, admin, created, cookie_id\) VALUES \(52, '<login name>'/m);

      await repair(fx, ['--db', fx.url, '--pvcs', pvcs], backups);
      const users = await usersById(fx);
      assert.equal(users[7], 'alice');
      assert.equal(users[9], 'dan.o');
      assert.equal(users[51], 'u');
      assert.equal(users[52], undefined, 'the id of the undecided claim stays free');
      assert.deepEqual(Object.values(users).sort(), ['0day', 'alice', 'bob.smith', 'carol', 'dan.o', 'jane@example.com', 'kim.lee', 'mary.smith', 'u']);
      const asText = engine === 'postgres' ? 'created::text' : engine === 'mysql' ? 'CAST(created AS CHAR)' : 'created';
      const created = await rows(fx, `SELECT ${asText} AS created FROM users WHERE name = 'u'`);
      assert.match(String(created[0].created), /^2016-09-01 10:00:00/);
      const cookies = (await rows(fx, 'SELECT cookie_id FROM users')).map((r) => String(r.cookie_id));
      assert.equal(new Set(cookies).size, cookies.length);
      for (const c of cookies) assert.match(c, /^[0-9a-f]{32}$/);
      assert.equal((await rows(fx, 'SELECT user_id FROM user_role_map')).length, 9);

      // Only the claim a person must name is left; the real hub accepts the rebuilt users.
      const again = await doctor(['--db', fx.url, '--pvcs', pvcs, '--json']);
      assert.equal(again.code, 1);
      const left = again.json();
      assert.deepEqual(left.findings, []);
      assert.deepEqual(left.plan.steps.map((s: { statements: unknown[] }) => s.statements.length), [0]);
      await initializeHub(fx, { admin_users: [], allowed_users: [], load_groups: {}, load_roles: [] });
      assert.equal(Object.keys(await usersById(fx)).length, 9);
    });

    test('a healthy database: exit 0, nothing to change', async () => {
      const fx = db.healthy;
      await initializeHub(fx, { admin_users: ['ann'], allowed_users: ['bob'], load_groups: {}, load_roles: [] });
      const r = await doctor(['--db', fx.url]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /No findings/);
      assert.match(r.out, /Repair plan: nothing to change/);
      if (engine === 'sqlite') {
        // The foreign keys doctor moves along are exactly the ones JupyterHub's schema has.
        const sqlite = new Database(fx.file!, { readonly: true });
        const tables = sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
        const refs = tables.flatMap((t) => (sqlite.prepare(`SELECT "table", "from" FROM pragma_foreign_key_list('${t}')`).all() as Array<{ table: string; from: string }>)
          .filter((fk) => fk.table === 'users').map((fk) => `${t}.${fk.from}`));
        sqlite.close();
        assert.deepEqual(refs.sort(), USER_REFERENCES.filter(([t]) => tables.includes(t)).map(([t, c]) => `${t}.${c}`).sort());
      }
    });

    if (engine === 'sqlite') {
      test('--apply asks first: no answer on a terminal, no --yes elsewhere, nothing written', async () => {
        const fx = db.healthy;
        await fx.exec("UPDATE users SET cookie_id = '' WHERE name = 'bob'");
        const before = readFileSync(fx.file!);
        const declined = await doctor(['--db', fx.url, '--apply', '--backup-dir', backups], { tty: true, answer: 'no' });
        assert.equal(declined.code, 1);
        assert.match(declined.err, /not applied; nothing was written/);
        const refused = await doctor(['--db', fx.url, '--apply', '--backup-dir', backups]);
        assert.equal(refused.code, 2);
        assert.match(refused.err, /add --yes/);
        assert.deepEqual(readFileSync(fx.file!), before);

        const yes = await doctor(['--db', fx.url, '--apply', '--backup-dir', backups], { tty: true, answer: 'yes' });
        assert.equal(yes.code, 0, yes.err);
        assert.match(yes.out, /Applied \d+ statements in one transaction\. Backup taken first: .*\(verified, 2 users\)/);
        assert.match(yes.out, /Checked again:\n {2}No findings/);
      });

      test('a plan made before the database changed is rolled back, not half applied', async () => {
        const fx = db.healthy;
        await fx.exec("UPDATE users SET cookie_id = '' WHERE name = 'bob'");
        // Doctor reads, then someone renames bob before the plan runs: the guarded UPDATE matches no row.
        const r = await doctor(['--db', fx.url, '--json']);
        const plan = r.json().plan;
        await fx.exec("UPDATE users SET name = 'robert' WHERE name = 'bob'");
        const { applyPlanToSqlite, ApplyError } = await import('../../src/doctor/sqlite-apply.js');
        assert.throws(() => applyPlanToSqlite(fx.file!, plan), (e: unknown) => e instanceof ApplyError && /changed 0 rows instead of 1/.test(e.message) && !/[0-9a-f]{32}/.test(e.message));
        assert.equal((await rows(fx, "SELECT cookie_id FROM users WHERE name = 'robert'"))[0].cookie_id, '');
      });
    } else {
      test('--apply is refused with the dump command to run instead, and no password in it', async () => {
        const url = db.healthy.url.replace('@', ':s3cret@');
        const r = await doctor(['--db', url, '--apply', '--yes']);
        assert.equal(r.code, 2);
        assert.match(r.err, engine === 'postgres' ? /pg_dump --host=127\.0\.0\.1 --port=5432 --username=postgres --format=custom/ : /mysqldump --host=127\.0\.0\.1 --port=3306 --user=root --single-transaction/);
        assert.match(r.err, engine === 'postgres' ? /psql .*--set=ON_ERROR_STOP=1 --file=plan\.sql/ : /mysql .* < plan\.sql/);
        assert.doesNotMatch(r.err, /s3cret/);
      });
    }
  });
}

describe('doctor command line', () => {
  const scratch = scratchDir();
  after(() => scratch.remove());

  test('bad usage is exit 2 with a message naming the flag', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /--db URL is required/],
      [['--db', 'ftp://x'], /--db: unsupported database type 'ftp'/],
      [['--db', 'sqlite:////x.sqlite', '--baseline', 'a', '--state-dir', 'b'], /cannot be used together/],
      [['--db', 'sqlite:////x.sqlite', '--yes'], /--yes only goes with --apply/],
      [['--db', 'sqlite:////x.sqlite', '--frobnicate'], /unknown flag --frobnicate/],
      [['--db', 'sqlite:////x.sqlite', '--timeout', 'soon'], /--timeout must be/],
      [['--db', 'sqlite:////x.sqlite', '--baseline', join(scratch.dir, 'missing.json')], /--baseline .*: no such file/],
      [['--db', 'sqlite:////x.sqlite', '--state-dir', join(scratch.dir, 'nope')], /--state-dir .*: no such directory/],
      [['--db', 'sqlite:////x.sqlite', '--pvcs', join(scratch.dir, 'missing.json')], /--pvcs .*: no such file/],
      [['--db', 'postgresql://u:hunter2@h/db', 'extra'], /unexpected argument 'extra'/],
    ];
    for (const [args, message] of cases) {
      const r = await doctor(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.err, message);
      assert.doesNotMatch(r.err, /hunter2/);
    }
    const bad = join(scratch.dir, 'bad.json');
    writeFileSync(bad, '{"users": []}');
    assert.match((await doctor(['--db', 'sqlite:////x.sqlite', '--baseline', bad])).err, /is not a hub-guard baseline/);
    writeFileSync(bad, '{"kind": "List"}');
    assert.match((await doctor(['--db', 'sqlite:////x.sqlite', '--pvcs', bad])).err, /no "items" list/);
    assert.equal((await doctor(['--help'])).code, 0);
  });

  test('a database that cannot be read is a critical finding, exit 1', async () => {
    const r = await doctor(['--db', `sqlite:///${join(scratch.dir, 'absent.sqlite')}`, '--json']);
    assert.equal(r.code, 1);
    assert.deepEqual(r.json().findings.map((f: { check: string }) => f.check), ['unreachable']);
  });

  test('runs as a child process, through the CLI when it dispatches "doctor"', async () => {
    const [fx] = await createHubDatabases('sqlite', 1, scratch.dir);
    await fx.exec(insertUsers([{ id: 1, name: 'ann', cookieId: '' }]));
    const sqlFile = join(scratch.dir, 'plan.sql');
    const cli = readFileSync(new URL('../../src/cli.js', import.meta.url), 'utf8');
    const args = ['doctor', '--db', fx.url, '--json', '--sql', sqlFile];
    const child = cli.includes('runDoctor')
      ? run(process.execPath, [new URL('../../src/cli.js', import.meta.url).pathname, ...args])
      // Not --input-type=module: worker threads (the sqlite reader) inherit it and refuse to start.
      : run(process.execPath, ['-e',
        `import(${JSON.stringify(new URL('../../src/commands/doctor.js', import.meta.url).href)}).then((m) => m.runDoctor(process.argv.slice(1))).then((code) => { process.exitCode = code; });`,
        '--', ...args.slice(1)]);
    const failed = await child.then(() => null, (e: { code: number; stdout: string }) => e);
    assert.equal(failed?.code, 1);
    const report = JSON.parse(failed!.stdout);
    assert.deepEqual(report.findings.map((f: { check: string }) => f.check), ['cookie-id-empty']);
    assert.equal(statSync(sqlFile).mode & 0o777, 0o600);
    assert.equal(readFileSync(sqlFile, 'utf8'), report.sql);
  });
});
