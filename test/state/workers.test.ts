// --workers: processes sharing the ports agree through Redis like separate replicas.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startBackend, type Backend } from '../helpers/backend.js';
import { addRoute, api, proxied, startProxy, type RunningProxy } from '../helpers/proxies.js';
import { SHARED_PORT, dropPrefix, uniquePrefix } from './redis.js';

/** Every one of `n` requests in a row answers `status`; requests spread over the workers. */
async function allAnswer(proxy: RunningProxy, path: string, status: number, n = 20): Promise<boolean> {
  for (let attempt = 0; attempt < 100; attempt++) {
    let ok = true;
    for (let i = 0; i < n && ok; i++) ok = (await proxied(proxy, 'GET', path)).status === status;
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

describe('--workers 2 on one Redis', () => {
  const prefix = uniquePrefix('workers');
  let backend: Backend;
  let proxy: RunningProxy;

  before(async () => {
    backend = await startBackend({ name: 'alice' });
    proxy = await startProxy('hub-guard', ['--workers', '2', '--redis-url', `redis://127.0.0.1:${SHARED_PORT}`, '--redis-prefix', prefix]);
  });
  after(async () => {
    await proxy?.stop();
    await backend?.stop();
    await dropPrefix(SHARED_PORT, prefix);
  });

  test('a route added through the API is served by every worker', async () => {
    await addRoute(proxy, '/user/alice', { target: backend.url, user: 'alice', server_name: '' });
    assert.ok(await allAnswer(proxy, '/user/alice/api', 200));
  });

  test('maintenance switched through one worker holds requests on all', async () => {
    assert.equal((await api(proxy, 'PUT', '/api/guard/maintenance', { reason: 'test' })).status, 200);
    assert.ok(await allAnswer(proxy, '/user/alice/api', 503));
    assert.equal((await api(proxy, 'DELETE', '/api/guard/maintenance')).status, 200);
    assert.ok(await allAnswer(proxy, '/user/alice/api', 200));
  });
});

test('--workers above 1 without Redis fails at start, naming the flag', () => {
  const r = spawnSync(process.execPath, ['dist/src/cli.js', '--workers', '2'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--workers above 1 needs --redis-url/);
});

describe('--workers 2: a worker that dies is replaced, and the others keep serving', () => {
  const prefix = uniquePrefix('workers-die');
  let backend: Backend;
  let proxy: RunningProxy;

  before(async () => {
    backend = await startBackend({ name: 'alice' });
    proxy = await startProxy('hub-guard', ['--workers', '2', '--redis-url', `redis://127.0.0.1:${SHARED_PORT}`, '--redis-prefix', prefix]);
    await addRoute(proxy, '/user/alice', { target: backend.url, user: 'alice', server_name: '' });
    assert.ok(await allAnswer(proxy, '/user/alice/api', 200));
  });
  after(async () => {
    await proxy?.stop();
    await backend?.stop();
    await dropPrefix(SHARED_PORT, prefix);
  });

  const workerPids = (): number[] => {
    const r = spawnSync('ps', ['-o', 'pid=', '--ppid', String(proxy.pid)], { encoding: 'utf8' });
    return r.stdout.split('\n').map((l) => Number(l.trim())).filter((n) => n > 0);
  };

  async function workersReplaced(gone: number): Promise<number[]> {
    for (let i = 0; i < 200; i++) {
      const pids = workerPids();
      if (pids.length === 2 && !pids.includes(gone)) return pids;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`workers not replaced: ${workerPids().join(', ')} (killed ${gone})`);
  }

  // before: two deaths within 5 s of a worker's start stopped every worker, so two crashing requests ended the service
  test('killing a worker, then its young replacement, leaves the service up with two workers', async () => {
    const [first] = workerPids();
    assert.ok(first, 'a worker process');
    process.kill(first, 'SIGKILL');
    // pids grow, so the replacement is the newest
    const newest = Math.max(...(await workersReplaced(first)));
    process.kill(newest, 'SIGKILL');
    await workersReplaced(newest);
    assert.ok(await allAnswer(proxy, '/user/alice/api', 200), 'still serving');
    assert.match(proxy.output(), /worker died; starting another/);
    assert.doesNotMatch(proxy.output(), /failed at start; stopping/);
  });
});
