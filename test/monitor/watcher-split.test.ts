// The proxy/watcher split with real processes and the real Redis on 127.0.0.1:6379: `hub-guard watch` reads a sqlite
// hub DB (as it would beside the hub in the hub pod), two proxies started with --watcher take the users index, grants
// and findings from it through Redis. They identify users, take new users and grants from fresh reads they ask the
// watcher for, keep serving on the last state while the watcher is away, and go into maintenance within a second of
// the watcher's critical finding.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { eventually } from '../helpers/eventually.js';
import { GUARD_CLI, ROOT, addRoute, login, parseLogLines, startGuard, type Guard } from '../helpers/guard.js';
import { get } from '../helpers/http.js';
import { makeHubDb, newCookieId, type HubDbFixture } from '../helpers/hub-db.js';
import { start, type Proc } from '../helpers/proc.js';
import { scratch, type Scratch } from '../helpers/scratch.js';
import { hubCookie, writeSecret, type Secret } from '../helpers/secret.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { dropPrefix, SHARED_PORT, uniquePrefix } from '../state/redis.js';

const REDIS = `redis://127.0.0.1:${SHARED_PORT}`;

describe('proxy and watcher, split', () => {
  let tmp: Scratch;
  let db: HubDbFixture;
  let secret: Secret;
  let prefix: string;
  let hub: Upstream;
  let alice: Upstream;
  let proxies: Guard[];
  let watcher: Proc | undefined;
  const sessions = new Map<string, string>();

  /** A watcher on the hub DB; a long interval unless given, so only a proxy's request makes it read early. */
  async function startWatcher(interval = '60'): Promise<Proc> {
    const p = start(process.execPath, [
      GUARD_CLI, 'watch', '--hub-db', db.url, '--cookie-secret-file', secret.file, '--redis-url', REDIS, '--redis-prefix', prefix,
      '--state-dir', join(tmp.dir, 'watch-state'), '--db-check-interval', interval,
    ], { cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, killOnExit: true });
    await eventually('the watcher to start', () => (p.stderr().includes('hub-guard watching') ? true : p.alive() ? undefined : 'exited'));
    assert.ok(p.alive(), `the watcher exited:\n${p.stderr()}`);
    return p;
  }

  const readiness = async (g: Guard) => JSON.parse((await get(g.apiPort, '/readyz')).text) as Record<string, unknown>;
  const asUser = (name: string) => ({ cookie: sessions.get(name)! });
  /** Whom hub-guard's signed assertion on alice's server's last request names. */
  const asserted = () => {
    const jwt = String(alice.requests.at(-1)?.headers['x-hub-guard-user']);
    return (JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as { sub?: string }).sub;
  };

  before(async () => {
    tmp = scratch('hg-watch-split-');
    prefix = uniquePrefix('watch-split');
    db = await makeHubDb({ dir: tmp.dir, users: ['alice', 'bob'] });
    secret = writeSecret(tmp.dir);
    hub = await startUpstream('hub');
    alice = await startUpstream('alice');
    watcher = await startWatcher();
    const flags = ['--watcher', '--redis-url', REDIS, '--redis-prefix', prefix];
    proxies = [await startGuard({ secret, flags, metrics: true }), await startGuard({ secret, flags })];
    // routes go to one proxy, as the hub sends them through the proxy-api Service; Redis carries them to the other
    await addRoute(proxies[0], '/', { hub: true, target: hub.url });
    await addRoute(proxies[0], '/user/alice', { user: 'alice', server_name: '', target: alice.url });
    await addRoute(proxies[0], '/user/alice/shared', { user: 'alice', server_name: 'shared', target: alice.url });
    await eventually('the second proxy to have the routes', async () => ((await get(proxies[1].port, '/user/alice/')).status !== 404 ? true : undefined));
  });

  after(async () => {
    await watcher?.stop('SIGTERM');
    for (const g of proxies ?? []) await g.stop();
    await hub?.stop();
    await alice?.stop();
    await dropPrefix(SHARED_PORT, prefix);
    tmp?.remove();
  });

  test('both proxies identify users from the index the watcher published, and keep strangers out', async () => {
    for (const g of proxies) {
      await eventually('the watcher to be up on the proxy', async () => ((await readiness(g)).watcher === 'up' ? true : undefined));
      for (const name of ['alice', 'bob']) sessions.set(name, await login(g, secret.key, db.users.get(name)!.cookieId));
      assert.equal((await get(g.port, '/user/alice/lab', asUser('alice'))).status, 200);
      assert.equal(asserted(), 'alice');
      assert.equal((await get(g.port, '/user/alice/lab', asUser('bob'))).status, 403, "bob is refused alice's server");
    }
  });

  test("the console lists the watcher among the replicas, with the database's state as it sees it", async () => {
    const page = await eventually('the watcher on the status page', async () => {
      const r = await proxies[0].operator('GET', '/guard/status', undefined, { accept: 'text/html' });
      return r.status === 200 && r.text.includes('(watch)') ? r.text : undefined;
    });
    assert.match(page, /\(watch\)/);
  });

  test('the index in Redis holds no cookie_id', async () => {
    const { client } = await import('../state/redis.js');
    const r = client(SHARED_PORT);
    try {
      const keys = await r.keys(`${prefix}*`);
      const texts = await Promise.all(keys.map(async (k) => {
        const type = await r.type(k);
        return type === 'string' ? (await r.get(k)) ?? '' : type === 'hash' ? JSON.stringify(await r.hgetall(k)) : JSON.stringify(await r.lrange(k, 0, -1).catch(() => []));
      }));
      const all = texts.join('\n');
      assert.ok(all.includes('alice'), 'the index names the users');
      for (const [name, u] of db.users) assert.ok(!all.includes(u.cookieId), `${name}'s cookie_id is not in Redis`);
    } finally {
      r.disconnect();
    }
  });

  test("a user created after the last read is identified: the proxy asks the watcher for a fresh read", async () => {
    const cid = newCookieId();
    db.exec(`INSERT INTO users (id, name, admin, created, cookie_id) VALUES (10, 'carol', 0, '2024-05-06 07:08:09', '${cid}')`);
    for (const g of proxies) {
      const minted = await eventually('carol to be identified', async () => {
        const r = await get(g.port, '/hub/home', { cookie: hubCookie(secret.key, cid) });
        return [r.headers['set-cookie']].flat().some((c) => c?.startsWith('hub-guard-session=')) ? true : undefined;
      }, 10_000, 200);
      assert.equal(minted, true);
    }
  });

  test("a grant written by the hub counts at once: bob's first request after it gets in, through the watcher's fresh read", async () => {
    db.exec([
      `INSERT INTO roles (id, name, scopes) VALUES (1, 'peek', '["access:servers!user=alice"]');`,
      `INSERT INTO user_role_map (user_id, role_id) VALUES (${db.users.get('bob')!.id}, 1);`,
    ].join('\n'));
    // the watcher reads every 60 s: only the read the refusal asks for can have seen the grant (a server bob was
    // not refused a moment ago: those reads are rate-limited per user and server)
    assert.equal((await get(proxies[1].port, '/user/alice/shared/lab', asUser('bob'))).status, 200);
    assert.equal(asserted(), 'bob');
  });

  test('with the watcher stopped the proxies keep serving on the last state, and say the watcher is away', async () => {
    await watcher!.stop('SIGTERM');
    watcher = await startWatcher('0.2');
    for (const g of proxies) await eventually('the fast watcher to report', async () => ((await readiness(g)).watcher === 'up' ? true : undefined));
    await watcher.stop('SIGTERM');
    watcher = undefined;
    for (const g of proxies) {
      const checks = await eventually('the proxy to see the watcher away', async () => {
        const r = await readiness(g);
        return r.watcher === 'away' ? r : undefined;
      });
      assert.equal(checks.db, 'healthy', 'the last state stays');
      assert.equal((await get(g.apiPort, '/readyz')).status, 200, 'still ready: it serves on the last state');
      // the gauge follows within its one-second tick
      if (g.metricsPort) await eventually('hub_guard_watcher_up 0', async () => (/^hub_guard_watcher_up 0$/m.test((await get(g.metricsPort!, '/metrics')).text) ? true : undefined), 3000);
      assert.equal((await get(g.port, '/user/alice/lab', asUser('alice'))).status, 200);
      assert.equal((await get(g.port, '/user/alice/lab', asUser('bob'))).status, 200, "bob's grant stays too");
    }
  });

  test("both proxies go into maintenance within a second of the watcher's critical finding", async () => {
    watcher = await startWatcher('0.2');
    for (const g of proxies) await eventually('the watcher back', async () => ((await readiness(g)).watcher === 'up' ? true : undefined));
    await eventually('hub_guard_watcher_up 1', async () => (/^hub_guard_watcher_up 1$/m.test((await get(proxies[0].metricsPort!, '/metrics')).text) ? true : undefined), 3000);
    db.wipe();
    await eventually("the watcher's switch to automatic maintenance", () => (parseLogLines(watcher!.stderr()).some((l) => l.audit === true && l.action === 'on' && l.mode === 'auto') ? true : undefined));
    for (const g of proxies) {
      const r = await eventually('the proxy to hold traffic', async () => {
        const reply = await get(g.port, '/user/alice/lab', asUser('alice'));
        return reply.status === 503 ? reply : undefined;
      }, 1000, 20);
      assert.match(r.text, /down for maintenance/);
    }
  });
});
