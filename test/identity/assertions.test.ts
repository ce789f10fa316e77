// X-Hub-Guard-User is signed once per user and route and then served from the cache: the route's owner from its
// own slot, anyone else on the same route from theirs, never one user's assertion for another.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import { Assertions } from '../../src/identity/assertions.js';
import { MemoryStore } from '../../src/state/store.js';

test('owner and visitors of one route each get their own assertion, cached', async () => {
  const a = await Assertions.open(new MemoryStore());
  const alice = await a.for('alice', 1, '/user/alice');
  const bob = await a.for('bob', 2, '/user/alice');
  assert.equal(decodeJwt(alice).sub, 'alice');
  assert.equal(decodeJwt(bob).sub, 'bob');
  assert.equal(a.for('alice', 1, '/user/alice'), alice, "the owner's is cached");
  assert.equal(a.for('bob', 2, '/user/alice'), bob, "the visitor's is cached");
  assert.equal(decodeJwt(await a.for('alice', 1, '/user/alice/lab')).aud, '/user/alice/lab', 'another route, another assertion');
  // a user re-created under a new id is someone else to the server
  const again = await a.for('alice', 7, '/user/alice');
  assert.equal(decodeJwt(again).uid, 7);
});
