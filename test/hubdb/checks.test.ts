// checkSnapshot as a table: each check fires on its own case and stays quiet on the boundary next to it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CHECK_NAMES, checkSnapshot, DEFAULT_CHECK_OPTIONS, KNOWN_ALEMBIC_HEADS, lossySlug, nextBaseline, REQUIRED_TABLES,
  type Baseline, type CheckOptions, type Severity,
} from '../../src/hubdb/checks.js';
import type { HubSnapshot, HubUser } from '../../src/hubdb/snapshot.js';

const cookie = (i: number) => i.toString(16).padStart(32, 'c');

function user(id: number, name: string, cookieId: string | null = cookie(id)): HubUser {
  return { id, name, admin: false, cookieId, created: '2024-05-06T07:08:09Z' };
}

/** A healthy 3.0 snapshot with users user1…userN. */
function healthy(n = 10, changes: Partial<HubSnapshot> = {}): HubSnapshot {
  return {
    takenAt: 1_700_000_000_000,
    tables: ['alembic_version', ...REQUIRED_TABLES],
    alembicVersion: '651f5419b74d',
    users: Array.from({ length: n }, (_, i) => user(i + 1, `user${i + 1}`)),
    cookieIdConstraint: { notNull: true, unique: true },
    access: new Map(),
    groups: new Map(),
    apiTokens: 3,
    ...changes,
  };
}

const baseline10: Baseline = nextBaseline(healthy(10), null);
const withUsers = (users: HubUser[]) => healthy(0, { users });
/** A baseline with its null-prototype users record copied into a plain one, for deepEqual. */
const plain = (b: Baseline): Baseline => ({ ...b, users: { ...b.users } });

interface Case {
  name: string;
  snapshot: HubSnapshot;
  baseline?: Baseline | null;
  opts?: Partial<CheckOptions>;
  expect: Array<[string, Severity]>;
}

const cases: Case[] = [
  { name: 'healthy, no baseline', snapshot: healthy(), expect: [] },
  { name: 'healthy against its own baseline', snapshot: healthy(), baseline: baseline10, expect: [] },
  { name: 'a fresh hub with no users', snapshot: healthy(0), expect: [] },
  { name: 'a 5.x database with the sharing tables', snapshot: healthy(3, { tables: ['alembic_version', ...REQUIRED_TABLES, 'shares', 'share_codes'], alembicVersion: '4621fec11365' }), expect: [] },

  { name: 'one table missing', snapshot: healthy(10, { tables: ['alembic_version', ...REQUIRED_TABLES.filter((t) => t !== 'spawners')] }), expect: [['tables-missing', 'critical']] },
  { name: 'users table missing', snapshot: healthy(0, { tables: ['alembic_version', ...REQUIRED_TABLES.filter((t) => t !== 'users')], cookieIdConstraint: null }), expect: [['tables-missing', 'critical']] },
  {
    name: 'everything gone, against a baseline',
    snapshot: healthy(0, { tables: [], alembicVersion: null, cookieIdConstraint: null, apiTokens: 0 }),
    baseline: baseline10,
    expect: [['tables-missing', 'critical'], ['alembic-missing', 'critical'], ['user-drop', 'critical']],
  },

  { name: 'alembic missing', snapshot: healthy(10, { alembicVersion: null }), expect: [['alembic-missing', 'critical']] },
  { name: 'alembic at an unknown head', snapshot: healthy(10, { alembicVersion: '3ec6993fe20c' }), expect: [['alembic-unknown', 'warning']] },
  { name: 'alembic at two heads at once', snapshot: healthy(10, { alembicVersion: '651f5419b74d,833da8570507' }), expect: [['alembic-unknown', 'warning']] },
  { name: 'an operator-supplied head list', snapshot: healthy(10, { alembicVersion: '3ec6993fe20c' }), opts: { knownHeads: ['3ec6993fe20c'] }, expect: [] },
  ...KNOWN_ALEMBIC_HEADS.map((head): Case => ({ name: `known head ${head}`, snapshot: healthy(10, { alembicVersion: head }), expect: [] })),

  { name: '8 of 10 users left (20% gone) is fine', snapshot: healthy(8), baseline: baseline10, expect: [] },
  { name: '7 of 10 users left is a collapse', snapshot: healthy(7), baseline: baseline10, expect: [['user-drop', 'critical']] },
  { name: 'maxUserDrop 0.5: 5 of 10 left is fine', snapshot: healthy(5), baseline: baseline10, opts: { maxUserDrop: 0.5 }, expect: [] },
  { name: 'maxUserDrop 0.5: 4 of 10 left is a collapse', snapshot: healthy(4), baseline: baseline10, opts: { maxUserDrop: 0.5 }, expect: [['user-drop', 'critical']] },
  { name: 'more users than ever is fine', snapshot: healthy(12), baseline: baseline10, expect: [] },
  { name: 'no users against a high-water mark of 1', snapshot: healthy(0), baseline: nextBaseline(healthy(1), null), expect: [['user-drop', 'critical']] },
  { name: 'no users and no baseline: nothing to compare', snapshot: healthy(0), baseline: null, expect: [] },

  {
    name: 'one known user with a new id',
    snapshot: withUsers([...healthy(9).users, user(51, 'user10')]),
    baseline: baseline10,
    expect: [['id-changed', 'critical']],
  },
  {
    name: 'one new id within maxIdChanges 1 is a warning',
    snapshot: withUsers([...healthy(9).users, user(51, 'user10')]),
    baseline: baseline10,
    opts: { maxIdChanges: 1 },
    expect: [['id-changed', 'warning']],
  },
  {
    name: 'two new ids beyond maxIdChanges 1',
    snapshot: withUsers([...healthy(8).users, user(51, 'user9'), user(52, 'user10')]),
    baseline: baseline10,
    opts: { maxIdChanges: 1 },
    expect: [['id-changed', 'critical']],
  },
  { name: 'a new user is not an id change', snapshot: withUsers([...healthy(10).users, user(11, 'newcomer')]), baseline: baseline10, expect: [] },
  {
    name: 'a user deleted and re-created under a new id is still an id change',
    snapshot: withUsers([...healthy(10).users.filter((u) => u.name !== 'user3'), user(11, 'user3')]),
    // The deletion was seen by a healthy read first: the baseline still remembers user3's old id.
    baseline: nextBaseline(withUsers(healthy(10).users.filter((u) => u.name !== 'user3')), baseline10),
    expect: [['id-changed', 'critical']],
  },

  { name: 'NULL cookie_id', snapshot: withUsers([user(1, 'a', null), user(2, 'b')]), expect: [['cookie-id-null', 'critical']] },
  { name: 'one empty cookie_id', snapshot: withUsers([user(1, 'a', ''), user(2, 'b')]), expect: [['cookie-id-empty', 'critical']] },
  { name: 'two empty cookie_ids are "empty", not also "duplicate"', snapshot: withUsers([user(1, 'a', ''), user(2, 'b', '')]), expect: [['cookie-id-empty', 'critical']] },
  ...[
    ['uppercase hex', 'ABCDEF0123456789ABCDEF0123456789'],
    ['31 characters', 'abcdef0123456789abcdef012345678'],
    ['33 characters', 'abcdef0123456789abcdef01234567890'],
    ['a dashed uuid', '6f1c3b2a-9d8e-4f7a-8b0c-1d2e3f405162'],
    ['a non-hex letter', 'gbcdef0123456789abcdef0123456789'],
    ['a trailing space', 'abcdef0123456789abcdef0123456789 '],
    ['a user name', 'alice'],
  ].map(([what, value]): Case => ({
    name: `malformed cookie_id: ${what}`,
    snapshot: withUsers([user(1, 'a', value), user(2, 'b')]),
    expect: [['cookie-id-malformed', 'critical']],
  })),
  { name: 'duplicate cookie_id', snapshot: withUsers([user(1, 'a', cookie(7)), user(2, 'b', cookie(7)), user(3, 'c')]), expect: [['cookie-id-duplicate', 'critical']] },
  {
    name: 'duplicate only under a case-insensitive collation',
    snapshot: withUsers([user(1, 'a', 'abcdef0123456789abcdef0123456789'), user(2, 'b', 'ABCDEF0123456789ABCDEF0123456789')]),
    expect: [['cookie-id-malformed', 'critical'], ['cookie-id-duplicate', 'critical']],
  },

  { name: 'no NOT NULL on cookie_id', snapshot: healthy(3, { cookieIdConstraint: { notNull: false, unique: true } }), expect: [['cookie-id-constraint', 'warning']] },
  { name: 'no UNIQUE on cookie_id', snapshot: healthy(3, { cookieIdConstraint: { notNull: true, unique: false } }), expect: [['cookie-id-constraint', 'warning']] },
  { name: 'constraints unknown', snapshot: healthy(3, { cookieIdConstraint: null }), expect: [] },

  { name: 'john.doe and john-doe', snapshot: withUsers([user(1, 'john.doe'), user(2, 'john-doe')]), expect: [['lookalike-names', 'warning']] },
  { name: 'john_doe and john@doe', snapshot: withUsers([user(1, 'john_doe'), user(2, 'john@doe')]), expect: [['lookalike-names', 'warning']] },
  { name: 'John and john', snapshot: withUsers([user(1, 'John'), user(2, 'john')]), expect: [['lookalike-names', 'warning']] },
  { name: 'jöhn and j-hn', snapshot: withUsers([user(1, 'jöhn'), user(2, 'j-hn')]), expect: [['lookalike-names', 'warning']] },
  { name: 'johndoe and john-doe differ', snapshot: withUsers([user(1, 'johndoe'), user(2, 'john-doe')]), expect: [] },

  { name: 'integrity ok', snapshot: healthy(3, { integrity: 'ok' }), expect: [] },
  { name: 'integrity damaged', snapshot: healthy(3, { integrity: '*** in database main ***\nPage 4: btreeInitPage() returns error code 11' }), expect: [['integrity', 'critical']] },
];

describe('checkSnapshot', () => {
  for (const c of cases) {
    test(c.name, () => {
      const findings = checkSnapshot(c.snapshot, c.baseline ?? null, { ...DEFAULT_CHECK_OPTIONS, ...c.opts });
      assert.deepEqual(findings.map((f) => [f.check, f.severity]), c.expect);
    });
  }

  test('every check in CHECK_NAMES is exercised by a case above', () => {
    const fired = new Set(cases.flatMap((c) => c.expect.map(([check]) => check)));
    assert.deepEqual([...CHECK_NAMES].filter((n) => !fired.has(n)), []);
  });

  test('every message is a plain sentence', () => {
    for (const c of cases) {
      for (const f of checkSnapshot(c.snapshot, c.baseline ?? null, { ...DEFAULT_CHECK_OPTIONS, ...c.opts })) {
        assert.match(f.message, /^[A-Z0-9].{40,}\.$/s, `${c.name} / ${f.check}: ${f.message}`);
      }
    }
  });

  test('no message or detail contains a cookie_id', () => {
    const secret = 'abcdef0123456789abcdef0123456789';
    const snapshot = withUsers([
      user(1, 'a', secret), user(2, 'b', secret), user(3, 'c', secret.toUpperCase()), user(4, 'd', `${secret}x`),
      user(5, 'e', ''), user(6, 'f', null), user(7, 'john.doe'), user(8, 'john-doe'),
    ]);
    const baseline: Baseline = { highWater: 20, users: { a: 99 }, updatedAt: 0 };
    const findings = checkSnapshot({ ...snapshot, cookieIdConstraint: { notNull: false, unique: false } }, baseline, DEFAULT_CHECK_OPTIONS);
    assert.deepEqual(findings.map((f) => f.check).sort(), [
      'cookie-id-constraint', 'cookie-id-duplicate', 'cookie-id-empty', 'cookie-id-malformed', 'cookie-id-null', 'id-changed',
      'lookalike-names', 'user-drop',
    ]);
    for (const f of findings) {
      const text = `${f.message} ${JSON.stringify(f.detail ?? {})}`.toLowerCase();
      assert.ok(!text.includes(secret), `${f.check} leaks a cookie_id: ${text}`);
    }
  });

  test('long lists are cut short in messages but complete in details', () => {
    const users = Array.from({ length: 40 }, (_, i) => user(i + 1, `u${i}`, ''));
    const [f] = checkSnapshot(withUsers(users), null, DEFAULT_CHECK_OPTIONS);
    assert.match(f.message, /and 32 more/);
    assert.equal((f.detail?.users as string[]).length, 40);
  });

  test('is pure: the same input gives the same output and is not modified', () => {
    const s = withUsers([user(1, 'john.doe', ''), user(2, 'john-doe', '')]);
    const frozen = structuredClone(s);
    const first = checkSnapshot(s, baseline10, DEFAULT_CHECK_OPTIONS);
    assert.deepEqual(checkSnapshot(s, baseline10, DEFAULT_CHECK_OPTIONS), first);
    assert.deepEqual(s, frozen);
  });
});

describe('lossySlug', () => {
  for (const [name, slug] of [['john.doe', 'john-doe'], ['John_Doe', 'john-doe'], ['jane@example.com', 'jane-example-com'], ['a1', 'a1']]) {
    test(`${name} → ${slug}`, () => assert.equal(lossySlug(name), slug));
  }
});

describe('nextBaseline', () => {
  test('starts from a snapshot', () => {
    const s = withUsers([user(1, 'alice'), user(2, 'bob')]);
    assert.deepEqual(plain(nextBaseline(s, null)), { highWater: 2, users: { alice: 1, bob: 2 }, updatedAt: s.takenAt });
  });

  test('the high-water mark only rises; ids follow; vanished names keep their last id', () => {
    const before: Baseline = { highWater: 5, users: { alice: 1, bob: 2, carol: 3 }, updatedAt: 1 };
    const s = withUsers([user(1, 'alice'), user(7, 'bob'), user(8, 'dave')]);
    assert.deepEqual(plain(nextBaseline(s, before)), { highWater: 5, users: { alice: 1, bob: 7, carol: 3, dave: 8 }, updatedAt: s.takenAt });
  });

  test('a user called __proto__ is remembered like any other', () => {
    const b = nextBaseline(withUsers([user(1, '__proto__'), user(2, 'constructor')]), null);
    assert.deepEqual(Object.keys(b.users).sort(), ['__proto__', 'constructor']);
    assert.deepEqual(JSON.parse(JSON.stringify(b)).users, { ...b.users });
    const moved = withUsers([user(9, '__proto__'), user(2, 'constructor')]);
    assert.deepEqual(checkSnapshot(moved, b, DEFAULT_CHECK_OPTIONS).map((f) => f.check), ['id-changed']);
  });
});
