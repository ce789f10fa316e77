import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { parseCookies, stripCookies } from '../../src/identity/cookies.js';

const HUB_COOKIE = '2|1:0|10:1700000000|20:jupyterhub-hub-login|44:NmYxYzNiMmE5ZDhlNGY3YThiMGMxZDJlM2Y0MDUxNjI=|342df6d7df22117fd0c21aeeb84d9ad9aea495f4030dbb3af95ec469459c9833';

function entries(header: string | undefined): [string, string][] {
  return [...parseCookies(header)];
}

describe('parseCookies', () => {
  test('a browser header with the quoted hub cookie (facts §1.1)', () => {
    const header = `jupyterhub-session-id=bba19044b4a445af86442fd84ef069b1; jupyterhub-hub-login="${HUB_COOKIE}"; _xsrf=2|a|b|1700000000`;
    assert.deepEqual(entries(header), [
      ['jupyterhub-session-id', 'bba19044b4a445af86442fd84ef069b1'],
      ['jupyterhub-hub-login', HUB_COOKIE],
      ['_xsrf', '2|a|b|1700000000'],
    ]);
  });

  test('the last occurrence of a name wins', () => {
    assert.equal(parseCookies('a=1; b=2; a=3').get('a'), '3');
    assert.equal(parseCookies('jupyterhub-hub-login="x"; jupyterhub-hub-login=').get('jupyterhub-hub-login'), '');
  });

  test('exactly one pair of surrounding quotes is removed', () => {
    assert.equal(parseCookies('a="x"').get('a'), 'x');
    assert.equal(parseCookies('a=""x""').get('a'), '"x"');
    assert.equal(parseCookies('a=""').get('a'), '');
    assert.equal(parseCookies('a="').get('a'), '"');
    assert.equal(parseCookies('a="x').get('a'), '"x');
    assert.equal(parseCookies('a=x"').get('a'), 'x"');
    assert.equal(parseCookies('a= "x" ').get('a'), 'x');
  });

  test("backslash escapes inside quotes are undone like Python's http.cookies._unquote", () => {
    assert.equal(parseCookies('a="x\\"y"').get('a'), 'x"y');
    assert.equal(parseCookies('a="\\101\\\\"').get('a'), 'A\\');
    assert.equal(parseCookies('a="\\477"').get('a'), '477'); // first octal digit above 3: a plain escape of '4'
    assert.equal(parseCookies('a="x\\"').get('a'), 'x\\'); // a backslash just before the closing quote stays
    assert.equal(parseCookies('a=x\\"y').get('a'), 'x\\"y'); // unquoted values are left alone
  });

  test('whitespace around names and values is stripped the way Python str.strip() does', () => {
    assert.deepEqual(entries(' \ta = 1 \t;\u00a0b\u0085=\u30002\u001f'), [['a', '1'], ['b', '2']]);
    assert.equal(parseCookies('a=\ufeffx').get('a'), '\ufeffx'); // not whitespace for Python
  });

  test('names split at the first "=", values may contain "="', () => {
    assert.equal(parseCookies('a=b=c==').get('a'), 'b=c==');
  });

  test('names SimpleCookie refuses are left out, as tornado does', () => {
    assert.deepEqual(entries('=x; y; path=/; Expires=now; a b=1; é=2; ok=3; Max-Age=4; HttpOnly=5; co"x=6'), [['ok', '3']]);
    assert.deepEqual(entries("!#$%&'*+-.^_`|~:=1"), [["!#$%&'*+-.^_`|~:", '1']]);
    assert.deepEqual(entries('paths=1; expire=2'), [['paths', '1'], ['expire', '2']]);
  });

  test('missing, empty and separator-only headers give an empty map', () => {
    for (const h of [undefined, '', ';', ' ; ; ', '=', ';=;']) assert.equal(parseCookies(h).size, 0, JSON.stringify(h));
  });

  test('never throws and stays linear on big or odd input', () => {
    const inputs = ['a'.repeat(100_000), ';'.repeat(100_000) + '=', '"'.repeat(100_001), `a="${'\\'.repeat(100_000)}"`,
      `${'x=1;'.repeat(20_000)}`, '\ud800=\udfff', '\u0000=\u0000'];
    for (const h of inputs) parseCookies(h);
    assert.equal(parseCookies(`${'x=1;'.repeat(20_000)}x=2`).get('x'), '2');
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (h) => { parseCookies(h); }), { numRuns: 1000 });
  });
});

describe('stripCookies', () => {
  const header = `jupyterhub-session-id=abc; jupyterhub-hub-login="${HUB_COOKIE}";  _xsrf=2|a|b|1 ; x="q\\"r"`;

  test('drops the named cookies and keeps the others byte for byte', () => {
    assert.equal(stripCookies(header, (n) => n === 'jupyterhub-hub-login'), 'jupyterhub-session-id=abc;  _xsrf=2|a|b|1 ; x="q\\"r"');
    assert.equal(stripCookies(header, (n) => n === 'jupyterhub-session-id'), `jupyterhub-hub-login="${HUB_COOKIE}";  _xsrf=2|a|b|1 ; x="q\\"r"`);
    assert.equal(stripCookies(header, (n) => n === 'x'), `jupyterhub-session-id=abc; jupyterhub-hub-login="${HUB_COOKIE}";  _xsrf=2|a|b|1 `);
    assert.equal(stripCookies(header, (n) => n.startsWith('jupyterhub-')), '_xsrf=2|a|b|1 ; x="q\\"r"');
  });

  test('every occurrence of a dropped name goes', () => {
    assert.equal(stripCookies('a=1; b=2; a=3; c=4; a=5', (n) => n === 'a'), 'b=2; c=4');
  });

  test('undefined when no cookie remains', () => {
    assert.equal(stripCookies(header, () => true), undefined);
    assert.equal(stripCookies('a=1;; ;', (n) => n === 'a'), undefined);
    assert.equal(stripCookies('; ;', () => false), undefined);
    assert.equal(stripCookies('', () => false), undefined);
  });

  test('the same string comes back when nothing is dropped', () => {
    assert.equal(stripCookies(header, () => false), header);
    assert.equal(stripCookies('a=1;;b=2;', () => false), 'a=1;;b=2;');
  });

  test('the predicate sees names as tornado does: stripped, and "" for a chunk without "="', () => {
    const seen: string[] = [];
    stripCookies(' a\t= 1; b\u00a0=2; =x;lonely; ;', (n) => { seen.push(n); return false; });
    assert.deepEqual(seen, ['a', 'b', '', '']);
  });

  test('parseCookies(stripCookies(h)) is parseCookies(h) without the dropped names (property)', () => {
    const unit = fc.constantFrom('a', 'b', 'c', '=', ';', ' ', '"', '\\', '\t', '1', '\u00a0', 'path');
    fc.assert(fc.property(fc.string({ unit, maxLength: 40 }), fc.subarray(['a', 'b', 'c', 'ab', '', 'path', 'a b']), (h, names) => {
      const drop = new Set(names);
      const stripped = stripCookies(h, (n) => drop.has(n));
      const expected = [...parseCookies(h)].filter(([n]) => !drop.has(n));
      assert.deepEqual(entries(stripped), expected);
    }), { numRuns: 3000 });
  });
});

// The real thing: tornado's HTTPServerRequest.cookies (parse_cookie + SimpleCookie) on the same headers.
describe('parity with tornado request.cookies via /usr/bin/python3', () => {
  const PY = String.raw`
import sys, json
from tornado.httputil import HTTPHeaders, HTTPServerRequest
out = []
for h in json.loads(sys.stdin.buffer.read().decode('utf-8')):
    req = HTTPServerRequest(method='GET', uri='/', headers=HTTPHeaders({'Cookie': h}))
    out.append([[k, m.value] for k, m in req.cookies.items()])
json.dump(out, sys.stdout)
`;
  const headers: string[] = [];
  let theirs: [string, string][][] = [];

  before(() => {
    headers.push(
      `jupyterhub-session-id=bba19044b4a445af86442fd84ef069b1; jupyterhub-hub-login="${HUB_COOKIE}"`,
      'a=1; a=2', 'a="\\101\\477\\"\\\\x"', 'a="x\\\ny"', ' path=1; Path=2; x y=3; =4; 5; ok="6', '\u0085a\u0085=\u00a0b\u00a0; \u001cc=d\u001f',
      'é=1; a=é; b="é"', 'a=\ufeff1\ufeff', 'jupyterhub-user-jane%40example.com=tok; jupyterhub-user-jane%40example.com-oauth-state=s',
    );
    const unit = fc.constantFrom('a', 'B', '=', ';', ';', ' ', '"', '\\', '\t', '0', '3', '7', '\n', '\u0085', '\u00a0', '\u001f', 'é', '\u3000', 'path', 'Expires', '@', ',');
    headers.push(...fc.sample(fc.string({ unit, maxLength: 30 }), { numRuns: 3000, seed: 7 }));
    const r = spawnSync('/usr/bin/python3', ['-c', PY], { input: JSON.stringify(headers), maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`/usr/bin/python3 with tornado is needed for this test (apt-get install python3-tornado): ${r.error?.message ?? r.stderr}`);
    theirs = JSON.parse(r.stdout) as [string, string][][];
  });

  test('parseCookies gives the same names, values and order as tornado', () => {
    assert.equal(theirs.length, headers.length);
    headers.forEach((h, i) => assert.deepEqual(entries(h), theirs[i], JSON.stringify(h)));
  });
});
