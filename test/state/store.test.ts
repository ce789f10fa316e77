// One behavioural suite for every state store: memory, files (--state-dir), and Redis (the server on 127.0.0.1:6379,
// under a key prefix of each test's own). The Redis store is reopened with an empty local mirror, so what a reopened
// store shows came from Redis.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { RouteTable } from '../../src/proxy/route-table.js';
import { Maintenance, type AuditEntry } from '../../src/monitor/maintenance.js';
import { RedisStore } from '../../src/state/redis-store.js';
import { syncRoutes } from '../../src/monitor/route-sync.js';
import { FileStore, MemoryStore, type StateStore } from '../../src/state/store.js';
import { dropPrefix, redisConfig, SHARED_PORT, uniquePrefix } from './redis.js';

interface Opened {
  store: StateStore;
  /** Closes the store and opens the same state again, as a restarted process would; undefined for memory. */
  reopen?: () => Promise<StateStore>;
}

interface Kind { name: string; open(): Promise<Opened> }

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const kinds: Kind[] = [
  {
    name: 'memory',
    async open() {
      return { store: new MemoryStore() };
    },
  },
  {
    name: 'files',
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'hub-guard-store-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      let store: StateStore = new FileStore(dir);
      const opened: Opened = {
        store,
        async reopen() {
          await store.close();
          store = new FileStore(dir);
          return store;
        },
      };
      cleanups.push(() => store.close());
      return opened;
    },
  },
  {
    name: 'redis',
    async open() {
      const prefix = uniquePrefix('suite');
      const open = async () => {
        const s = new RedisStore(redisConfig(SHARED_PORT, prefix), new MemoryStore());
        await s.connect(5000);
        assert.equal(s.up, true, 'the Redis on 127.0.0.1:6379 must be reachable');
        return s;
      };
      let store: StateStore = await open();
      cleanups.push(async () => {
        await store.close();
        await dropPrefix(SHARED_PORT, prefix);
      });
      return {
        store,
        async reopen() {
          await store.close();
          store = await open();
          return store;
        },
      };
    },
  },
];

for (const kind of kinds) {
  describe(`state store: ${kind.name}`, () => {
    test('documents: missing is undefined, null is a value, the last save wins', async () => {
      const { store } = await kind.open();
      assert.equal(await store.load('nothing-here'), undefined);
      await store.save('doc', null);
      assert.equal(await store.load('doc'), null);
      await store.save('doc', { a: 1, list: [1, 'two'] });
      await store.save('doc', { a: 2 });
      assert.deepEqual(await store.load('doc'), { a: 2 });
    });

    test('a bad key is refused', async () => {
      const { store } = await kind.open();
      await assert.rejects(store.save('../etc/passwd', 1), /bad state key/);
      await assert.rejects(store.load('UPPER'), /bad state key/);
    });

    test('update sees the current value, may leave it alone, and concurrent updates all count', async () => {
      const { store } = await kind.open();
      assert.equal(await store.update<number>('counter', (n) => (n === undefined ? 1 : undefined)), 1);
      assert.equal(await store.update<number>('counter', () => undefined), 1);
      await Promise.all(Array.from({ length: 20 }, () => store.update<number>('counter', (n) => (n ?? 0) + 1)));
      assert.equal(await store.load('counter'), 21);
    });

    test('claim: the first writer wins', async () => {
      const { store } = await kind.open();
      assert.deepEqual(await store.claim('key', { k: 'first' }), { k: 'first' });
      assert.deepEqual(await store.claim('key', { k: 'second' }), { k: 'first' });
      assert.deepEqual(await store.load('key'), { k: 'first' });
    });

    test('logs keep their order and the last `keep` entries', async () => {
      const { store } = await kind.open();
      for (let i = 0; i < 8; i++) await store.append('trail', { i }, 5);
      assert.deepEqual(await store.tail('trail'), [3, 4, 5, 6, 7].map((i) => ({ i })));
    });

    test('maps: set, replace, delete; marks only rise and only on fields that exist', async () => {
      const { store } = await kind.open();
      await store.mapSet('table', '/user/a', { n: 1 });
      await store.mapSet('table', '/user/b', { n: 2 });
      await store.mapSet('table', '/user/a', { n: 3 });
      assert.deepEqual(await store.touch('table', { '/user/a': 1000, '/user/b': 500, '/user/ghost': 9 }), { '/user/a': 1000, '/user/b': 500 });
      assert.deepEqual(await store.touch('table', { '/user/a': 900, '/user/b': 700 }), { '/user/a': 1000, '/user/b': 700 });
      await store.mapDelete('table', '/user/b');
      assert.deepEqual(await store.mapAll('table'), { values: { '/user/a': { n: 3 } }, marks: { '/user/a': 1000 } });
      // a field set again after its deletion starts without a mark
      await store.mapSet('table', '/user/b', { n: 4 });
      assert.deepEqual((await store.mapAll('table')).marks, { '/user/a': 1000 });
    });

    test('maintenance: manual beats automatic, automatic stays latched, every change is audited', async () => {
      const { store } = await kind.open();
      const m = new Maintenance(store);
      await m.load();
      const auto = await m.on('auto', 'db wiped', 'watchdog', ['tables-missing']);
      assert.equal(auto.mode, 'auto');
      const again = await m.on('auto', 'still wiped', 'watchdog');
      assert.equal(again.since, auto.since, 'a repeat keeps the original start');
      assert.equal(again.reason, 'db wiped');
      const manual = await m.on('manual', 'restoring', 'alice');
      assert.equal(manual.mode, 'manual', 'an operator takes over an automatic maintenance');
      assert.equal((await m.on('auto', 'db wiped', 'watchdog')).mode, 'manual', 'automatic never replaces manual');
      await m.off('alice', 'restored');
      assert.equal(m.current, undefined);
      assert.equal(await store.load('maintenance'), null);
      const history = await m.history();
      assert.deepEqual(history.map((e: AuditEntry) => `${e.action} ${e.mode} ${e.by}`), ['on auto watchdog', 'on manual alice', 'off manual alice']);
      assert.deepEqual(history[0].findings, ['tables-missing']);
    });

    test('maintenance: a switch-off clears only the maintenance it was made against', async () => {
      const { store } = await kind.open();
      const m = new Maintenance(store);
      await m.load();
      await m.on('manual', 'first', 'alice');
      // another replica (or process) ended it and started a new one, and this one has not heard yet
      await store.save('maintenance', { mode: 'manual', reason: 'second', since: Date.now() + 1000, by: 'bob' });
      await m.off('alice', 'done with the first');
      assert.equal(m.current?.reason, 'second');
      assert.deepEqual((await m.history()).map((e) => e.action), ['on']);
    });

    test('routes: restored with last_activity, local-only routes stay out of the store, deletions are stored', async () => {
      const { store } = await kind.open();
      const a = new RouteTable();
      const syncA = await syncRoutes(store, a, 60_000);
      a.add('/user/alice', { target: 'http://127.0.0.1:1/', user: 'alice' }, 1000, 900);
      a.add('/user/bob', { target: 'http://127.0.0.1:2/', user: 'bob' });
      syncA.locally(() => a.add('/', { target: 'http://127.0.0.1:3/' }));
      a.get('/user/alice')!.lastActivity = 5000;
      a.remove('/user/bob');
      await syncA.flush();
      syncA.stop();

      const b = new RouteTable();
      const syncB = await syncRoutes(store, b, 60_000);
      syncB.stop();
      assert.deepEqual([...b.all()].map((r) => [r.prefix, r.owner, r.lastActivity, r.addedAt]), [['/user/alice', 'alice', 5000, 900]]);
    });

    if (kind.name !== 'memory') {
      test('everything survives a restart', async () => {
        const opened = await kind.open();
        const m = new Maintenance(opened.store);
        await m.load();
        await m.on('manual', 'restoring', 'alice');
        await opened.store.claim('session-key', { k: 'K' });
        await opened.store.mapSet('routes', '/user/a', { data: { target: 'http://127.0.0.1:1/' }, lastActivity: 1, addedAt: 1 });
        await opened.store.touch('routes', { '/user/a': 4242 });
        const store = await opened.reopen!();
        const again = new Maintenance(store);
        await again.load();
        assert.equal(again.current?.reason, 'restoring');
        assert.deepEqual((await again.history()).map((e) => e.action), ['on']);
        assert.deepEqual(await store.claim('session-key', { k: 'other' }), { k: 'K' });
        assert.deepEqual(await store.mapAll('routes'), { values: { '/user/a': { data: { target: 'http://127.0.0.1:1/' }, lastActivity: 1, addedAt: 1 } }, marks: { '/user/a': 4242 } });
      });
    }
  });
}

describe('state store: files from an earlier hub-guard', () => {
  test('bare JSON files (routes, maintenance, audit) are read as before', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hub-guard-legacy-'));
    try {
      writeFileSync(join(dir, 'routes.json'), JSON.stringify({ '/user/a': { data: { target: 'http://127.0.0.1:1/', user: 'a' }, lastActivity: 77, addedAt: 5 } }));
      writeFileSync(join(dir, 'maintenance.json'), JSON.stringify({ mode: 'auto', reason: 'old', since: 1, by: 'watchdog' }));
      writeFileSync(join(dir, 'audit.json'), JSON.stringify([{ time: '2024-01-01T00:00:00.000Z', action: 'on', mode: 'auto', by: 'watchdog', reason: 'old' }]));
      const store = new FileStore(dir);
      const m = new Maintenance(store);
      await m.load();
      assert.equal(m.current?.reason, 'old');
      assert.equal((await m.history())[0].reason, 'old');
      const routes = new RouteTable();
      const sync = await syncRoutes(store, routes, 60_000);
      sync.stop();
      assert.equal(routes.get('/user/a')?.lastActivity, 77);
      await m.off('alice', 'done');
      await store.close();
      assert.equal(JSON.parse(readFileSync(join(dir, 'maintenance.json'), 'utf8')).value, null);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a file that is not JSON stops the start with advice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hub-guard-broken-'));
    try {
      writeFileSync(join(dir, 'maintenance.json'), '{"mode":');
      await assert.rejects(new FileStore(dir).load('maintenance'), /--state-dir: .*maintenance\.json is not valid JSON; move it away/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
