// Two RedisStores on one prefix of the Redis on 127.0.0.1:6379, as two replicas would hold them: changes travel by
// pub/sub, the first writer of a key wins, updates stay atomic across both, and concurrent writers converge.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { RouteTable } from '../../src/proxy/route-table.js';
import { Maintenance } from '../../src/monitor/maintenance.js';
import { RedisStore } from '../../src/state/redis-store.js';
import { syncRoutes, type RouteSync } from '../../src/monitor/route-sync.js';
import { MemoryStore } from '../../src/state/store.js';
import { client, dropPrefix, eventually, redisConfig, SHARED_PORT, uniquePrefix } from './redis.js';

const opened: { close(): Promise<void> | void }[] = [];
const prefixes: string[] = [];

afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
  for (const p of prefixes.splice(0)) await dropPrefix(SHARED_PORT, p);
});

async function pair(): Promise<{ a: RedisStore; b: RedisStore; prefix: string }> {
  const prefix = uniquePrefix('replicas');
  prefixes.push(prefix);
  const a = new RedisStore(redisConfig(SHARED_PORT, prefix), new MemoryStore());
  const b = new RedisStore(redisConfig(SHARED_PORT, prefix), new MemoryStore());
  opened.push(a, b);
  await Promise.all([a.connect(5000), b.connect(5000)]);
  assert.ok(a.up && b.up, 'the Redis on 127.0.0.1:6379 must be reachable');
  return { a, b, prefix };
}

async function routesOn(store: RedisStore): Promise<{ table: RouteTable; sync: RouteSync }> {
  const table = new RouteTable();
  const sync = await syncRoutes(store, table, 60_000);
  opened.push({ close: () => sync.stop() });
  return { table, sync };
}

describe('two replicas on one Redis', () => {
  test('maintenance switched on one replica is on at the other within a second, with its audit entry', async () => {
    const { a, b } = await pair();
    const ma = new Maintenance(a);
    const mb = new Maintenance(b);
    await ma.load();
    await mb.load();
    const flips: unknown[] = [];
    mb.onChange((s) => flips.push(s?.mode ?? 'off'));
    await ma.on('manual', 'upgrading', 'alice');
    await eventually('B to see maintenance on', () => (mb.current?.reason === 'upgrading' ? true : undefined), 1000);
    assert.deepEqual((await mb.history()).map((e) => `${e.action} ${e.by}`), ['on alice']);
    await ma.off('alice', 'done');
    await eventually('B to see maintenance off', () => (mb.current === undefined ? true : undefined), 1000);
    assert.deepEqual(flips, ['manual', 'off']);
    await eventually('B to mirror the audit trail', async () => ((await mb.history()).length === 2 ? true : undefined), 1000);
  });

  test("maintenance rules hold across replicas: one replica's automatic switch never replaces another's manual one", async () => {
    const { a, b } = await pair();
    const ma = new Maintenance(a);
    const mb = new Maintenance(b);
    await ma.load();
    await mb.load();
    await mb.on('manual', 'restoring', 'bob');
    // at once, before A may have heard: the rule is applied to what Redis holds, not to A's copy
    const s = await ma.on('auto', 'db wiped', 'watchdog');
    assert.equal(s.mode, 'manual');
    assert.equal(ma.current?.reason, 'restoring');
  });

  test('the first writer of a key wins, also when both claim at once', async () => {
    const { a, b } = await pair();
    const [ka, kb] = await Promise.all([a.claim('session-key', { k: 'from-a' }), b.claim('session-key', { k: 'from-b' })]);
    assert.deepEqual(ka, kb);
  });

  test('updates from both replicas are atomic: none is lost', async () => {
    const { a, b } = await pair();
    await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).update<number>('counter', (n) => (n ?? 0) + 1)));
    assert.equal(await a.update<number>('counter', () => undefined), 30);
    assert.equal(await b.update<number>('counter', () => undefined), 30);
  });

  test('a route added or deleted on one replica is applied by the other, without being written back', async () => {
    const { a, b, prefix } = await pair();
    const ra = await routesOn(a);
    const rb = await routesOn(b);
    const redis = client(SHARED_PORT);
    opened.push({ close: () => redis.disconnect() });
    const gen = async () => Number(await redis.get(`${prefix}gen`)) || 0;
    const before = await gen();
    ra.table.add('/user/alice', { target: 'http://127.0.0.1:9001/', user: 'alice', server_name: '' });
    const got = await eventually('B to have alice', () => rb.table.get('/user/alice'), 1000);
    assert.equal(got.owner, 'alice');
    assert.equal(got.data.target, 'http://127.0.0.1:9001/');
    assert.equal(await gen(), before + 1, 'exactly one write: B applied it without writing it back');
    rb.table.remove('/user/alice');
    await eventually('A to drop alice', () => (ra.table.get('/user/alice') ? undefined : true), 1000);
    assert.equal(await gen(), before + 2);
  });

  test('last_activity: the newest seen by any replica wins, and older values are not written', async () => {
    const { a, b } = await pair();
    const ra = await routesOn(a);
    const rb = await routesOn(b);
    ra.table.add('/user/alice', { target: 'http://127.0.0.1:9001/', user: 'alice' }, 1000);
    await eventually('B to have alice', () => rb.table.get('/user/alice'), 1000);
    rb.table.get('/user/alice')!.lastActivity = 5000;
    await rb.sync.flush();
    await ra.sync.flush();
    assert.equal(ra.table.get('/user/alice')!.lastActivity, 5000, "A takes B's newer activity");
    ra.table.get('/user/alice')!.lastActivity = 4000; // older than what Redis has: A's own clock is behind
    await ra.sync.flush();
    await rb.sync.flush();
    assert.equal(rb.table.get('/user/alice')!.lastActivity, 5000);
    assert.equal(ra.table.get('/user/alice')!.lastActivity, 5000);
  });

  test('concurrent writers of one route converge on what Redis holds', async () => {
    const { a, b, prefix } = await pair();
    const ra = await routesOn(a);
    const rb = await routesOn(b);
    for (let i = 0; i < 40; i++) {
      (i % 2 ? ra : rb).table.add('/user/x', { target: `http://127.0.0.1:${10000 + i}/`, user: 'x' });
      if (i % 7 === 3) (i % 2 ? rb : ra).table.remove('/user/x');
    }
    const redis = client(SHARED_PORT);
    opened.push({ close: () => redis.disconnect() });
    await eventually('both replicas to agree with Redis', async () => {
      const stored = await redis.hget(`${prefix}map:routes`, '/user/x');
      const want = stored ? (JSON.parse(stored) as { data: { target: string } }).data.target : undefined;
      const ta = ra.table.get('/user/x')?.data.target;
      const tb = rb.table.get('/user/x')?.data.target;
      return ta === want && tb === want ? true : undefined;
    }, 5000);
  });

  test('a key of one kind is refused as another', async () => {
    const { a } = await pair();
    await a.mapSet('table', 'f', 1);
    await assert.rejects(a.load('table'), /state key 'table' is a map, not a doc/);
  });

  test('a document watched but never loaded still gets the other replica\'s news', async () => {
    const { a, b } = await pair();
    const heard: unknown[] = [];
    b.watch<{ id: string }>('request', (v) => heard.push(v));
    await a.save('request', { id: 'one' });
    await eventually('B to hear of the document', () => (heard.length ? true : undefined), 1000);
    assert.deepEqual(heard, [{ id: 'one' }]);
  });
});
