// The shared-state flags: --redis-url, --redis-sentinels/--redis-sentinel-name, --redis-prefix, --activity-interval.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildConfig, ConfigError } from '../../src/config.js';
import { describeRedis } from '../../src/state/redis-store.js';

const build = (args: string[], env: NodeJS.ProcessEnv = {}) => buildConfig(args, env);

function refused(args: string[], pattern: RegExp): void {
  assert.throws(() => build(args), (e: unknown) => e instanceof ConfigError && pattern.test(e.message), `${args.join(' ')} should fail with ${pattern}`);
}

test('without Redis flags: no shared store, last_activity written every 5 s', () => {
  const c = build([]);
  assert.equal(c.redis, undefined);
  assert.equal(c.activityIntervalMs, 5000);
  assert.equal(build(['--activity-interval', '0.5']).activityIntervalMs, 500);
});

test('--redis-url: host, port, database, credentials and TLS', () => {
  assert.deepEqual(build(['--redis-url', 'redis://127.0.0.1']).redis, { host: '127.0.0.1', port: 6379, tls: false, db: 0, prefix: 'hub-guard:', username: undefined, password: undefined });
  const c = build(['--redis-url', 'rediss://guard:p%40ss@redis.example:6380/3', '--redis-prefix', 'hub-a:']).redis!;
  assert.deepEqual({ ...c }, { host: 'redis.example', port: 6380, tls: true, db: 3, username: 'guard', password: 'p@ss', prefix: 'hub-a:' });
  assert.equal(build(['--redis-url', 'redis://[::1]:7000']).redis!.host, '::1');
  assert.equal(build(['--redis-url', 'redis://:from-url@h'], { HUB_GUARD_REDIS_PASSWORD: 'from-env' }).redis!.password, 'from-env');
});

test('--redis-sentinels with --redis-sentinel-name; the URL then only lends credentials, database and TLS', () => {
  const c = build(['--redis-sentinels', 's1:26379, [::1]:26380', '--redis-sentinel-name', 'mymaster', '--redis-url', 'rediss://:pw@ignored/2'], { HUB_GUARD_REDIS_SENTINEL_PASSWORD: 'spw' }).redis!;
  assert.deepEqual(c.sentinels, [{ host: 's1', port: 26379 }, { host: '::1', port: 26380 }]);
  assert.equal(c.sentinelName, 'mymaster');
  assert.equal(c.sentinelPassword, 'spw');
  assert.equal(c.password, 'pw');
  assert.equal(c.db, 2);
  assert.equal(c.tls, true);
  assert.equal(describeRedis(c), "redis sentinel 'mymaster' via s1:26379,::1:26380 (prefix hub-guard:)");
});

test('every bad value is refused naming its flag, and never shows a password', () => {
  refused(['--redis-url', 'http://127.0.0.1:6379'], /^--redis-url must start with redis:\/\/ or rediss:\/\//);
  refused(['--redis-url', 'not a url'], /^--redis-url must be a URL/);
  refused(['--redis-url', 'redis://h/zero'], /^--redis-url: the path must be a database number/);
  refused(['--redis-url', 'redis://h/0?family=6'], /^--redis-url takes no query/);
  refused(['--redis-sentinels', 'h:1'], /^--redis-sentinels needs --redis-sentinel-name/);
  refused(['--redis-sentinel-name', 'm'], /^--redis-sentinel-name needs --redis-sentinels/);
  refused(['--redis-sentinels', 'h', '--redis-sentinel-name', 'm'], /^--redis-sentinels must be host:port/);
  refused(['--redis-sentinels', 'h:70000', '--redis-sentinel-name', 'm'], /^--redis-sentinels must be host:port/);
  refused(['--redis-prefix', 'x:'], /^--redis-prefix needs --redis-url or --redis-sentinels/);
  refused(['--redis-url', 'redis://h', '--redis-prefix', 'has space'], /^--redis-prefix must be/);
  refused(['--activity-interval', '0'], /^--activity-interval must be a number from 0.1 to 3600/);
  for (const url of ['http://user:s3cret@h', 'redis://user:s3cret@h/x', 'redis://:s3cret@h?x=1', 'redis://:s3cret@@h:notaport']) {
    assert.throws(() => build(['--redis-url', url]), (e: Error) => !e.message.includes('s3cret'), url);
  }
});

test('the store description names the server, never the password', () => {
  const c = build(['--redis-url', 'redis://guard:s3cret@10.0.0.5:6379/1', '--redis-prefix', 'p:']).redis!;
  assert.equal(describeRedis(c), 'redis://10.0.0.5:6379/1 (prefix p:)');
});
