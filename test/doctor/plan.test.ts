// The repair plan's decisions on synthetic snapshots: what it does, what it leaves to a person and why. The SQL
// itself is run against real databases in doctor.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { DEFAULT_CHECK_OPTIONS, REQUIRED_TABLES, type Baseline } from '../../src/hubdb/checks.js';
import type { HubSnapshot, HubUser } from '../../src/hubdb/snapshot.js';
import type { HubDbEngine } from '../../src/hubdb/url.js';
import { buildPlan, planSql, planStatements, type PlanInput } from '../../src/doctor/plan.js';
import { hubJsonText, literal } from '../../src/doctor/sql.js';
import { parsePvcList } from '../../src/doctor/volumes.js';
import { pvc, pvcList } from './pvcs.js';

type UserSpec = Pick<HubUser, 'id' | 'name'> & Partial<HubUser>;

function snapshot(users: UserSpec[], extra: Partial<HubSnapshot> = {}): HubSnapshot {
  return {
    takenAt: 0,
    tables: ['alembic_version', ...REQUIRED_TABLES].sort(),
    alembicVersion: '651f5419b74d',
    users: users.map((u) => ({ admin: false, cookieId: randomBytes(16).toString('hex'), created: null, ...u })),
    cookieIdConstraint: { notNull: true, unique: true },
    access: new Map(),
    groups: new Map(),
    apiTokens: 0,
    ...extra,
  };
}

const baseline = (users: Record<string, number>): Baseline => ({ highWater: Object.keys(users).length, users, updatedAt: 0 });

function plan(s: HubSnapshot, more: Partial<PlanInput> = {}, engine: HubDbEngine = 'sqlite') {
  return buildPlan({ engine, snapshot: s, baseline: null, pvcs: null, checks: DEFAULT_CHECK_OPTIONS, ...more });
}

describe('repair plan', () => {
  test('a healthy database needs nothing', () => {
    const p = plan(snapshot([{ id: 1, name: 'ann' }, { id: 2, name: 'bob' }]));
    assert.deepEqual([p.steps, p.notes, p.expected], [[], [], []]);
    assert.equal(planSql(p, 'x'), '');
  });

  test('no users table: no plan, and a note saying what to do instead', () => {
    const p = plan(snapshot([], { tables: [] }));
    assert.deepEqual(p.steps, []);
    assert.match(p.notes[0], /restore the latest verified backup/);
  });

  test('lookalikes: which pairs are renamed, kept or left to a person', () => {
    const s = snapshot([
      { id: 1, name: 'ann-lee' }, { id: 9, name: 'ann.lee' }, // the rebuild pattern: renamed
      { id: 2, name: 'bo.k' }, { id: 8, name: 'bo-k' }, // the full name is already the older
      { id: 3, name: 'cy-d' }, { id: 7, name: 'cy.d', admin: true }, // the newer one has a life of its own
      { id: 4, name: 'di-e' }, { id: 5, name: 'di.e' }, { id: 6, name: 'di_e' }, // three of a kind
      { id: 10, name: 'ed-f' }, { id: 11, name: 'ed.f' }, // both known while healthy
    ], { groups: new Map() });
    const p = plan(s, { baseline: baseline({ 'ed-f': 10, 'ed.f': 11 }) });
    const decisions = Object.fromEntries(p.lookalikes.map((l) => [l.names.join(' '), l.action]));
    assert.deepEqual(decisions, {
      'ann-lee ann.lee': 'rename', 'bo.k bo-k': 'keep', 'cy-d cy.d': 'manual', 'di-e di.e di_e': 'manual', 'ed-f ed.f': 'keep',
    });
    assert.match(p.lookalikes.find((l) => l.names[0] === 'cy-d')!.explanation, /is an admin.*Merge them by hand/);
    const { transaction } = planStatements(p);
    assert.ok(transaction.some((x) => x.sql === "DELETE FROM users WHERE id = 9 AND name = 'ann.lee'"));
    assert.ok(transaction.some((x) => x.sql === "UPDATE users SET name = 'ann.lee' WHERE id = 1 AND name = 'ann-lee'"));
    assert.equal(p.notes.length, 2, 'the two manual pairs are left for a person');
  });

  test('a baseline that knew the newer row with its id keeps the plan away from it', () => {
    const p = plan(snapshot([{ id: 1, name: 'jo-e' }, { id: 9, name: 'jo.e' }]), { baseline: baseline({ 'jo.e': 9 }) });
    assert.equal(p.lookalikes[0].action, 'manual');
    assert.deepEqual(p.steps, []);
  });

  test('id restores: swaps pass through spare ids; a target held by a stranger blocks the move, and what depends on it', () => {
    const s = snapshot([{ id: 1, name: 'ann' }, { id: 2, name: 'bob' }, { id: 3, name: 'cy' }, { id: 4, name: 'newbie' }, { id: 5, name: 'dee' }]);
    const p = plan(s, { baseline: baseline({ ann: 2, bob: 1, cy: 4, dee: 3 }) });
    const restores = Object.fromEntries(p.idRestores.map((r) => [r.name, r.blocked === null]));
    // cy cannot have 4 (newbie was not known before), so dee cannot have cy's 3 either.
    assert.deepEqual(restores, { ann: true, bob: true, cy: false, dee: false });
    assert.match(p.idRestores.find((r) => r.name === 'cy')!.blocked!, /id 4 now belongs to "newbie", which was not known before/);
    assert.match(p.idRestores.find((r) => r.name === 'dee')!.blocked!, /id 3 now belongs to "cy", which stays where it is/);
    const sql = planStatements(p).transaction.map((x) => x.sql);
    assert.deepEqual(sql.filter((x) => x.startsWith('UPDATE users SET id')), [
      "UPDATE users SET id = 6 WHERE id = 1 AND name = 'ann'",
      "UPDATE users SET id = 7 WHERE id = 2 AND name = 'bob'",
      "UPDATE users SET id = 2 WHERE id = 6 AND name = 'ann'",
      "UPDATE users SET id = 1 WHERE id = 7 AND name = 'bob'",
    ]);
    assert.ok(sql.includes('UPDATE user_group_map SET user_id = 6 WHERE user_id = 1'));
    assert.equal(p.notes.filter((n) => /should have id/.test(n)).length, 2);
    assert.deepEqual(p.expected.map((f) => f.check), ['id-changed'], 'the blocked two are still reported');
  });

  test('two names wanting one id are both left alone', () => {
    const p = plan(snapshot([{ id: 1, name: 'ann' }, { id: 2, name: 'bob' }]), { baseline: baseline({ ann: 9, bob: 9 }) });
    assert.ok(p.idRestores.every((r) => r.blocked && /"ann" and "bob" all had id 9/.test(r.blocked)));
    assert.deepEqual(p.steps, []);
  });

  test('an unknown schema version: no renames, no id moves, only what is safe anywhere', () => {
    const s = snapshot([{ id: 1, name: 'ann-lee', cookieId: '' }, { id: 9, name: 'ann.lee' }], { alembicVersion: 'ffffffffffff' });
    const p = plan(s, { baseline: baseline({ 'ann-lee': 5 }) });
    assert.deepEqual(p.steps.map((x) => x.title), ['Fresh login ids (cookie_id) for 1 user']);
    assert.equal(p.lookalikes[0].action, 'manual');
    assert.match(p.idRestores[0].blocked!, /schema version is not one doctor knows/);
  });

  test('constraints per engine: PostgreSQL inside the transaction, MySQL after it, SQLite by rebuilding the table', () => {
    const s = snapshot([{ id: 1, name: 'ann', cookieId: null }], { cookieIdConstraint: { notNull: false, unique: false } });
    const pgPlan = plan(s, {}, 'postgres');
    assert.deepEqual(planStatements(pgPlan).transaction.slice(-2).map((x) => x.sql), [
      'ALTER TABLE users ALTER COLUMN cookie_id SET NOT NULL', 'ALTER TABLE users ADD CONSTRAINT uq_users_cookie_id UNIQUE (cookie_id)',
    ]);
    const myPlan = plan(s, {}, 'mysql');
    assert.deepEqual(planStatements(myPlan).after.map((x) => x.sql), ['ALTER TABLE users MODIFY cookie_id VARCHAR(255) NOT NULL, ADD CONSTRAINT uq_users_cookie_id UNIQUE (cookie_id)']);
    assert.match(planSql(myPlan, 'x'), /COMMIT;\n\n-- After the transaction: MySQL commits schema changes on its own\.\n\n-- 2\. Restore/);
    for (const p of [pgPlan, myPlan]) assert.deepEqual(p.expected, []);

    const noDdl = plan(s);
    assert.deepEqual(planStatements(noDdl).transaction.map((x) => x.sql).slice(-1), ['CREATE UNIQUE INDEX uq_users_cookie_id ON users (cookie_id)']);
    assert.match(noDdl.notes[0], /could not be read safely/);
    assert.deepEqual(noDdl.expected.map((f) => f.check), ['cookie-id-constraint'], 'NOT NULL stays missing, and the plan says so');
    const withDdl = plan(s, { sqliteUsers: { createSql: 'CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, cookie_id TEXT)', dependentSql: ['CREATE INDEX ix_name ON users (name)'] } });
    assert.deepEqual(planStatements(withDdl).transaction.slice(-6).map((x) => x.sql), [
      'CREATE TABLE hub_guard_users_new (id INTEGER PRIMARY KEY, name TEXT, cookie_id TEXT NOT NULL)',
      'INSERT INTO hub_guard_users_new SELECT * FROM users', 'DROP TABLE users', 'ALTER TABLE hub_guard_users_new RENAME TO users',
      'CREATE INDEX ix_name ON users (name)', 'CREATE UNIQUE INDEX uq_users_cookie_id ON users (cookie_id)',
    ]);
    assert.deepEqual(withDdl.expected, []);
    assert.match(planSql(withDdl, 'x'), /^PRAGMA foreign_keys = OFF;\nBEGIN;$/m);
  });

  test('volumes: an uncertain id is never given to a user, a free old id is, and undecided claims stay comments', () => {
    const s = snapshot([{ id: 3, name: 'x.y' }, { id: 257, name: 'u' }]);
    const pvcs = parsePvcList(pvcList([
      pvc('claim-x-y-77', '2016-01-01T00:00:00Z'), pvc('claim-u-51', '2016-01-01T00:00:00Z'), pvc('claim-u-257', '2017-02-09T00:00:00Z'),
      pvc('claim-mo-ra-12', '2016-01-01T00:00:00Z'), pvc('claim-zed', '2019-01-01T00:00:00Z'),
    ]));
    const p = plan(s, { pvcs });
    assert.deepEqual(p.idRestores.map((r) => [r.name, r.from, r.to, r.source]), [['u', 257, 51, 'volume']]);
    const sql = planSql(p, 'x');
    assert.match(sql, /^INSERT INTO users \(id, name, admin, created, cookie_id\) VALUES \(258, 'zed', FALSE, '2019-01-01 00:00:00', '[0-9a-f]{32}'\);$/m);
    assert.match(sql, /^-- claim-mo-ra-12: user 12 is one of "mo-ra", "mo\.ra", "mo_ra"/m);
    assert.doesNotMatch(sql, /SET id = 77/);
  });

  // 5.x: the sharing tables, and the head that says they are the hub's.
  const fiveX = (users: UserSpec[], extra: Partial<HubSnapshot> = {}) =>
    snapshot(users, { tables: ['alembic_version', 'share_codes', 'shares', ...REQUIRED_TABLES].sort(), alembicVersion: '4621fec11365', ...extra });

  test('an id restore moves the 5.x shares and share codes along, on every engine, and only where the tables exist', () => {
    const moving = baseline({ ann: 5, bob: 2 });
    for (const engine of ['sqlite', 'postgres', 'mysql'] as const) {
      const sql = planStatements(plan(fiveX([{ id: 1, name: 'ann' }, { id: 2, name: 'bob' }]), { baseline: moving }, engine)).transaction.map((x) => x.sql);
      for (const [t, c] of [['shares', 'owner_id'], ['shares', 'user_id'], ['share_codes', 'owner_id']]) {
        assert.ok(sql.includes(`UPDATE ${t} SET ${c} = 5 WHERE ${c} = 1`), `${engine}: ${t}.${c}`);
      }
      // Spawner ids do not move, so neither do the rows that point at them.
      assert.ok(!sql.some((x) => /spawner_id/.test(x)), engine);
      const sqlBefore = planStatements(plan(snapshot([{ id: 1, name: 'ann' }, { id: 2, name: 'bob' }]), { baseline: moving }, engine)).transaction.map((x) => x.sql);
      assert.ok(sqlBefore.some((x) => x.startsWith('UPDATE spawners SET user_id = 5')), engine);
      assert.ok(!sqlBefore.some((x) => /share/.test(x)), `${engine}: a 3.x database has no sharing tables to touch`);
    }
    const p = plan(fiveX([{ id: 1, name: 'ann' }]), { baseline: moving });
    assert.match(p.steps[0].why, /users\.id is referred to by shares\.owner_id, shares\.user_id, share_codes\.owner_id, spawners\.user_id/);
    assert.match(p.steps[0].why, /the shares of their servers and the shares to them/);
  });

  test('a rename rewrites the owner in the scopes of its shares and share codes; its twin goes with the shares of its servers', () => {
    const p = plan(fiveX([{ id: 1, name: 'ann-lee' }, { id: 9, name: 'ann.lee' }]));
    assert.equal(p.lookalikes[0].action, 'rename');
    const sql = planStatements(p).transaction.map((x) => x.sql);
    const spawners = 'SELECT id FROM spawners WHERE user_id = 9';
    assert.deepEqual(sql.filter((x) => /share/.test(x)), [
      `DELETE FROM shares WHERE spawner_id IN (${spawners})`, `DELETE FROM share_codes WHERE spawner_id IN (${spawners})`,
      'DELETE FROM shares WHERE owner_id = 9', 'DELETE FROM shares WHERE user_id = 9', 'DELETE FROM share_codes WHERE owner_id = 9',
      "UPDATE shares SET scopes = REPLACE(scopes, '!server=ann-lee/', '!server=ann.lee/') WHERE owner_id = 1",
      "UPDATE share_codes SET scopes = REPLACE(scopes, '!server=ann-lee/', '!server=ann.lee/') WHERE owner_id = 1",
    ]);
    assert.match(p.lookalikes[0].explanation, /along with any shares and share codes of its servers/);
    assert.ok(!planStatements(plan(snapshot([{ id: 1, name: 'ann-lee' }, { id: 9, name: 'ann.lee' }]))).transaction.some((x) => /share/.test(x.sql)), 'not on 3.x');

    // The hub writes scopes with json.dumps, which escapes all but printable ASCII; MySQL reads backslashes as escapes.
    const accented = (engine: HubDbEngine) => planStatements(plan(fiveX([{ id: 1, name: 'zo--k' }, { id: 9, name: 'zoë"k' }]), {}, engine)).transaction
      .find((x) => x.sql.startsWith('UPDATE shares SET scopes'))!.sql;
    assert.equal(accented('sqlite'), `UPDATE shares SET scopes = REPLACE(scopes, '!server=zo--k/', '!server=zo\\u00eb\\"k/') WHERE owner_id = 1`);
    assert.equal(accented('mysql'), `UPDATE shares SET scopes = REPLACE(scopes, '!server=zo--k/', '!server=zo\\\\u00eb\\\\"k/') WHERE owner_id = 1`);
    assert.equal(JSON.parse(`"${hubJsonText('zoë"k 🙂')}"`), 'zoë"k 🙂');
    assert.equal(hubJsonText('zoë"k 🙂'), 'zo\\u00eb\\"k \\ud83d\\ude42');
  });

  test('a twin whose servers others may open is not a throwaway copy', () => {
    const grant = (servers: string[], users: string[] = []) => ({ all: false, users, groups: [], servers });
    for (const access of [new Map([['bob', grant(['ann.lee/'])]]), new Map([['bob', grant([], ['ann.lee'])]])]) {
      const p = plan(fiveX([{ id: 1, name: 'ann-lee' }, { id: 9, name: 'ann.lee' }, { id: 2, name: 'bob' }], { access }));
      assert.equal(p.lookalikes[0].action, 'manual');
      assert.match(p.lookalikes[0].explanation, /"ann\.lee" \(id 9\) was opened to "bob" \(a share or a role naming it\).*Merge them by hand/);
      assert.deepEqual(p.steps, []);
    }
    // Another user's grant to the older row, or to a name that only starts alike, is no reason.
    const other = new Map([['bob', grant(['ann-lee/', 'ann.leex/'])]]);
    assert.equal(plan(fiveX([{ id: 1, name: 'ann-lee' }, { id: 9, name: 'ann.lee' }, { id: 2, name: 'bob' }], { access: other })).lookalikes[0].action, 'rename');
  });

  test('SQL string literals hold any name on every engine', () => {
    assert.equal(literal('postgres', "o'brien\\x"), "'o''brien\\x'");
    assert.equal(literal('sqlite', "o'brien\\x"), "'o''brien\\x'");
    assert.equal(literal('mysql', "o'brien\\x"), "'o''brien\\\\x'");
  });
});
