import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BadPath, hostOf, resolvePath, stripPrefix } from '../../src/proxy/path.js';

const r = (url: string, host?: string, hostRouting = false) => resolvePath(url, host, hostRouting);

test('plain paths pass through untouched', () => {
  assert.deepEqual(r('/user/alice/tree?x=1'), { routePath: '/user/alice/tree', forwardUrl: '/user/alice/tree?x=1' });
});

test('percent-encoding is decoded for routing only', () => {
  assert.deepEqual(r('/user/ali%63e/'), { routePath: '/user/alice/', forwardUrl: '/user/ali%63e/' });
  assert.equal(r('/user/jane%20doe/').routePath, '/user/jane doe/');
});

test('dot segments are resolved for routing AND forwarding, so both agree', () => {
  assert.deepEqual(r('/user/alice/../bob/tree'), { routePath: '/user/bob/tree', forwardUrl: '/user/bob/tree' });
  assert.deepEqual(r('/user/alice/%2e%2e/bob/x'), { routePath: '/user/bob/x', forwardUrl: '/user/bob/x' });
  assert.deepEqual(r('/user/alice/./x'), { routePath: '/user/alice/x', forwardUrl: '/user/alice/x' });
  assert.equal(r('/user\\bob/').routePath, '/user/bob/');
});

test('a double slash is a path, not a host', () => {
  assert.equal(r('//user/bob').routePath, '//user/bob');
  assert.equal(r('//evil.example/x').routePath, '//evil.example/x');
});

test('absolute-form request targets use their path', () => {
  assert.deepEqual(r('http://example.org/user/a?q'), { routePath: '/user/a', forwardUrl: '/user/a?q' });
});

test('bad request targets are a BadPath', () => {
  assert.throws(() => r('/user/%E0%A4%A'), BadPath);
  assert.throws(() => r('/user/a%00b'), BadPath);
  assert.throws(() => r('*'), BadPath);
  assert.throws(() => r(''), BadPath);
  assert.throws(() => r('ftp://x/y'), BadPath);
});

test('host routing prefixes the lower-cased host without port', () => {
  assert.equal(r('/x', 'Alice.Example.org:8000', true).routePath, '/alice.example.org/x');
  assert.equal(hostOf('[::1]:8000'), '[::1]');
  assert.equal(hostOf(undefined), '');
});

test('stripPrefix drops whole segments', () => {
  assert.equal(stripPrefix('/user/alice/tree?x', '/user/alice', false), '/tree?x');
  assert.equal(stripPrefix('/user/alice?x', '/user/alice', false), '/?x');
  assert.equal(stripPrefix('/user/alice', '/user/alice', false), '/');
  assert.equal(stripPrefix('/a/b', '/', false), '/a/b');
  assert.equal(stripPrefix('/x/y', '/host.org/x', true), '/y');
});

test('dot segments hidden behind encoded slashes are refused', () => {
  for (const p of ['/user/alice%2F..%2Fbob/tree', '/user/alice/..%2Fbob/tree', '/user/bob/%2e%2e%2Falice/tree', '/user/a%2F.%2Fb']) {
    assert.throws(() => r(p), BadPath, p);
  }
  assert.equal(r('/user/alice/dir%2Ffile').routePath, '/user/alice/dir/file', 'an encoded slash alone is fine');
});

const front = (url: string) => resolvePath(url, undefined, false, { front: true });

test('front mode refuses what a proxy behind could read differently: #, \\ and empty segments in the path', () => {
  for (const p of [
    '//user/user/bob/x', '//user/bob/', '///user/bob/', '/.//user/bob/', '/x/..//user/user/bob/', '/user//bob/', '/user/alice//',
    '/user/bob#x', '/user/alice/?x#y', '/\\x/user/bob/', '/\\user/bob/', '/user/alice\\..\\bob/',
    'http://h//user/user/bob/', 'http://h/user/bob#x', 'http://h\\user\\bob/',
    '/%2Fuser/bob/', '/user/%2F/bob/', '/user/alice%2F%2Fx',
  ]) {
    assert.throws(() => front(p), BadPath, p);
  }
});

test('front mode forwards the normalised path it routed on', () => {
  assert.deepEqual(front('/user/alice/tree?x=1'), { routePath: '/user/alice/tree', forwardUrl: '/user/alice/tree?x=1' });
  assert.deepEqual(front('/user/bob/../alice/x?next=/user/bob/'), { routePath: '/user/alice/x', forwardUrl: '/user/alice/x?next=/user/bob/' });
  assert.deepEqual(front('/user/alice/%2e%2E/alice/gpu/'), { routePath: '/user/alice/gpu/', forwardUrl: '/user/alice/gpu/' });
  assert.deepEqual(front('/user/ali%63e/"x"'), { routePath: '/user/alice/"x"', forwardUrl: '/user/ali%63e/%22x%22' });
  assert.deepEqual(front('http://h/user/alice/./x?q'), { routePath: '/user/alice/x', forwardUrl: '/user/alice/x?q' });
  assert.deepEqual(front('/user/alice/?x=a\\b//c'), { routePath: '/user/alice/', forwardUrl: '/user/alice/?x=a\\b//c' }, 'the query does not route');
  assert.equal(front('/user/alice/dir%2Ffile').routePath, '/user/alice/dir/file');
});

test('front mode keeps every refusal of the default mode', () => {
  for (const p of ['/user/%E0%A4%A', '/user/a%00b', '*', '', 'ftp://x/y', '/user/alice%2F..%2Fbob/tree']) assert.throws(() => front(p), BadPath, p);
});

test('the default mode is unchanged: the route target behind it does no routing of its own', () => {
  assert.equal(r('/user//bob/').routePath, '/user//bob/');
  assert.equal(r('/user/bob#x').forwardUrl, '/user/bob#x');
});
