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
