// Redis found through Sentinel: a redis-server and a Sentinel monitoring it, both the test's own on free ports.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Maintenance } from '../../src/monitor/maintenance.js';
import { RedisStore } from '../../src/state/redis-store.js';
import { MemoryStore } from '../../src/state/store.js';
import { freePort } from '../helpers/ports.js';
import { start, waitForPort, type Proc } from '../helpers/proc.js';
import { send } from '../helpers/http.js';
import { startProxy, type RunningProxy } from '../helpers/proxies.js';
import { eventually, ownRedis, redisConfig, type OwnRedis } from './redis.js';

describe('Redis through Sentinel', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hub-guard-sentinel-'));
  let primary: OwnRedis;
  let sentinel: Proc;
  let sentinelPort: number;
  const stores: RedisStore[] = [];
  let proxy: RunningProxy | undefined;

  before(async () => {
    primary = await ownRedis();
    await primary.start();
    sentinelPort = await freePort();
    const conf = join(dir, 'sentinel.conf');
    // Sentinel rewrites its configuration file, so it gets a scratch copy
    writeFileSync(conf, `port ${sentinelPort}\nbind 127.0.0.1\nsentinel monitor hubguard 127.0.0.1 ${primary.port} 1\n`);
    sentinel = start('redis-server', [conf, '--sentinel']);
    await waitForPort(sentinelPort, '127.0.0.1', 10_000, sentinel);
  });

  after(async () => {
    await proxy?.stop();
    for (const s of stores) await s.close();
    await sentinel?.stop();
    await primary?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const viaSentinel = () => {
    const s = new RedisStore({ ...redisConfig(0, 'hg:'), sentinels: [{ host: '127.0.0.1', port: sentinelPort }], sentinelName: 'hubguard' }, new MemoryStore());
    stores.push(s);
    return s;
  };

  test('two stores that found the primary through Sentinel share maintenance', { timeout: 30_000 }, async () => {
    const a = viaSentinel();
    const b = viaSentinel();
    const ma = new Maintenance(a);
    const mb = new Maintenance(b);
    await ma.load();
    await mb.load();
    await Promise.all([a.connect(5000), b.connect(5000)]);
    assert.ok(a.up && b.up);
    await ma.on('manual', 'via sentinel', 'alice');
    await eventually('B to follow', () => (mb.current?.reason === 'via sentinel' ? true : undefined), 1000);
  });

  test('hub-guard started with --redis-sentinels is ready with its state store up', { timeout: 30_000 }, async () => {
    proxy = await startProxy('hub-guard', ['--redis-sentinels', `127.0.0.1:${sentinelPort}`, '--redis-sentinel-name', 'hubguard', '--redis-prefix', 'hg:']);
    const ready = await eventually('/readyz', async () => {
      const r = await send(proxy!.apiPort, 'GET', '/readyz');
      return r.status === 200 ? r.json<{ state: string; state_store: string }>() : undefined;
    });
    assert.equal(ready.state_store, 'up');
    assert.match(ready.state, /^redis sentinel 'hubguard' via 127\.0\.0\.1:\d+ \(prefix hg:\), mirrored in memory$/);
  });
});
