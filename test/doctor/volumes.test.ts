// Claim names under kubespawner's three naming schemes, read back into users; the slug functions against the
// vectors in jupyterhub-facts §6 and kubespawner's own tests; the SQLite CREATE TABLE edit for NOT NULL.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { escapeSlug, guessSafeSlugNames, safeSlug, unescapeSlug } from '../../src/doctor/slugs.js';
import { withNotNull } from '../../src/doctor/sqlite-ddl.js';
import { parsePvcList, readVolumes, VolumeListError, type KnownUser } from '../../src/doctor/volumes.js';
import { pvc, pvcList } from './pvcs.js';

describe('kubespawner slugs', () => {
  test('escape scheme, both ways (facts §6)', () => {
    const vectors: Record<string, string> = {
      'john.doe': 'john-2edoe', 'john-doe': 'john-2ddoe', john_doe: 'john-5fdoe', 'jane@example.com': 'jane-40example-2ecom', 'John.Doe': '-4aohn-2e-44oe', 'ümit': '-c3-bcmit',
    };
    for (const [name, slug] of Object.entries(vectors)) {
      assert.equal(escapeSlug(name), slug, name);
      assert.equal(unescapeSlug(slug), name, slug);
    }
    for (const bad of ['john-doe', 'a-4', 'Upper', 'a.b', '-c3', 'a-62c']) assert.equal(unescapeSlug(bad), null, bad);
  });

  test('safe scheme (facts §6 and kubespawner\'s test vectors)', () => {
    const vectors: Record<string, string> = {
      'john-doe': 'john-doe', 'john.doe': 'john-doe---30f69670', john_doe: 'john-doe---99682b66', '0day': 'x-0day---819d812d',
      'jupyter-Alex': 'jupyter-alex---3a1c285c', 'user@email.com': 'user-email-com---0925f997', 'has.dot': 'has-dot---03e27fdf',
      z9: 'z9', '9z9': 'x-9z9---224de202', '-start': 'start---f587e2dc', 'username--servername': 'username-servername---d957f1de',
    };
    for (const [name, slug] of Object.entries(vectors)) assert.equal(safeSlug(name), slug, name);
  });

  test('a hashed safe slug is read back by trying the usual separators, and the hash decides', () => {
    assert.deepEqual(guessSafeSlugNames('john-doe---30f69670'), ['john.doe']);
    assert.deepEqual(guessSafeSlugNames('john-doe---99682b66'), ['john_doe']);
    assert.deepEqual(guessSafeSlugNames('x-0day---819d812d'), ['0day']);
    assert.deepEqual(guessSafeSlugNames('user-email-com---0925f997'), ['user@email.com']);
    assert.deepEqual(guessSafeSlugNames('john-doe---00000000'), []);
    assert.deepEqual(guessSafeSlugNames('john-doe'), []);
  });
});

describe('reading a PVC list', () => {
  test('rejects what is not kubectl JSON, with a message saying what to run', () => {
    assert.throws(() => parsePvcList('not json'), VolumeListError);
    assert.throws(() => parsePvcList('[]'), /kubectl get pvc -o json/);
    assert.throws(() => parsePvcList('{"kind":"List"}'), /no "items" list/);
    const { items, skipped } = parsePvcList(JSON.stringify({ kind: 'List', items: [{ kind: 'ConfigMap', metadata: { name: 'x' } }, { metadata: {} }, null, pvc('claim-a', 'bad date')] }));
    assert.deepEqual(skipped.map((s) => s.claim), ['x', 'items[1]', 'items[2]']);
    assert.deepEqual(items, [{ claim: 'claim-a', created: null, labels: {}, annotations: {} }]);
    assert.equal(parsePvcList(JSON.stringify(pvc('claim-b', '2020-01-02T03:04:05Z'))).items[0].created, '2020-01-02T03:04:05.000Z');
  });

  test('all three schemes, annotations, named servers and what cannot be read', () => {
    const list = pvcList([
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
      pvc('claim-weird-thing', '2024-01-04T00:00:00Z', { 'hub.jupyter.org/username': 'Weird.Thing' }),
      pvc('claim-dan-o-9', '2016-11-01T00:00:00Z', { 'hub.jupyter.org/username': 'dan.o' }),
      pvc('hub-db-dir', '2016-01-01T00:00:00Z'),
      pvc('claim-zz---deadbeef', '2024-02-01T00:00:00Z'),
      pvc('claim-Upper', '2024-02-01T00:00:00Z'),
    ]);
    const { items, skipped } = parsePvcList(list);
    const v = readVolumes(items, [], skipped);
    const byClaim = new Map(v.claims.map((c) => [c.claim, c]));
    const read = (claim: string) => {
      const c = byClaim.get(claim);
      return c && { scheme: c.scheme, name: c.name, id: c.id, server: c.server };
    };
    assert.deepEqual(read('claim-u-51'), { scheme: 'legacy', name: 'u', id: 51, server: null });
    assert.deepEqual(read('claim-alice-7'), { scheme: 'legacy', name: 'alice', id: 7, server: null });
    assert.deepEqual(read('claim-mary-2esmith'), { scheme: 'escape', name: 'mary.smith', id: null, server: null });
    assert.deepEqual(read('claim-jane-40example-2ecom'), { scheme: 'escape', name: 'jane@example.com', id: null, server: null });
    assert.deepEqual(read('claim-kim-2elee--gpu'), { scheme: 'escape', name: 'kim.lee', id: null, server: 'gpu' });
    assert.deepEqual(read(`claim-${safeSlug('bob.smith')}`), { scheme: 'safe', name: 'bob.smith', id: null, server: null });
    assert.deepEqual(read('claim-x-0day---819d812d'), { scheme: 'safe', name: '0day', id: null, server: null });
    assert.deepEqual(read('claim-carol'), { scheme: 'escape', name: 'carol', id: null, server: null });
    assert.deepEqual(read('claim-weird-thing'), { scheme: 'annotation', name: 'Weird.Thing', id: null, server: null });
    assert.deepEqual(read('claim-dan-o-9'), { scheme: 'annotation', name: 'dan.o', id: 9, server: null });

    // The 2017 scheme lost the punctuation: the name stays open and nothing is made up.
    const lossy = byClaim.get('claim-john-doe-52')!;
    assert.equal(lossy.name, null);
    assert.deepEqual(lossy.candidates, ['john-doe', 'john.doe', 'john_doe']);
    assert.deepEqual(v.undecided.map((c) => c.claim), ['claim-john-doe-52']);
    assert.ok(v.ambiguities.some((a) => a.claims.includes('claim-john-doe-52') && /john\.doe/.test(a.message)));

    // The datahub incident: the older volume is the real one.
    const u = v.users.find((x) => x.name === 'u')!;
    assert.deepEqual({ id: u.id, claims: u.claims, created: u.created }, { id: 51, claims: ['claim-u-51', 'claim-u-257'], created: '2016-09-01T10:00:00.000Z' });
    assert.ok(v.ambiguities.some((a) => a.claims.includes('claim-u-257') && /oldest \(claim-u-51\)/.test(a.message)));
    // This list also has safe-scheme claims, so "u-51" could be a user's whole name: said, not hidden.
    assert.ok(v.ambiguities.some((a) => a.claims.length === 1 && a.claims[0] === 'claim-alice-7' && /safe scheme/.test(a.message)));

    assert.deepEqual(v.unmapped.map((x) => x.claim).sort(), ['claim-Upper', 'claim-zz---deadbeef', 'hub-db-dir']);
    assert.deepEqual(
      v.users.map((x) => [x.name, x.id]),
      [['alice', 7], ['dan.o', 9], ['u', 51], ['0day', null], ['Weird.Thing', null], ['bob.smith', null], ['carol', null], ['jane@example.com', null], ['kim.lee', null], ['mary.smith', null]],
    );
  });

  test('known users settle what a claim name alone cannot', () => {
    const known: KnownUser[] = [
      { name: 'john.doe', id: 52, source: 'baseline' },
      { name: 'john-doe', id: 300, source: 'database' },
      { name: 'pat_k', id: 9, source: 'database' },
      { name: 'x.y', id: 11, source: 'database' },
    ];
    const { items } = parsePvcList(pvcList([
      pvc('claim-john-doe-52', null), pvc('claim-john-doe-300', null), pvc('claim-pat-k-9', null), pvc('claim-x-y-77', null), pvc(`claim-${safeSlug('x.y')}--gpu`, null),
    ]));
    const v = readVolumes(items, known);
    const names = Object.fromEntries(v.claims.map((c) => [c.claim, [c.name, c.id, c.server]]));
    assert.deepEqual(names, {
      'claim-john-doe-52': ['john.doe', 52, null],
      'claim-john-doe-300': ['john-doe', 300, null],
      'claim-pat-k-9': ['pat_k', 9, null],
      // One known name fits the slug, though not the id: taken, and the id is reported for what it is.
      'claim-x-y-77': ['x.y', 77, null],
      [`claim-${safeSlug('x.y')}--gpu`]: ['x.y', null, 'gpu'],
    });
    assert.ok(v.ambiguities.some((a) => a.claims[0] === 'claim-x-y-77' && /gives it id 11, not 77/.test(a.message)));
  });

  test('a claim-{name}-{id} whose name carries escape codes lists the escape reading among its candidates', () => {
    const { items } = parsePvcList(pvcList([
      pvc('claim-john-2edoe-7', '2017-05-01T00:00:00Z'), pvc('claim-caf-c3-a9-8', null), pvc('claim-ann-lee-9', null),
      pvc('claim-x-c3-28-10', null), pvc('claim-a-bc-11', null), pvc('claim-john-2e-2edoe-12', null),
    ]));
    const v = readVolumes(items, []);
    const candidates = Object.fromEntries(v.claims.map((c) => [c.claim, [c.name, c.id, c.candidates]]));
    assert.deepEqual(candidates, {
      'claim-john-2edoe-7': [null, 7, ['john.doe', 'john-2edoe', 'john.2edoe', 'john_2edoe']],
      'claim-caf-c3-a9-8': [null, 8, ['café', 'caf-c3-a9', 'caf.c3.a9', 'caf_c3_a9']],
      // '-le' is no hex pair, c3 28 and a lone bc are no UTF-8: only the 2017 spellings.
      'claim-ann-lee-9': [null, 9, ['ann-lee', 'ann.lee', 'ann_lee']],
      'claim-x-c3-28-10': [null, 10, ['x-c3-28', 'x.c3.28', 'x_c3_28']],
      'claim-a-bc-11': [null, 11, ['a-bc', 'a.bc', 'a_bc']],
      'claim-john-2e-2edoe-12': [null, 12, ['john..doe', 'john-2e-2edoe', 'john.2e.2edoe', 'john_2e_2edoe']],
    });
    assert.ok(v.ambiguities.some((a) => a.claims[0] === 'claim-john-2edoe-7' && /Read as the escape scheme with the id kept .* it is "john\.doe"\./.test(a.message)));
    assert.ok(v.ambiguities.every((a) => a.claims[0] !== 'claim-ann-lee-9' || !/escape scheme/.test(a.message)));
    assert.deepEqual(v.undecided.map((c) => c.claim).sort(), items.map((i) => i.claim).sort(), 'no name is made up for any of them');
  });

  test('a known user settles an escaped claim-{name}-{id}: by name and id, or by name with the id reported', () => {
    const { items } = parsePvcList(pvcList([pvc('claim-john-2edoe-7', null), pvc('claim-mary-2esmith-8', null)]));
    const v = readVolumes(items, [{ name: 'john.doe', id: 7, source: 'baseline' }, { name: 'mary.smith', id: 300, source: 'database' }]);
    const read = Object.fromEntries(v.claims.map((c) => [c.claim, [c.name, c.id, c.idTrusted]]));
    assert.deepEqual(read, { 'claim-john-2edoe-7': ['john.doe', 7, true], 'claim-mary-2esmith-8': ['mary.smith', 8, false] });
    assert.match(v.claims[0].how, /claim-\{escaped name\}-\{id\}; the baseline knows "john\.doe" with id 7/);
    assert.ok(v.ambiguities.some((a) => a.claims[0] === 'claim-mary-2esmith-8' && /gives it id 300, not 8/.test(a.message)));
    assert.deepEqual(v.users.map((u) => [u.name, u.id]), [['john.doe', 7], ['mary.smith', null]]);
  });

  test('two users claiming one id: the older volume keeps it', () => {
    const { items } = parsePvcList(pvcList([pvc('claim-ann-5', '2016-01-01T00:00:00Z'), pvc('claim-ben-5', '2017-03-01T00:00:00Z')]));
    const v = readVolumes(items, []);
    assert.deepEqual(v.users.map((u) => [u.name, u.id]), [['ann', 5], ['ben', null]]);
    assert.ok(v.ambiguities.some((a) => /id 5 appears in the volumes of "ann" and "ben"/.test(a.message)));
  });
});

describe('adding NOT NULL to a SQLite CREATE TABLE', () => {
  test('edits only the cookie_id column, whatever the quoting, and the result is valid SQL', () => {
    const hub = `CREATE TABLE users (\n\tid INTEGER NOT NULL, \n\tname VARCHAR(255), \n\tcookie_id VARCHAR(255), \n\tstate TEXT, \n\tCONSTRAINT pk_users PRIMARY KEY (id), \n\tCONSTRAINT uq_users_name UNIQUE (name)\n)`;
    const edited = withNotNull(hub, 'cookie_id', 'hub_guard_users_new')!;
    assert.match(edited, /^CREATE TABLE hub_guard_users_new \(/);
    assert.match(edited, /\tcookie_id VARCHAR\(255\) NOT NULL, \n\tstate TEXT/);
    const odd = `CREATE TABLE "users" ("id" INTEGER PRIMARY KEY, "na,me" TEXT DEFAULT 'a,b''c', [cookie_id] VARCHAR(255) DEFAULT ('x,y') /* a, comment */)`;
    const oddEdited = withNotNull(odd, 'cookie_id', 'hub_guard_users_new')!;
    assert.equal(oddEdited, `CREATE TABLE hub_guard_users_new ("id" INTEGER PRIMARY KEY, "na,me" TEXT DEFAULT 'a,b''c', [cookie_id] VARCHAR(255) DEFAULT ('x,y') /* a, comment */ NOT NULL)`);
    const db = new Database(':memory:');
    db.exec(edited);
    db.exec(oddEdited.replace('hub_guard_users_new', 'other'));
    assert.equal((db.prepare("SELECT \"notnull\" FROM pragma_table_info('other') WHERE name = 'cookie_id'").pluck().get()), 1);
    db.close();
    assert.equal(withNotNull(hub.replace('cookie_id VARCHAR(255)', 'cookie_id VARCHAR(255) NOT NULL'), 'cookie_id', 'n'), hub.replace('CREATE TABLE users', 'CREATE TABLE n').replace('cookie_id VARCHAR(255)', 'cookie_id VARCHAR(255) NOT NULL'));
    assert.equal(withNotNull('CREATE TABLE users (id INTEGER)', 'cookie_id', 'n'), null);
    assert.equal(withNotNull('CREATE TABLE users (id TEXT DEFAULT \'unterminated', 'cookie_id', 'n'), null);
    assert.equal(withNotNull('CREATE VIEW users AS SELECT 1', 'cookie_id', 'n'), null);
  });
});
