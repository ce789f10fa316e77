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
import { SPAWNER_REFERENCES, USER_REFERENCES } from '../../src/doctor/plan.js';
import { openHubDb } from '../../src/hubdb/open.js';
import { FileStore } from '../../src/state/store.js';
import { safeSlug } from '../../src/doctor/slugs.js';
import { createHubDatabases, ENGINES, initializeHub, insertUsers, MY, newCookieId, PG, scratchDir, type HubFixture } from '../hubdb/fixtures.js';
import { sharingDb, sharingFixtureRows, type Rows, type SharingDb } from '../hubdb/sharing-copies.js';
import { insertRows } from '../hubdb/sharing-schema.js';
import { pvc, pvcList } from './pvcs.js';

const run = promisify(execFile);

type Row = Record<string, unknown>;

/** Reads rows straight from the database, as an operator's client would. */
async function rows(fx: Pick<HubFixture, 'engine' | 'file' | 'url'>, sql: string): Promise<Row[]> {
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

const usersById = async (fx: Pick<HubFixture, 'engine' | 'file' | 'url'>) =>
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
async function repair(fx: Pick<HubFixture, 'engine' | 'exec'>, args: string[], backupDir: string): Promise<Record<string, any>> {
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

/** 'table.column' of every foreign key in a sqlite file that refers to `target`, sorted. */
function foreignKeys(file: string, target: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
    return tables.flatMap((t) => (db.prepare('SELECT "table", "from" FROM pragma_foreign_key_list(?)').all(t) as Array<{ table: string; from: string }>)
      .filter((fk) => fk.table === target).map((fk) => `${t}.${fk.from}`)).sort();
  } finally {
    db.close();
  }
}

/** The 5.5.1 fixture's users and ids, as a healthy baseline would have them. */
const FIXTURE_IDS = new Map((sharingFixtureRows().find(([t]) => t === 'users')![1]).map((u) => [String(u.name), Number(u.id)]));
/** alice and bob re-created under new ids after a wipe, their servers, roles, shares and share codes with them. */
const MOVED = new Map([[2, 12], [3, 13]]);

/**
 * The 5.5.1 database with alice and bob under new ids: on sqlite the fixture copy, every column whose foreign key
 * refers to users.id moved (found from the schema, not from doctor's list); on the servers, the fixture's rows so
 * moved before they go in.
 */
async function fiveWithMovedIds(engine: HubFixture['engine'], dir: string): Promise<SharingDb> {
  const move = (v: unknown) => (typeof v === 'number' && MOVED.has(v) ? MOVED.get(v)! : v);
  if (engine !== 'sqlite') {
    const rows: Array<[string, Rows]> = sharingFixtureRows().map(([t, list]) => [t, list.map((r) => Object.fromEntries(
      Object.entries(r).map(([c, v]) => [c, (t === 'users' && c === 'id') || c === 'user_id' || c === 'owner_id' ? move(v) : v]),
    ) as Rows[number])]);
    return sharingDb(engine, dir, rows);
  }
  const fx = await sharingDb('sqlite', dir);
  const columns = foreignKeys(fx.file!, 'users').map((tc) => tc.split('.') as [string, string]);
  await fx.exec(['PRAGMA foreign_keys = OFF', ...[...MOVED].flatMap(([from, to]) => [
    `UPDATE users SET id = ${to} WHERE id = ${from}`, ...columns.map(([t, c]) => `UPDATE ${t} SET ${c} = ${to} WHERE ${c} = ${from}`),
  ])].join('; '));
  return fx;
}

/** Who owns and who receives each share and share code, by id. */
async function sharingRows(fx: Pick<HubFixture, 'engine' | 'file' | 'url'>): Promise<Row[]> {
  const ids = (r: Row) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null ? null : Number(v)]));
  return [
    ...(await rows(fx, 'SELECT id, owner_id, user_id, group_id, spawner_id FROM shares ORDER BY id')).map((r) => ({ table: 'shares', ...ids(r) })),
    ...(await rows(fx, 'SELECT id, owner_id, spawner_id FROM share_codes ORDER BY id')).map((r) => ({ table: 'share_codes', ...ids(r) })),
  ];
}

/** The same, in the fixture as the hub wrote it. */
const FIXTURE_SHARING: Row[] = (() => {
  const of = (table: string) => sharingFixtureRows().find(([t]) => t === table)![1];
  const pick = (r: Rows[number], cols: string[]) => Object.fromEntries(cols.map((c) => [c, r[c] === null ? null : Number(r[c])]));
  return [
    ...of('shares').map((r) => ({ table: 'shares', ...pick(r, ['id', 'owner_id', 'user_id', 'group_id', 'spawner_id']) })),
    ...of('share_codes').map((r) => ({ table: 'share_codes', ...pick(r, ['id', 'owner_id', 'spawner_id']) })),
  ];
})();

/** The servers each of these users may open as hub-guard reads the database (alice: her own only). */
async function grantsOf(url: string): Promise<Record<string, string[]>> {
  const db = openHubDb(url, { timeoutMs: 10_000 });
  try {
    const s = await db.read();
    return Object.fromEntries(['alice', 'bob', 'carol', 'frank'].map((n) => [n, s.access.get(n)?.servers ?? []]));
  } finally {
    await db.close();
  }
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
        sqlite.close();
        assert.deepEqual(foreignKeys(fx.file!, 'users'), USER_REFERENCES.filter(([t]) => tables.includes(t)).map(([t, c]) => `${t}.${c}`).sort());
      }
    });

    test('5.x: ids restored from the baseline take shares and share codes along; a rename rewrites their scopes', async () => {
      const fx = await fiveWithMovedIds(engine, scratch.dir);
      try {
        const baselineFile = join(scratch.dir, `baseline_5x_${engine}.json`);
        writeFileSync(baselineFile, JSON.stringify({ highWater: 7, users: Object.fromEntries(FIXTURE_IDS), updatedAt: Date.parse('2026-12-03T18:00:00Z') }));
        const base = ['--db', fx.url, '--baseline', baselineFile];

        const first = (await doctor([...base, '--json'])).json();
        assert.deepEqual(checksOf(first), ['id-changed']);
        assert.deepEqual(first.plan.idRestores.map((r: { name: string; from: number; to: number; blocked: string | null }) => [r.name, r.from, r.to, r.blocked]),
          [['alice', 12, 2, null], ['bob', 13, 3, null]]);
        assert.match(first.plan.steps[0].why, /shares\.owner_id, shares\.user_id, share_codes\.owner_id, spawners\.user_id/);
        assert.deepEqual(first.plan.expected, []);
        await repair(fx, base, backups);
        assert.deepEqual(await sharingRows(fx), FIXTURE_SHARING, 'every share and share code is where the hub put it');
        assert.deepEqual(await grantsOf(fx.url), { alice: [], bob: ['alice/'], carol: ['alice/'], frank: ['alice/'] });

        // john-doe's pattern on 5.x: "jo-ann" (older, her server shared with bob) and an empty "jo.ann" with a share code.
        await fx.exec(insertUsers([{ id: 20, name: 'jo-ann' }, { id: 21, name: 'jo.ann' }]));
        await fx.exec("INSERT INTO spawners (id, user_id, name) VALUES (20, 20, ''), (21, 21, '')");
        const scoped = (owner: string) => `["access:servers!server=${owner}/"]`;
        const code = (id: number, owner: number, name: string) => ({
          id, created_at: '2026-12-03 18:00:00', scopes: scoped(name), expires_at: '2099-01-01 00:00:00',
          hashed: `sha512:1:${'0'.repeat(15)}${id % 10}:${'f'.repeat(128)}`, prefix: `c${id}`, exchange_count: 0, last_exchanged_at: null, owner_id: owner, spawner_id: owner,
        });
        await fx.exec(insertRows(engine, 'shares', [{ id: 20, created_at: '2026-12-03 18:00:00', scopes: scoped('jo-ann'), expires_at: null, user_id: 3, group_id: null, owner_id: 20, spawner_id: 20 }]));
        await fx.exec(insertRows(engine, 'share_codes', [code(20, 20, 'jo-ann'), code(21, 21, 'jo.ann')]));
        assert.deepEqual((await grantsOf(fx.url)).bob, ['alice/', 'jo-ann/']);

        const second = (await doctor([...base, '--json'])).json();
        assert.deepEqual(checksOf(second), ['lookalike-names']);
        assert.equal(second.plan.lookalikes[0].action, 'rename');
        assert.match(second.plan.lookalikes[0].explanation, /along with any shares and share codes of its servers.*rewritten to "!server=jo\.ann\/…"/);
        await repair(fx, base, backups);
        assert.equal((await usersById(fx))[20], 'jo.ann');
        assert.equal((await usersById(fx))[21], undefined);
        assert.deepEqual((await rows(fx, 'SELECT scopes FROM shares WHERE id = 20')).map((r) => r.scopes), [scoped('jo.ann')]);
        assert.deepEqual((await rows(fx, 'SELECT id, scopes FROM share_codes WHERE id >= 20')).map((r) => [Number(r.id), r.scopes]), [[20, scoped('jo.ann')]]);
        assert.deepEqual((await grantsOf(fx.url)).bob, ['alice/', 'jo.ann/'], 'bob still opens her server, under her real name');
        assert.equal((await doctor([...base, '--json'])).code, 0);
      } finally {
        await fx.drop();
      }
    });

    if (engine === 'sqlite') {
      test('the foreign keys doctor follows on 5.x are exactly the ones JupyterHub 5.5.1 made', async () => {
        const fx = await sharingDb('sqlite', scratch.dir);
        try {
          assert.deepEqual(foreignKeys(fx.file!, 'users'), USER_REFERENCES.map(([t, c]) => `${t}.${c}`).sort());
          assert.deepEqual(foreignKeys(fx.file!, 'spawners'), SPAWNER_REFERENCES.map(([t, c]) => `${t}.${c}`).sort());
        } finally {
          await fx.drop();
        }
      });

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
