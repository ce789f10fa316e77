import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, WATCH_FLAGS, buildConfig, buildWatchConfig, helpText, FLAGS } from '../src/config.js';

test("defaults are CHP's", () => {
  const c = buildConfig([], {});
  assert.deepEqual(c.listen, { host: undefined, port: 8000 });
  assert.deepEqual(c.apiListen, { host: 'localhost', port: 8001 });
  assert.equal(c.metricsListen, undefined);
  assert.equal(c.xForward, true);
  assert.equal(c.includePrefix, true);
  assert.equal(c.prependPath, true);
  assert.equal(c.keepAliveTimeout, 5000);
  assert.equal(c.authToken, undefined);
});

test('the flags JupyterHub passes are accepted, in both spellings', () => {
  const c = buildConfig(['--ip', '127.0.0.1', '--port=9000', '--api-ip', '127.0.0.1', '--api-port', '9001',
    '--error-target', 'http://127.0.0.1:8081/hub/error', '--log-level', 'debug', '--no-x-forward',
    '--custom-header', 'a: b', '--custom-header', 'c:d', '--timeout', '100'], { CONFIGPROXY_AUTH_TOKEN: 't' });
  assert.deepEqual(c.listen, { host: '127.0.0.1', port: 9000 });
  assert.deepEqual(c.apiListen, { host: '127.0.0.1', port: 9001 });
  assert.equal(c.errorTarget, 'http://127.0.0.1:8081/hub/error');
  assert.equal(c.xForward, false);
  assert.deepEqual(c.customHeaders, { a: 'b', c: 'd' });
  assert.equal(c.timeout, 100);
  assert.equal(c.authToken, 't');
  assert.equal(buildConfig(['--port', '9000'], {}).apiListen.port, 9001, 'api port defaults to port + 1');
});

test('bad flags fail with a message naming the flag', () => {
  const cases: [string[], RegExp][] = [
    [['--nope'], /--nope/],
    [['--port', 'x'], /--port/],
    [['--port', '70000'], /--port/],
    [['--api-port'], /--api-port needs a value/],
    [['--log-level', 'loud'], /--log-level/],
    [['--default-target', 'nope'], /--default-target/],
    [['--error-target', 'ftp://x'], /--error-target/],
    [['--error-target', 'http://x', '--error-path', '/tmp'], /--error-target and --error-path/],
    [['--custom-header', 'novalue'], /--custom-header/],
    [['--ssl-key', '/nonexistent/key.pem'], /--ssl-key: cannot read/],
    [['--host-routing=yes'], /takes no value/],
    [['stray'], /unexpected argument/],
    [['--redirect-port', '80'], /--redirect-port needs/],
  ];
  for (const [argv, re] of cases) {
    assert.throws(() => buildConfig(argv, {}), (e: unknown) => e instanceof ConfigError && re.test(e.message), argv.join(' '));
  }
});

test('help lists every flag', () => {
  const text = helpText();
  for (const f of FLAGS) assert.ok(text.includes(f.name), f.name);
});

test('the proxy/watcher split: --watcher on a proxy, `hub-guard watch` flags, and what each refuses', () => {
  const redis = ['--redis-url', 'redis://127.0.0.1:6379'];
  assert.equal(buildConfig(['--watcher', ...redis], {}).watcher, true);
  assert.equal(buildConfig([], {}).watcher, false);
  const w = buildWatchConfig(['--hub-db', 'sqlite:///srv/jupyterhub/jupyterhub.sqlite', ...redis, '--db-check-interval', '2', '--backup-dir', '/b'], {});
  assert.equal(w.hubDb, 'sqlite:///srv/jupyterhub/jupyterhub.sqlite');
  assert.equal(w.dbCheckIntervalMs, 2000);
  assert.equal(w.backup?.dir, '/b');
  const cases: [() => unknown, string, RegExp][] = [
    [() => buildConfig(['--watcher'], {}), '--watcher', /needs --redis-url/],
    [() => buildConfig(['--watcher', ...redis, '--hub-db', 'sqlite:///x'], {}), '--watcher', /cannot be used together/],
    [() => buildWatchConfig([...redis], {}), '--hub-db', /--hub-db is required/],
    [() => buildWatchConfig(['--hub-db', 'sqlite:///x'], {}), '--redis-url', /--redis-url .*is required/],
    // a proxy's flag given to the watcher is a mistake in the manifest, not something to ignore
    [() => buildWatchConfig(['--hub-db', 'sqlite:///x', ...redis, '--port', '8000'], {}), '--port', /unknown flag --port/],
  ];
  for (const [run, flag, re] of cases) {
    assert.throws(run, (e: unknown) => e instanceof ConfigError && e.flag === flag && re.test(e.message), `${flag} ${re}`);
  }
  for (const f of WATCH_FLAGS) assert.ok(FLAGS.includes(f), `--${f.name} is one of the proxy's flags, read the same way`);
});

test('backup sizes: --backup-min-free and --backup-max-bytes take bytes, K/M/G/T (1024-based) or a share', () => {
  const base = ['--hub-db', 'sqlite:////srv/jupyterhub/jupyterhub.sqlite', '--backup-dir', '/srv/backups'];
  const b = buildConfig(base, {}).backup!;
  assert.deepEqual([b.minFree, b.maxBytes], [undefined, { percent: 25 }], 'reserve from the database size, budget a quarter of the volume');
  const sizes: [string, object][] = [
    ['1048576', { bytes: 1048576 }], ['200M', { bytes: 200 * 2 ** 20 }], ['1G', { bytes: 2 ** 30 }], ['1.5GiB', { bytes: 1.5 * 2 ** 30 }],
    ['64k', { bytes: 65536 }], ['2 TB', { bytes: 2 * 2 ** 40 }], ['512b', { bytes: 512 }], ['10%', { percent: 10 }], ['0', { bytes: 0 }],
  ];
  for (const [text, size] of sizes) {
    assert.deepEqual(buildConfig([...base, '--backup-min-free', text], {}).backup!.minFree, size, text);
    if (text !== '0') assert.deepEqual(buildConfig([...base, `--backup-max-bytes=${text}`], {}).backup!.maxBytes, size, text);
  }
  const bad: [string[], string, RegExp][] = [
    [['--backup-min-free', 'lots'], '--backup-min-free', /--backup-min-free must be a size .* got 'lots'/],
    [['--backup-min-free', '-1G'], '--backup-min-free', /--backup-min-free must be a size .* got '-1G'/],
    [['--backup-max-bytes', '150%'], '--backup-max-bytes', /--backup-max-bytes must be a size .* got '150%'/],
    [['--backup-max-bytes', '1X'], '--backup-max-bytes', /--backup-max-bytes must be a size/],
    [['--backup-max-bytes', '0'], '--backup-max-bytes', /--backup-max-bytes must be more than 0/],
    [['--backup-max-bytes', '0%'], '--backup-max-bytes', /--backup-max-bytes must be more than 0/],
    [['--backup-max-bytes', '99999999999T'], '--backup-max-bytes', /--backup-max-bytes must be a size/],
  ];
  for (const [extra, flag, re] of bad) {
    assert.throws(() => buildConfig([...base, ...extra], {}), (e: unknown) => e instanceof ConfigError && e.flag === flag && re.test(e.message), extra.join(' '));
  }
  for (const flag of ['--backup-min-free', '--backup-max-bytes']) {
    assert.throws(() => buildConfig([flag, '1G'], {}), (e: unknown) => e instanceof ConfigError && e.flag === flag && e.message === `${flag} needs --backup-dir`);
  }
});
