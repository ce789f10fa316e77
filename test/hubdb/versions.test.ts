// No finding, of any severity, on a healthy database of each JupyterHub release line hub-guard supports, on every
// engine: 3.0 as its real ORM and JupyterHub.initialize() make it; 4.x as `upgrade-db` leaves that; 5.x as a real
// 5.5.1 hub wrote it (the fixture, its rows on the server engines); the 6.0 betas as `upgrade-db` leaves that.
// Each is read by the real reader and checked with no baseline, and again with the baseline its first read teaches.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { checkSnapshot, DEFAULT_CHECK_OPTIONS, KNOWN_ALEMBIC_HEADS, nextBaseline } from '../../src/hubdb/checks.js';
import { HUB_TABLES } from '../../src/hubdb/read.js';
import { createHubDatabases, ENGINES, hubDbs, initializeHub, scratchDir, type HubConfig } from './fixtures.js';
import { HEADS, headOf, upgradeTo4x, upgradeTo6b, type ReleaseLine } from './release-schemas.js';
import { sharingDb } from './sharing-copies.js';

const scratch = scratchDir();
const { open, closeAll } = hubDbs(10_000);

after(async () => {
  await closeAll();
  scratch.remove();
});

// An admin, users in a group, a role with access:servers, and a name with punctuation that has no lookalike.
const HUB_3: HubConfig = {
  admin_users: ['ann'],
  allowed_users: ['bob', 'cy', 'john.doe'],
  load_groups: { lab: ['bob', 'cy'] },
  load_roles: [{ name: 'peek', scopes: ['access:servers!group=lab'], users: ['ann'] }],
};
const USERS_3 = ['ann', 'bob', 'cy', 'john.doe'];
const USERS_5 = ['root-admin', 'alice', 'bob', 'carol', 'erin', 'dave', 'frank'];
const WITHOUT_SHARING = HUB_TABLES.filter((t) => t !== 'shares' && t !== 'share_codes');

const LINES: ReadonlyArray<{ line: ReleaseLine; users: string[]; tables: readonly string[] }> = [
  { line: '3.x', users: USERS_3, tables: WITHOUT_SHARING },
  { line: '4.x', users: USERS_3, tables: WITHOUT_SHARING },
  { line: '5.x', users: USERS_5, tables: HUB_TABLES },
  { line: '6.0b', users: USERS_5, tables: HUB_TABLES },
];

test('every release line here is one hub-guard knows', () => {
  for (const [line, head] of HEADS) assert.ok(KNOWN_ALEMBIC_HEADS.includes(head), `${line} ${head}`);
});

for (const engine of ENGINES) {
  describe(`healthy databases of every release line on ${engine}`, () => {
    const urls = new Map<ReleaseLine, string>();
    const drops: Array<() => Promise<void>> = [];

    before(async () => {
      const [v3, v4] = await createHubDatabases(engine, 2, scratch.dir);
      drops.push(() => v3!.drop(), () => v4!.drop());
      await Promise.all([initializeHub(v3!, HUB_3), initializeHub(v4!, HUB_3)]);
      await upgradeTo4x(v4!);
      const [v5, v6] = await Promise.all([sharingDb(engine, scratch.dir), sharingDb(engine, scratch.dir)]);
      drops.push(() => v5.drop(), () => v6.drop());
      await upgradeTo6b(v6);
      urls.set('3.x', v3!.url).set('4.x', v4!.url).set('5.x', v5.url).set('6.0b', v6.url);
    });

    after(async () => {
      await closeAll();
      await Promise.all(drops.map((drop) => drop()));
    });

    for (const { line, users, tables } of LINES) {
      test(`JupyterHub ${line}: no finding without a baseline, nor with the one its first read teaches`, async () => {
        const db = open(urls.get(line)!);
        const first = await db.read();
        // What was read is the database described, so an empty answer cannot pass for a healthy one.
        assert.equal(first.alembicVersion, headOf(line));
        assert.deepEqual(first.tables, [...tables]);
        assert.deepEqual(first.users.map((u) => u.name).sort(), [...users].sort());
        assert.deepEqual(first.cookieIdConstraint, { notNull: true, unique: true });
        if (line === '5.x' || line === '6.0b') assert.deepEqual(first.access.get('bob')?.servers, ['alice/']);
        else assert.deepEqual(first.groups.get('bob'), ['lab']);

        assert.deepEqual(checkSnapshot(first, null, DEFAULT_CHECK_OPTIONS), []);
        const baseline = nextBaseline(first, null);
        assert.equal(baseline.highWater, users.length);
        const again = await db.read();
        assert.deepEqual(checkSnapshot(again, baseline, DEFAULT_CHECK_OPTIONS), []);
        assert.equal(await db.readIfChanged(), null, 'an unchanged database of this schema reads as unchanged');
      });
    }
  });
}
