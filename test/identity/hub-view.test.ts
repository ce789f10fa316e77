// The users index as it travels from `hub-guard watch` to the proxies: what goes in comes out, cookie_ids only as
// keyed hashes, and a document of another form is refused whole (a proxy keeps its view rather than half of one).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeView, encodeView } from '../../src/identity/hub-view.js';
import { CookieIdHasher, UsersIndex, cookieIdHash, indexKey } from '../../src/identity/users-index.js';
import type { HubSnapshot } from '../../src/hubdb/snapshot.js';

const secret = Buffer.alloc(32, 3);
const CID = 'a'.repeat(32);

function snapshot(): HubSnapshot {
  return {
    takenAt: 1_700_000_000_000, tables: ['users'], alembicVersion: null, cookieIdConstraint: null, apiTokens: 0,
    users: [
      { id: 1, name: 'alice', admin: false, cookieId: CID, created: null },
      { id: 2, name: 'constructor', admin: true, cookieId: null, created: null },
    ],
    access: new Map([['constructor', { all: false, users: ['alice'], groups: [], servers: ['alice/'], expiring: [{ server: 'alice/lab', expiresAt: 1_700_000_100_000 }] }]]),
    groups: new Map([['alice', ['lab']]]),
  };
}

test('a view survives the store: users, grants, groups, and the hash a session carries', () => {
  const key = indexKey(secret);
  const doc = JSON.parse(JSON.stringify(encodeView(new CookieIdHasher(key).viewOf(snapshot()))));
  assert.ok(!JSON.stringify(doc).includes(CID), 'no cookie_id in the document');
  const view = decodeView(doc);
  assert.ok(view);
  const index = new UsersIndex(key);
  index.load(view);
  const found = index.byCookieId(CID);
  assert.equal(found.kind === 'one' && found.user.name, 'alice');
  assert.equal(index.user('alice')?.cookieHash, cookieIdHash(key, CID));
  assert.equal(index.user('constructor')?.admin, true);
  assert.deepEqual(index.grant('constructor')?.expiring, [{ server: 'alice/lab', expiresAt: 1_700_000_100_000 }]);
  assert.deepEqual(index.groupsOf('alice'), ['lab']);
  assert.equal(index.grant('toString'), undefined);
});

test('the hash is keyed by the cookie secret: another secret, another hash', () => {
  assert.notEqual(cookieIdHash(indexKey(secret), CID), cookieIdHash(indexKey(Buffer.alloc(32, 4)), CID));
});

test('a document of another form is refused whole', () => {
  const good = JSON.parse(JSON.stringify(encodeView(new CookieIdHasher(indexKey(secret)).viewOf(snapshot())))) as Record<string, unknown>;
  const bad: unknown[] = [
    null, 'x', [], { ...good, format: 2 }, { ...good, takenAt: 'now' },
    { ...good, users: [[1, 'alice', 0]] },
    { ...good, users: [[1, 'alice', true, null]] },
    { ...good, users: [['1', 'alice', 0, null]] },
    { ...good, access: [['bob', { all: 'yes', users: [], groups: [], servers: [] }]] },
    { ...good, access: [['bob', { all: false, users: [1], groups: [], servers: [] }]] },
    { ...good, access: [['bob', { all: false, users: [], groups: [], servers: [], expiring: [{ server: 'a/' }] }]] },
    { ...good, groups: { alice: ['lab'] } },
    { ...good, groups: [['alice', 'lab']] },
  ];
  for (const doc of bad) assert.equal(decodeView(doc), undefined, JSON.stringify(doc));
});
