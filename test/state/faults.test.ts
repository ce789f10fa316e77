// Redis faults, against a redis-server each test starts on a free port (no persistence) and kills, restarts, flushes,
// or reaches through a gate that can cut or stall the link while Redis keeps its data.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { RouteTable } from '../../src/proxy/route-table.js';
import { Maintenance } from '../../src/monitor/maintenance.js';
import { RedisStore } from '../../src/state/redis-store.js';
import { syncRoutes, type RouteSync } from '../../src/monitor/route-sync.js';
import { FileStore, MemoryStore } from '../../src/state/store.js';
import { client, eventually, gate, ownRedis, redisConfig, type Gate, type OwnRedis } from './redis.js';

const PREFIX = 'hg:';
const T = { timeout: 60_000 };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function redisServer(): Promise<OwnRedis> {
  const r = await ownRedis();
  cleanups.push(() => r.stop());
  return r;
}

async function gateTo(port: number): Promise<Gate> {
  const g = await gate(port);
  cleanups.push(() => g.close());
  return g;
}

function redisClient(port: number): Redis {
  const c = client(port);
  cleanups.push(() => c.disconnect());
  return c;
}

interface Replica {
  store: RedisStore;
  maintenance: Maintenance;
  routes: RouteTable;
  sync: RouteSync;
  /** Every maintenance state this replica went through, as 'off' or the mode. */
  flips: string[];
}

/** A replica's state as server.ts wires it: routes, maintenance and the session key registered, then connect. */
async function replica(port: number, local = new MemoryStore(), waitMs = 5000): Promise<Replica> {
  const store = new RedisStore(redisConfig(port, PREFIX), local);
  const routes = new RouteTable();
  const sync = await syncRoutes(store, routes, 60_000);
  const maintenance = new Maintenance(store);
  await maintenance.load();
  await store.claim('session-key', { k: `key-of-${Math.random()}` });
  const flips: string[] = [];
  maintenance.onChange((s) => flips.push(s?.mode ?? 'off'));
  cleanups.push(async () => {
    sync.stop();
    await store.close();
  });
  await store.connect(waitMs);
  return { store, maintenance, routes, sync, flips };
}

const until = (what: string, probe: () => boolean, ms = 15_000) => eventually(what, () => (probe() ? true : undefined), ms);

describe('Redis unreachable at start', () => {
  test('starts from the local files at once, and publishes them when Redis appears', T, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hub-guard-faults-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const files = new FileStore(dir);
    const before = new Maintenance(files);
    await before.load();
    await before.on('auto', 'db wiped', 'watchdog', ['tables-missing']);
    await files.mapSet('routes', '/user/alice', { data: { target: 'http://127.0.0.1:9001/', user: 'alice' }, lastActivity: 1, addedAt: 1 });
    await files.close();

    const redis = await redisServer(); // not started yet: its port refuses connections
    const a = await replica(redis.port, new FileStore(dir), 500);
    assert.equal(a.store.up, false);
    assert.equal(a.maintenance.current?.mode, 'auto', 'serves the maintenance it had');
    assert.equal(a.routes.get('/user/alice')?.owner, 'alice', 'and the routes');
    await a.maintenance.on('manual', 'looking into it', 'alice');

    await redis.start();
    await until('A to reach Redis', () => a.store.up);
    const b = await replica(redis.port);
    assert.equal(b.maintenance.current?.reason, 'looking into it');
    assert.equal(b.routes.get('/user/alice')?.owner, 'alice');
    assert.deepEqual((await b.maintenance.history()).map((e) => `${e.action} ${e.mode}`), ['on auto', 'on manual']);
  });

  test('a session key made while Redis was away gives way to the one Redis holds', T, async () => {
    const redis = await redisServer();
    await redis.start();
    const b = await replica(redis.port);
    const shared = await b.store.claim('session-key', { k: 'ignored' });
    const g = await gateTo(redis.port);
    g.cut();
    const a = await replica(g.port, new MemoryStore(), 300);
    assert.notDeepEqual(await a.store.claim('session-key', { k: 'x' }), shared);
    const seen: unknown[] = [];
    a.store.watch('session-key', (k) => seen.push(k));
    g.open();
    await until('A to reach Redis', () => a.store.up);
    assert.deepEqual(seen, [shared]);
    assert.deepEqual(await a.store.claim('session-key', { k: 'x' }), shared);
  });
});

describe('Redis lost while running (it keeps its data)', () => {
  test('the cut-off replica serves on, and on return replays its changes and takes what changed meanwhile', T, async () => {
    const redis = await redisServer();
    await redis.start();
    const g = await gateTo(redis.port);
    const a = await replica(g.port);
    const b = await replica(redis.port);
    a.routes.add('/user/old', { target: 'http://127.0.0.1:9000/', user: 'old' });
    await until('B to have /user/old', () => !!b.routes.get('/user/old'));

    g.cut();
    await until('A to notice', () => !a.store.up);
    // on A, unaware of B: the watchdog latches automatic maintenance, the hub adds and deletes routes
    await a.maintenance.on('auto', 'db wiped', 'watchdog');
    assert.equal(a.maintenance.current?.mode, 'auto', 'applies at once, locally');
    a.routes.add('/user/new-on-a', { target: 'http://127.0.0.1:9001/', user: 'new-on-a' });
    a.routes.remove('/user/old');
    // on B meanwhile: an operator switches maintenance on by hand, the hub adds a route
    await b.maintenance.on('manual', 'restoring', 'bob');
    b.routes.add('/user/new-on-b', { target: 'http://127.0.0.1:9002/', user: 'new-on-b' });

    g.open();
    await until('A to reconcile', () => a.store.up);
    assert.equal(a.maintenance.current?.mode, 'manual', "A's automatic switch does not replace B's manual one");
    assert.equal(a.maintenance.current?.reason, 'restoring');
    assert.ok(a.routes.get('/user/new-on-b'), "A takes B's route");
    await until("B to take A's route and deletion", () => !!b.routes.get('/user/new-on-a') && !b.routes.get('/user/old'));
    assert.ok(!a.routes.get('/user/old'));
    assert.deepEqual(b.flips, ['manual'], 'B never flipped off or to automatic');
    // the audit entry A made while cut off reaches the shared trail
    const trail = await eventually('the merged audit trail', async () => {
      const h = await b.maintenance.history();
      return h.length === 2 ? h : undefined;
    });
    assert.deepEqual(new Set(trail.map((e) => `${e.action} ${e.mode} ${e.by}`)), new Set(['on auto watchdog', 'on manual bob']));
  });

  test('a switch-off made while cut off reaches every replica on return', T, async () => {
    const redis = await redisServer();
    await redis.start();
    const g = await gateTo(redis.port);
    const a = await replica(g.port);
    const b = await replica(redis.port);
    await a.maintenance.on('manual', 'upgrading', 'alice');
    await until('B to be on', () => !!b.maintenance.current);
    g.cut();
    await until('A to notice', () => !a.store.up);
    await a.maintenance.off('alice', 'done');
    assert.equal(a.maintenance.current, undefined);
    g.open();
    await until('B to be off', () => !b.maintenance.current);
    assert.equal(a.maintenance.current, undefined);
  });

  test('a stalled link (no reset, no answers) is noticed and the replica serves on, then recovers', T, async () => {
    const redis = await redisServer();
    await redis.start();
    const g = await gateTo(redis.port);
    const a = await replica(g.port);
    const b = await replica(redis.port);
    g.stall();
    // nothing on A waits for Redis: writes return while the link hangs
    await a.maintenance.on('manual', 'during the stall', 'alice');
    assert.equal(a.maintenance.current?.reason, 'during the stall');
    await until('A to notice the stall', () => !a.store.up, 20_000);
    g.open();
    await until('A to recover', () => a.store.up, 20_000);
    await until('B to see the change made during the stall', () => b.maintenance.current?.reason === 'during the stall');
  });
});

describe('Redis restarted empty or from an older snapshot', () => {
  test('restarted empty: every replica republishes, and a latched automatic maintenance never reads as off', T, async () => {
    const redis = await redisServer();
    await redis.start();
    const a = await replica(redis.port);
    const b = await replica(redis.port);
    const key = await a.store.claim('session-key', { k: 'x' });
    a.routes.add('/user/alice', { target: 'http://127.0.0.1:9001/', user: 'alice' });
    await a.maintenance.on('auto', 'db wiped', 'watchdog', ['tables-missing']);
    await until('B to be on', () => !!b.maintenance.current && !!b.routes.get('/user/alice'));

    await redis.kill();
    await until('both to notice', () => !a.store.up && !b.store.up);
    await redis.start();
    await until('both to reconcile', () => a.store.up && b.store.up);

    const c = await replica(redis.port);
    assert.equal(c.maintenance.current?.mode, 'auto', 'a new replica finds the republished maintenance');
    assert.ok(c.routes.get('/user/alice'), 'and the routes');
    assert.deepEqual(await c.store.claim('session-key', { k: 'y' }), key, 'and the session key');
    for (const r of [a, b]) {
      assert.equal(r.maintenance.current?.mode, 'auto');
      assert.ok(r.routes.get('/user/alice'));
    }
    assert.deepEqual(a.flips, ['auto']);
    assert.deepEqual(b.flips, ['auto'], 'B never saw maintenance off');
  });

  test('restarted from an older snapshot: the newer state of the replicas wins', T, async () => {
    const redis = await redisServer();
    await redis.start();
    const ga = await gateTo(redis.port);
    const gb = await gateTo(redis.port);
    const a = await replica(ga.port);
    const b = await replica(gb.port);
    const raw = redisClient(redis.port);
    a.routes.add('/user/alice', { target: 'http://127.0.0.1:9001/', user: 'alice' });
    await until('B to have alice', () => !!b.routes.get('/user/alice'));
    const keys = await raw.keys(`${PREFIX}*`);
    const snapshot = await Promise.all(keys.map(async (k) => [k, await raw.dumpBuffer(k)] as const));

    await a.maintenance.on('auto', 'db wiped', 'watchdog');
    a.routes.add('/user/bob', { target: 'http://127.0.0.1:9002/', user: 'bob' });
    await until('B to follow', () => !!b.maintenance.current && !!b.routes.get('/user/bob'));

    ga.cut();
    gb.cut();
    await until('both to notice', () => !a.store.up && !b.store.up);
    await redis.kill();
    await redis.start();
    for (const [k, dump] of snapshot) await raw.restore(k, 0, dump!);
    assert.equal(await raw.exists(`${PREFIX}doc:maintenance`), 0, 'the snapshot is from before maintenance');
    ga.open();
    gb.open();
    await until('both to reconcile', () => a.store.up && b.store.up);
    for (const r of [a, b]) {
      assert.equal(r.maintenance.current?.mode, 'auto');
      assert.ok(r.routes.get('/user/bob'), 'the route added after the snapshot is republished');
      assert.ok(r.routes.get('/user/alice'));
    }
    assert.ok(await raw.hexists(`${PREFIX}map:routes`, '/user/bob'));
    assert.deepEqual(b.flips, ['auto']);
  });

  test('flushed without a reconnect (FLUSHALL): noticed by the generation counter, state republished', T, async () => {
    const redis = await redisServer();
    await redis.start();
    const a = await replica(redis.port);
    const b = await replica(redis.port);
    await a.maintenance.on('manual', 'upgrading', 'alice');
    a.routes.add('/user/alice', { target: 'http://127.0.0.1:9001/', user: 'alice' });
    await until('B to follow', () => !!b.maintenance.current && !!b.routes.get('/user/alice'));
    const raw = redisClient(redis.port);
    await raw.flushall();
    await eventually('the state to be back in Redis', async () => (await raw.exists(`${PREFIX}doc:maintenance`)) && (await raw.hexists(`${PREFIX}map:routes`, '/user/alice')) ? true : undefined, 20_000);
    // and it still travels: a change made now reaches the other replica
    await b.maintenance.off('bob', 'done');
    await until('A to see the switch-off', () => !a.maintenance.current);
  });
});
