// Server sharing as JupyterHub 5.5.1 grants it, read from the database a real 5.5.1 hub wrote
// (shared/fixtures/jupyterhub-5.5.1-sharing.sqlite, see its README) and from the same rows on PostgreSQL and
// MySQL: who may open alice's servers, decided as a request is (users index, then decide()).
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { UsersIndex } from '../../src/identity/users-index.js';
import type { HubSnapshot } from '../../src/hubdb/snapshot.js';
import { decide } from '../../src/policy/decide.js';
import { createHubDatabases, hubDbs, scratchDir, type Engine } from './fixtures.js';
import { sharingDb, type SharingDb } from './sharing-copies.js';
import { HEAD_5X, insertRows, upgradeTo5x, type SqlValue } from './sharing-schema.js';

const scratch = scratchDir();
const { open, closeAll } = hubDbs(10_000);

after(async () => {
  await closeAll();
  scratch.remove();
});

/** A control beside the fixture's users: the docs' `user` role (`self`, `shares!user`, …) and nothing else. */
const MALLORY = "INSERT INTO users (id, name, admin, created, cookie_id) VALUES (8, 'mallory', FALSE, '2026-12-03 17:40:00', '8f3a9c0e5b7d4e1f8a6c2b9d0e4f7a1c'); " +
  'INSERT INTO user_role_map (user_id, role_id, managed_by_auth) VALUES (8, 4, FALSE);';

interface Measured { user: string; id: number; alice: boolean; aliceGpu: boolean; others: string[] }

/** For every user: may they open /user/alice/, /user/alice/gpu/, and which other users' default servers. */
function measure(s: HubSnapshot, now: number): Measured[] {
  const index = new UsersIndex(Buffer.alloc(32));
  index.update(s);
  const opens = (name: string, id: number, owner: string, server: string) => decide({
    route: { prefix: `/user/${owner}${server ? `/${server}` : ''}`, owner, serverName: server },
    identity: { kind: 'user', name, id, source: 'hub-cookie' },
    operator: false,
    grant: name !== owner ? index.grant(name) : undefined,
    ownerGroups: name !== owner ? index.groupsOf(owner) : undefined,
    now,
  }, { allowRunningServers: false, adminAccess: true }).action === 'allow';
  return s.users.map((u) => ({
    user: u.name,
    id: u.id,
    alice: opens(u.name, u.id, 'alice', ''),
    aliceGpu: opens(u.name, u.id, 'alice', 'gpu'),
    others: s.users.filter((o) => o.name !== 'alice' && o.name !== u.name && opens(u.name, u.id, o.name, '')).map((o) => o.name),
  }));
}

const EVERYONE_BUT = (...names: string[]) => ['root-admin', 'alice', 'bob', 'carol', 'erin', 'dave', 'frank', 'mallory'].filter((n) => !names.includes(n));

// The fixture README's table, plus named-server and other-owner columns. `!user=alice` (dave's role, and erin's
// through `shares`) covers every server of alice's, as the hub's has_scope does; a share names one server only.
const EXPECTED: Array<Measured & { why: string }> = [
  { user: 'root-admin', id: 1, alice: true, aliceGpu: true, others: EVERYONE_BUT('root-admin', 'alice'), why: 'admin role (access:servers)' },
  { user: 'alice', id: 2, alice: true, aliceGpu: true, others: [], why: 'owner' },
  { user: 'bob', id: 3, alice: true, aliceGpu: false, others: [], why: 'share to bob of alice/' },
  { user: 'carol', id: 4, alice: true, aliceGpu: false, others: [], why: 'accepted share code (a shares row)' },
  { user: 'erin', id: 5, alice: true, aliceGpu: true, others: [], why: 'role shares!user=alice' },
  { user: 'dave', id: 6, alice: true, aliceGpu: true, others: [], why: 'role access:servers!user=alice' },
  { user: 'frank', id: 7, alice: true, aliceGpu: false, others: [], why: 'share to group team of alice/' },
  { user: 'mallory', id: 8, alice: false, aliceGpu: false, others: [], why: 'control: only the default user role' },
];

function printTable(t: TestContext, engine: Engine, got: Measured[]): void {
  t.diagnostic(`${engine}: user (id) | /user/alice/ | /user/alice/gpu/ | other users' servers`);
  for (const r of got) {
    const why = EXPECTED.find((e) => e.user === r.user)?.why ?? '';
    t.diagnostic(`${engine}: ${r.user} (${r.id}) | ${r.alice ? 'yes' : 'no'} | ${r.aliceGpu ? 'yes' : 'no'} | ${r.others.length ? r.others.join(' ') : '-'} | ${why}`);
  }
}

const strip = ({ why: _why, ...m }: Measured & { why: string }): Measured => m;

for (const engine of ['sqlite', 'postgres', 'mysql'] as const) {
  describe(`the 5.5.1 sharing fixture on ${engine}`, () => {
    let db: SharingDb;

    before(async () => {
      db = await sharingDb(engine, scratch.dir);
      await db.exec(MALLORY);
    });
    after(() => db.drop());

    test('who may open /user/alice/: owner, admin, bob, carol, frank, dave and erin; nobody else', async (t) => {
      const s = await open(db.url).read();
      assert.equal(s.alembicVersion, HEAD_5X);
      assert.ok(s.tables.includes('shares'));
      const got = measure(s, Date.now());
      printTable(t, engine, got);
      assert.deepEqual(got, EXPECTED.map(strip));
      assert.deepEqual(got.filter((r) => r.alice).map((r) => r.user).sort(), EVERYONE_BUT('mallory').sort());
    });

    test("bob's share opens alice's default server and nothing else", async () => {
      const s = await open(db.url).read();
      assert.deepEqual(s.access.get('bob'), { all: false, users: [], groups: [], servers: ['alice/'] });
      const bob = measure(s, Date.now()).find((r) => r.user === 'bob')!;
      assert.deepEqual({ alice: bob.alice, aliceGpu: bob.aliceGpu, others: bob.others }, { alice: true, aliceGpu: false, others: [] });
    });

    test('an expired share grants nothing; one that expires grants until its expiry, judged at decision time', async () => {
      const at = Date.UTC(2030, 5, 1, 12, 0, 0);
      const mallory = (s: HubSnapshot, now: number) => measure(s, now).find((r) => r.user === 'mallory')!.alice;
      await db.exec(insertRows(engine, 'shares', [
        { id: 10, created_at: '2026-12-03 17:40:00', scopes: '["access:servers!server=alice/"]', expires_at: '2020-01-01 00:00:00', user_id: 8, group_id: null, owner_id: 2, spawner_id: 1 },
      ]));
      const expired = await open(db.url).read();
      assert.equal(mallory(expired, Date.now()), false, 'expired in 2020: the hub would still honour it until its purge');

      await db.exec(`UPDATE shares SET expires_at = '2030-06-01 12:00:00' WHERE id = 10`);
      const s = await open(db.url).read();
      assert.deepEqual(s.access.get('mallory'), { all: false, users: [], groups: [], servers: [], expiring: [{ server: 'alice/', expiresAt: at }] });
      assert.equal(mallory(s, at - 1000), true, 'a second before its expiry');
      assert.equal(mallory(s, at), false, 'at its expiry, from the same snapshot');
      assert.equal(measure(s, at - 1000).find((r) => r.user === 'mallory')!.aliceGpu, false);
      await db.exec('DELETE FROM shares WHERE id = 10');
    });

    test('rows the hub would not write grant nothing and do not fail the read', async () => {
      const row = (id: number, r: Partial<Record<string, SqlValue>>) => ({
        id, created_at: '2026-12-03 17:40:00', scopes: '["access:servers!server=alice/"]', expires_at: null,
        user_id: 8, group_id: null, owner_id: 2, spawner_id: 1, ...r,
      });
      await db.exec(insertRows(engine, 'shares', [
        row(20, { scopes: null }),
        row(21, { scopes: 'not json' }),
        row(22, { scopes: '[3, null, {"a": 1}]' }),
        row(23, { scopes: '["access:servers!server=bob/"]' }), // names a server the row does not share
        row(24, { scopes: '["access:servers", "access:servers!user=alice"]' }), // wider than the row's server
        row(25, { scopes: '["servers!server=alice/", "read:shares!server=alice/"]' }), // start/stop, not access
        row(26, { user_id: null }), // no recipient
        row(27, { group_id: 1 }), // two recipients
        row(28, { owner_id: null }),
        row(29, { owner_id: 3 }), // an owner other than the spawner's
        row(30, { spawner_id: null }),
      ]));
      try {
        const s = await open(db.url).read();
        assert.equal(s.access.get('mallory'), undefined);
        assert.deepEqual(measure(s, Date.now()), EXPECTED.map(strip));
      } finally {
        await db.exec('DELETE FROM shares WHERE id >= 20');
      }
    });
  });
}

describe('databases without sharing', () => {
  test('a 3.0 database (no shares table) and one a 4.x hub stamped over a leftover shares table grant no shares', async () => {
    const [fx] = await createHubDatabases('sqlite', 1, scratch.dir);
    await fx!.exec(`INSERT INTO users (id, name, admin, created, cookie_id) VALUES
      (1, 'alice', 0, '2024-05-06 07:08:09', '${'a'.repeat(32)}'), (2, 'bob', 0, '2024-05-06 07:08:09', '${'b'.repeat(32)}');
      INSERT INTO spawners (id, user_id, name) VALUES (1, 1, '')`);
    const db = open(fx!.url);
    assert.deepEqual((await db.read()).access, new Map());

    await upgradeTo5x(fx!);
    await fx!.exec(`INSERT INTO shares (id, created_at, scopes, user_id, owner_id, spawner_id)
      VALUES (1, '2026-12-03 17:40:00', '["access:servers!server=alice/"]', 2, 1, 1)`);
    assert.deepEqual(Object.fromEntries((await db.read()).access), { bob: { all: false, users: [], groups: [], servers: ['alice/'] } });

    await fx!.exec(`UPDATE alembic_version SET version_num = '0eee8c825d24'`);
    assert.deepEqual((await db.read()).access, new Map(), 'a 4.x hub ignores the table');
  });

  test('a shares table that lacks a column the hub creates is read as no shares', async () => {
    const [fx] = await createHubDatabases('sqlite', 1, scratch.dir);
    await fx!.exec(`UPDATE alembic_version SET version_num = '${HEAD_5X}';
      CREATE TABLE shares (id INTEGER PRIMARY KEY, user_id INTEGER, spawner_id INTEGER, scopes TEXT);
      INSERT INTO users (id, name, admin, created, cookie_id) VALUES (1, 'alice', 0, '2024-05-06 07:08:09', '${'a'.repeat(32)}');`);
    const s = await open(fx!.url).read();
    assert.ok(s.tables.includes('shares'));
    assert.deepEqual(s.access, new Map());
  });
});
