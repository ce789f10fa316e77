import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteTable, cleanPrefix } from '../../src/proxy/route-table.js';

const t = (target = 'http://127.0.0.1:1') => ({ target });

test('keys are cleaned as CHP cleans them', () => {
  assert.equal(cleanPrefix('user/alice/'), '/user/alice');
  assert.equal(cleanPrefix('/'), '/');
  assert.equal(cleanPrefix('//'), '/');
});

test('longest prefix on whole segments, root as fallback', () => {
  const r = new RouteTable();
  r.add('/', t('http://127.0.0.1:1'));
  r.add('/user/alice', { target: 'http://127.0.0.1:2', user: 'alice' });
  r.add('/user/alice/gpu', { target: 'http://127.0.0.1:3', user: 'alice', server_name: 'gpu' });
  assert.equal(r.match('/user/alice/tree')?.prefix, '/user/alice');
  assert.equal(r.match('/user/alice')?.prefix, '/user/alice');
  assert.equal(r.match('/user/alice/')?.prefix, '/user/alice');
  assert.equal(r.match('/user/alice/gpu/api')?.prefix, '/user/alice/gpu');
  assert.equal(r.match('/user/alice/gpu2/api')?.prefix, '/user/alice', 'an unknown named server falls back to the default one');
  assert.equal(r.match('/user/al')?.prefix, '/', 'a partial segment is not a match');
  assert.equal(r.match('/user//alice/')?.prefix, '/', 'an empty segment is a segment');
  assert.equal(r.match('//user/alice/')?.prefix, '/', 'a leading empty segment too');
  assert.equal(r.match('/user/ALICE/')?.prefix, '/', 'matching is case-sensitive');
  assert.equal(r.match('/user/alice/gpu')?.owner, 'alice');
});

test('no root route means no match', () => {
  const r = new RouteTable();
  r.add('/user/bob', t());
  assert.equal(r.match('/hub/'), undefined);
});

test('remove prunes and leaves siblings intact', () => {
  const r = new RouteTable();
  r.add('/user/a', t());
  r.add('/user/a/x', t());
  assert.equal(r.remove('/user/a/'), true);
  assert.equal(r.match('/user/a/y'), undefined);
  assert.equal(r.match('/user/a/x/1')?.prefix, '/user/a/x');
  assert.equal(r.remove('/user/a'), false);
  assert.equal(r.size, 1);
});

test('a target that is not http(s) is refused', () => {
  const r = new RouteTable();
  assert.throws(() => r.add('/x', { target: 'ftp://h' }));
  assert.throws(() => r.add('/x', { target: 'not a url' }));
  assert.equal(r.size, 0);
});

test('change events fire for add and remove', () => {
  const r = new RouteTable();
  const seen: string[] = [];
  r.onChange((e) => seen.push(e.kind));
  r.add('/a', t());
  r.remove('/a');
  assert.deepEqual(seen, ['add', 'remove']);
});
