// Every database scenario on every engine: a real JupyterHub makes the schema (and, for the healthy case, the users,
// roles and groups); the scenario is then made with plain SQL, as operators and accidents make it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { checkSnapshot, DEFAULT_CHECK_OPTIONS, nextBaseline, type Baseline, type Finding } from '../../src/hubdb/checks.js';
import { openHubDb } from '../../src/hubdb/open.js';
import { HUB_TABLES } from '../../src/hubdb/read.js';
import type { HubSnapshot } from '../../src/hubdb/snapshot.js';
import {
  createHubDatabases, ENGINES, initializeHub, insertUsers, newCookieId, scratchDir, type HubFixture,
} from './fixtures.js';

const SCENARIOS = ['healthy', 'cookies', 'oneEmpty', 'drop', 'ids', 'lookalike', 'tables', 'wipe', 'alembic', 'grants', 'bare'] as const;
type Scenario = (typeof SCENARIOS)[number];

// The tables JupyterHub 3.0 creates: all of HUB_TABLES except the 5.x sharing tables.
const HUB3_TABLES = HUB_TABLES.filter((t) => t !== 'shares' && t !== 'share_codes');

async function read(fx: HubFixture): Promise<HubSnapshot> {
  const db = openHubDb(fx.url, { timeoutMs: 10_000 });
  try {
    return await db.read();
  } finally {
    await db.close();
  }
}

function byCheck(findings: Finding[]): Map<string, Finding> {
  return new Map(findings.map((f) => [f.check, f]));
}

const checksOf = (s: HubSnapshot, baseline: Baseline | null = null, opts = DEFAULT_CHECK_OPTIONS) =>
  checkSnapshot(s, baseline, opts).map((f) => f.check).sort();

for (const engine of ENGINES) {
  describe(`hub database scenarios on ${engine}`, () => {
    const scratch = scratchDir();
    const db = {} as Record<Scenario, HubFixture>;

    before(async () => {
      const fixtures = await createHubDatabases(engine, SCENARIOS.length, scratch.dir);
      SCENARIOS.forEach((name, i) => { db[name] = fixtures[i]; });
    });

    after(async () => {
      await Promise.all(Object.values(db).map((fx) => fx.drop()));
      scratch.remove();
    });

    test('a database a real hub initialised is healthy, and its roles and groups give the right access', async () => {
      await initializeHub(db.healthy, {
        admin_users: ['ann'],
        allowed_users: ['bob', 'carl', 'dora', 'eve'],
        load_groups: { team: ['carl', 'dora'] },
        load_roles: [
          { name: 'helper', scopes: ['access:servers!user=bob', 'access:servers!server=carl/gpu', 'read:users'], users: ['dora'] },
          { name: 'teamlead', scopes: ['access:servers!group=team'], users: ['eve'] },
          { name: 'teamaccess', scopes: ['access:servers!user=eve'], groups: ['team'] },
        ],
      });
      // An admin flag set by hand, without the admin role the hub would add at its next start, counts as admin too.
      await db.healthy.exec(insertUsers([{ id: 100, name: 'fay', admin: true }]));

      const s = await read(db.healthy);
      assert.deepEqual(s.tables, HUB3_TABLES);
      assert.equal(s.alembicVersion, '651f5419b74d');
      assert.deepEqual(s.cookieIdConstraint, { notNull: true, unique: true });
      assert.deepEqual(s.users.map((u) => u.name).sort(), ['ann', 'bob', 'carl', 'dora', 'eve', 'fay']);
      assert.deepEqual(s.users.map((u) => u.id), [...s.users.map((u) => u.id)].sort((a, b) => a - b), 'users come ordered by id');
      for (const u of s.users) {
        assert.match(u.cookieId ?? '', /^[0-9a-f]{32}$/);
        assert.match(u.created ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
        assert.equal(u.admin, u.name === 'ann' || u.name === 'fay');
      }
      assert.equal(s.users.find((u) => u.name === 'fay')?.created, '2024-05-06T07:08:09Z');
      assert.deepEqual(Object.fromEntries(s.access), {
        ann: { all: true, users: [], groups: [], servers: [] },
        fay: { all: true, users: [], groups: [], servers: [] },
        dora: { all: false, users: ['bob', 'eve'], groups: [], servers: ['carl/gpu'] },
        eve: { all: false, users: [], groups: ['team'], servers: [] },
        carl: { all: false, users: ['eve'], groups: [], servers: [] },
      });
      assert.deepEqual(Object.fromEntries(s.groups), { carl: ['team'], dora: ['team'] });
      assert.equal(s.apiTokens, 0);
      assert.equal(s.integrity, engine === 'sqlite' ? 'ok' : undefined);
      assert.ok(s.takenAt > 0);
      assert.deepEqual(checksOf(s), []);
      assert.deepEqual(checksOf(s, nextBaseline(s, null)), []);

      // Without the flag, ann is still an admin through the admin role the hub stored: unfiltered access:servers.
      await db.healthy.exec(`UPDATE users SET admin = FALSE WHERE name = 'ann'`);
      const again = await read(db.healthy);
      assert.deepEqual(again.access.get('ann'), { all: true, users: [], groups: [], servers: [] });
    });

    test('empty, NULL, malformed and shared cookie_ids in a users table rebuilt without constraints', async () => {
      const fx = db.cookies;
      await fx.dropCookieIdConstraints();
      const shared = newCookieId();
      await fx.exec(insertUsers([
        { id: 1, name: 'alice', cookieId: '' },
        { id: 2, name: 'bob', cookieId: '' },
        { id: 3, name: 'carol', cookieId: null },
        { id: 4, name: 'dave', cookieId: 'restored-by-hand' },
        { id: 5, name: 'erin', cookieId: shared },
        { id: 6, name: 'frank', cookieId: shared },
        { id: 7, name: 'gina' },
        // Uppercase: never generated by the hub, and equal to erin's under MySQL's case-insensitive collation.
        { id: 8, name: 'hank', cookieId: shared.toUpperCase() },
      ]));
      const s = await read(fx);
      assert.deepEqual(s.cookieIdConstraint, { notNull: false, unique: false });
      assert.equal(s.users.find((u) => u.name === 'carol')?.cookieId, null);
      assert.equal(s.users.find((u) => u.name === 'alice')?.cookieId, '');

      const f = byCheck(checkSnapshot(s, null, DEFAULT_CHECK_OPTIONS));
      assert.deepEqual([...f.keys()].sort(), [
        'cookie-id-constraint', 'cookie-id-duplicate', 'cookie-id-empty', 'cookie-id-malformed', 'cookie-id-null',
      ]);
      assert.deepEqual(f.get('cookie-id-empty')?.detail, { users: ['alice', 'bob'] });
      assert.deepEqual(f.get('cookie-id-null')?.detail, { users: ['carol'] });
      assert.deepEqual(f.get('cookie-id-malformed')?.detail, { users: ['dave', 'hank'] });
      assert.deepEqual(f.get('cookie-id-duplicate')?.detail, { groups: [['erin', 'frank', 'hank']] });
      assert.equal(f.get('cookie-id-constraint')?.severity, 'warning');
      for (const finding of f.values()) {
        assert.ok(!finding.message.includes(shared) && !finding.message.toLowerCase().includes(shared), 'no cookie_id in messages');
        assert.ok(!JSON.stringify(finding.detail ?? {}).toLowerCase().includes(shared), 'no cookie_id in details');
      }
    });

    test('one empty cookie_id passes the hub\'s own constraints and is still reported', async () => {
      await db.oneEmpty.exec(insertUsers([{ id: 1, name: 'alice', cookieId: '' }, { id: 2, name: 'bob' }]));
      const s = await read(db.oneEmpty);
      assert.deepEqual(s.cookieIdConstraint, { notNull: true, unique: true });
      assert.deepEqual(checksOf(s), ['cookie-id-empty']);
    });

    test('a user count collapsing below the high-water mark is critical, a small drop is not', async () => {
      const fx = db.drop;
      await fx.exec(insertUsers(Array.from({ length: 10 }, (_, i) => ({ id: i + 1, name: `user${i + 1}` }))));
      const baseline = nextBaseline(await read(fx), null);
      assert.equal(baseline.highWater, 10);

      await fx.exec('DELETE FROM users WHERE id IN (9, 10)');
      assert.deepEqual(checksOf(await read(fx), baseline), [], '8 of 10 is within the default 20%');

      await fx.exec('DELETE FROM users WHERE id = 8');
      const s = await read(fx);
      const f = byCheck(checkSnapshot(s, baseline, DEFAULT_CHECK_OPTIONS));
      assert.deepEqual([...f.keys()], ['user-drop']);
      assert.equal(f.get('user-drop')?.severity, 'critical');
      assert.deepEqual(f.get('user-drop')?.detail, { users: 7, highWater: 10, maxUserDrop: 0.2 });
    });

    test('known users that come back with new ids are critical beyond maxIdChanges', async () => {
      const fx = db.ids;
      await fx.exec(insertUsers([{ id: 1, name: 'alice' }, { id: 2, name: 'bob' }, { id: 3, name: 'carol' }]));
      const baseline = nextBaseline(await read(fx), null);
      // As after a wipe: the users log in again and get new rows.
      await fx.exec('DELETE FROM users WHERE id IN (1, 2)');
      await fx.exec(insertUsers([{ id: 11, name: 'bob' }, { id: 12, name: 'alice' }]));
      const s = await read(fx);
      const f = byCheck(checkSnapshot(s, baseline, DEFAULT_CHECK_OPTIONS));
      assert.deepEqual([...f.keys()], ['id-changed']);
      assert.equal(f.get('id-changed')?.severity, 'critical');
      assert.deepEqual(f.get('id-changed')?.detail?.changes, [
        { name: 'bob', was: 2, now: 11 },
        { name: 'alice', was: 1, now: 12 },
      ]);
      const tolerant = checkSnapshot(s, baseline, { ...DEFAULT_CHECK_OPTIONS, maxIdChanges: 2 });
      assert.deepEqual(tolerant.map((x) => [x.check, x.severity]), [['id-changed', 'warning']]);
    });

    test('names that collide under the lossy 2017 slug are a warning', async () => {
      await db.lookalike.exec(insertUsers([
        { id: 1, name: 'john.doe' }, { id: 2, name: 'jane' }, { id: 3, name: 'john-doe' }, { id: 4, name: 'John_Doe' },
      ]));
      const f = byCheck(checkSnapshot(await read(db.lookalike), null, DEFAULT_CHECK_OPTIONS));
      assert.deepEqual([...f.keys()], ['lookalike-names']);
      assert.equal(f.get('lookalike-names')?.severity, 'warning');
      assert.deepEqual(f.get('lookalike-names')?.detail, { groups: [['john.doe', 'john-doe', 'John_Doe']] });
    });

    test('dropped tables show up as missing, and reading them does not fail', async () => {
      await db.tables.dropTables(['spawners', 'api_tokens']);
      const s = await read(db.tables);
      assert.deepEqual(s.tables, HUB3_TABLES.filter((t) => t !== 'spawners' && t !== 'api_tokens'));
      assert.equal(s.apiTokens, 0);
      const f = byCheck(checkSnapshot(s, null, DEFAULT_CHECK_OPTIONS));
      assert.deepEqual([...f.keys()], ['tables-missing']);
      assert.deepEqual(f.get('tables-missing')?.detail, { missing: ['api_tokens', 'spawners'] });
    });

    test('a wiped database (every table gone) is reported from every angle', async () => {
      const fx = db.wipe;
      await fx.exec(insertUsers([{ id: 1, name: 'alice' }, { id: 2, name: 'bob' }]));
      const baseline = nextBaseline(await read(fx), null);
      await fx.dropTables([...HUB3_TABLES]);
      const s = await read(fx);
      assert.deepEqual(s.tables, []);
      assert.equal(s.alembicVersion, null);
      assert.deepEqual(s.users, []);
      assert.equal(s.cookieIdConstraint, null);
      assert.deepEqual(Object.fromEntries(s.access), {});
      assert.deepEqual(checksOf(s, baseline), ['alembic-missing', 'tables-missing', 'user-drop']);
    });

    test('alembic_version empty, unknown and dropped', async () => {
      const fx = db.alembic;
      await fx.exec('DELETE FROM alembic_version');
      let s = await read(fx);
      assert.equal(s.alembicVersion, null);
      assert.deepEqual(checksOf(s), ['alembic-missing']);

      await fx.exec(`INSERT INTO alembic_version (version_num) VALUES ('0123456789ab')`);
      s = await read(fx);
      assert.equal(s.alembicVersion, '0123456789ab');
      const f = checkSnapshot(s, null, DEFAULT_CHECK_OPTIONS);
      assert.deepEqual(f.map((x) => [x.check, x.severity]), [['alembic-unknown', 'warning']]);

      await fx.dropTables(['alembic_version']);
      s = await read(fx);
      assert.ok(!s.tables.includes('alembic_version'));
      assert.deepEqual(checksOf(s), ['alembic-missing']);
    });

    test('grants and tokens written with SQL: group filters, server filters, bad scope JSON, token count', async () => {
      const fx = db.grants;
      await fx.exec(insertUsers([{ id: 1, name: 'uma' }, { id: 2, name: 'vic' }, { id: 3, name: 'wes' }]));
      await fx.exec(`INSERT INTO ${fx.engine === 'mysql' ? '`groups`' : '"groups"'} (id, name) VALUES (1, 'lab')`);
      await fx.exec(`INSERT INTO roles (id, name, scopes) VALUES
        (1, 'labwatch', '["access:servers!group=lab", "access:servers!server=wes/", "admin:servers"]'),
        (2, 'broken', 'not json'),
        (3, 'own', '["self", "access:servers!user"]')`);
      await fx.exec('INSERT INTO user_role_map (user_id, role_id) VALUES (1, 1), (2, 2), (2, 3), (3, 3)');
      await fx.exec('INSERT INTO user_group_map (user_id, group_id) VALUES (3, 1)');
      await fx.exec(`INSERT INTO api_tokens (id, user_id, hashed, prefix) VALUES (1, 1, 'sha512:1:aa:bb', 'abcd'), (2, 2, 'sha512:1:cc:dd', 'efgh')`);
      const s = await read(fx);
      assert.deepEqual(Object.fromEntries(s.access), { uma: { all: false, users: [], groups: ['lab'], servers: ['wes/'] } });
      assert.deepEqual(Object.fromEntries(s.groups), { wes: ['lab'] });
      assert.equal(s.apiTokens, 2);
      assert.deepEqual(checksOf(s), []);
    });

    test('a hand-made users table with only id and name: every cookie_id is missing', async () => {
      const fx = db.bare;
      await fx.dropTables(['users']);
      await fx.exec('CREATE TABLE users (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255))');
      await fx.exec(`INSERT INTO users (id, name) VALUES (1, 'alice'), (2, 'bob')`);
      const s = await read(fx);
      assert.deepEqual(s.users, [
        { id: 1, name: 'alice', admin: false, cookieId: null, created: null },
        { id: 2, name: 'bob', admin: false, cookieId: null, created: null },
      ]);
      assert.deepEqual(s.cookieIdConstraint, { notNull: false, unique: false });
      assert.deepEqual(checksOf(s), ['cookie-id-constraint', 'cookie-id-null']);
    });
  });
}
