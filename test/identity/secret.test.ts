import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { loadCookieSecret } from '../../src/identity/secret.js';

const HEX = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
const SECRET = Buffer.from(HEX, 'hex');
// The same 32 bytes as pre-0.8 base64, followed by junk that a2b_base64 ignores after the padding.
const LEGACY_B64 = `${SECRET.toString('base64')}garbage!!`;

let dir: string;
let counter = 0;

/** Writes a secret file with the given content and mode into the test's temp dir and returns its path. */
function secretFile(content: string | Buffer, mode = 0o600): string {
  const path = join(dir, `secret-${counter++}`);
  writeFileSync(path, content);
  chmodSync(path, mode);
  return path;
}

function loadError(opts: Parameters<typeof loadCookieSecret>[0]): string {
  try {
    loadCookieSecret(opts);
  } catch (err) {
    assert.ok(err instanceof Error);
    return err.message;
  }
  assert.fail('loadCookieSecret should have thrown');
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hub-guard-secret-'));
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('loadCookieSecret from a file', () => {
  test('hex, hex with a newline, upper-case hex, surrounding whitespace', () => {
    for (const content of [HEX, `${HEX}\n`, `${HEX.toUpperCase()}\r\n`, ` \t${HEX}\n\n`, `\u3000${HEX}\u2028\u0085`]) {
      assert.deepEqual(loadCookieSecret({ file: secretFile(content) }), SECRET, JSON.stringify(content));
    }
  });

  test('every byte counts: long secrets are used whole', () => {
    const long = Buffer.alloc(129, 7);
    long[128] = 8;
    assert.deepEqual(loadCookieSecret({ file: secretFile(long.toString('hex')) }), long);
  });

  test('legacy base64 is decoded leniently: junk after the padding is ignored', () => {
    assert.deepEqual(loadCookieSecret({ file: secretFile(LEGACY_B64) }), SECRET);
    assert.deepEqual(loadCookieSecret({ file: secretFile('ab cd') }), Buffer.from('abcd', 'base64'));
    assert.deepEqual(loadCookieSecret({ file: secretFile('QQ==QUJD') }), Buffer.from('A'));
  });

  test('group permission bits are allowed, any "other" bit is refused with flag and path named', () => {
    assert.deepEqual(loadCookieSecret({ file: secretFile(HEX, 0o640) }), SECRET);
    assert.deepEqual(loadCookieSecret({ file: secretFile(HEX, 0o400) }), SECRET);
    for (const mode of [0o644, 0o604, 0o602, 0o601, 0o666]) {
      const path = secretFile(HEX, mode);
      const message = loadError({ file: path });
      assert.match(message, /^--cookie-secret-file /);
      assert.ok(message.includes(path), message);
      assert.match(message, /other users/);
      assert.ok(!message.includes(HEX), 'the secret must not appear in the error');
    }
  });

  test('a missing file names the flag and the path', () => {
    const path = join(dir, 'does-not-exist');
    const message = loadError({ file: path });
    assert.ok(message.startsWith(`--cookie-secret-file ${path}: no such file`), message);
    assert.ok(loadError({ file: path, flagName: '--hub-cookie-secret' }).startsWith(`--hub-cookie-secret ${path}`));
  });

  test('relative paths are taken from the current directory', () => {
    const path = secretFile(HEX);
    assert.deepEqual(loadCookieSecret({ file: relative(process.cwd(), path) }), SECRET);
  });

  test('content the hub refuses, or that yields no bytes, is an error that never shows the content', () => {
    const bad: [string | Buffer, RegExp][] = [
      ['abc', /incorrect padding/],
      ['QUJDR', /incorrect padding/],
      [`\ufeff${HEX}`, /non-ASCII/],
      [`${HEX.slice(0, 60)}é`, /non-ASCII/],
      [Buffer.from([0xff, 0xfe, 0x41]), /not UTF-8/],
      ['', /empty secret/],
      ['\n \n', /empty secret/],
      ['====', /empty secret/],
    ];
    for (const [content, reason] of bad) {
      const path = secretFile(content);
      const message = loadError({ file: path });
      assert.ok(message.startsWith(`--cookie-secret-file ${path}: `), message);
      assert.match(message, reason);
      if (typeof content === 'string' && content.trim()) assert.ok(!message.includes(content.trim()), message);
    }
  });

  test('a directory is not a secret file', () => {
    const sub = join(dir, 'a-directory');
    mkdirSync(sub, { mode: 0o700 });
    assert.match(loadError({ file: sub }), /not a regular file/);
  });
});

describe('loadCookieSecret from JPY_COOKIE_SECRET', () => {
  test('the env hex wins over the file', () => {
    const other = 'ff'.repeat(32);
    assert.deepEqual(loadCookieSecret({ envHex: other, file: secretFile(HEX) }), Buffer.from(other, 'hex'));
    assert.deepEqual(loadCookieSecret({ envHex: HEX.toUpperCase() }), SECRET);
  });

  test('an empty env value counts as unset', () => {
    assert.deepEqual(loadCookieSecret({ envHex: '', file: secretFile(HEX) }), SECRET);
  });

  test('bad hex names the variable, not the value', () => {
    for (const env of [`${HEX}0`, `${HEX} `, `${HEX.slice(0, 62)}zz`, 'é0']) {
      const message = loadError({ envHex: env, file: secretFile(HEX) });
      assert.match(message, /^JPY_COOKIE_SECRET is not hex/);
      assert.ok(!message.includes(HEX.slice(0, 16)), message);
    }
  });

  test('no source at all', () => {
    assert.match(loadError({}), /set JPY_COOKIE_SECRET or --cookie-secret-file/);
  });
});

// The real JupyterHub 3.0 init_secrets on the same files and env values.
describe('parity with JupyterHub.init_secrets via /usr/bin/python3', () => {
  const PY = String.raw`
import sys, os, json, logging
from jupyterhub.app import JupyterHub
results = []
for case in json.loads(sys.stdin.read()):
    os.environ.pop('JPY_COOKIE_SECRET', None)
    if case.get('env'):
        os.environ['JPY_COOKIE_SECRET'] = case['env']
    app = JupyterHub()
    app.log.setLevel(logging.CRITICAL)
    app.cookie_secret_file = case['file']
    try:
        app.init_secrets()
        results.append(app.cookie_secret.hex())
    except SystemExit:
        results.append('refused')
    except Exception:
        results.append('refused')
json.dump(results, sys.stdout)
`;

  test('the guard loads the bytes the hub loads, and refuses what the hub refuses', () => {
    const cases: { file: string; env?: string }[] = [];
    for (const content of [HEX, `${HEX}\n`, `${HEX.toUpperCase()}\r\n`, `\u3000\u000b${HEX}\u2028\u001c`, LEGACY_B64, 'ab cd', 'abcd', 'abc',
      'QQ==', 'QQ==QUJD', 'QUJDR', `\ufeff${HEX}`, 'é', Buffer.alloc(129, 9).toString('hex'), '\u0000QUJD', 'QQ=x=', 'Q===QUJD']) {
      cases.push({ file: secretFile(content) });
    }
    cases.push({ file: secretFile(Buffer.from([0xff, 0xfe])) });
    for (const mode of [0o640, 0o644, 0o604, 0o601, 0o400]) cases.push({ file: secretFile(HEX, mode) });
    for (const env of ['ff'.repeat(32), HEX.toUpperCase(), 'abc', `${HEX}\n`, 'zz']) cases.push({ file: secretFile(HEX), env });

    const r = spawnSync('/usr/bin/python3', ['-c', PY], { input: JSON.stringify(cases), encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`/usr/bin/python3 with jupyterhub is needed for this test (apt-get install jupyterhub): ${r.error?.message ?? r.stderr}`);
    const hub = JSON.parse(r.stdout) as string[];
    assert.equal(hub.length, cases.length);
    cases.forEach((c, i) => {
      let ours: string;
      try {
        ours = loadCookieSecret({ file: c.file, envHex: c.env }).toString('hex');
      } catch {
        ours = 'refused';
      }
      assert.equal(ours, hub[i], JSON.stringify(c));
    });
  });
});
