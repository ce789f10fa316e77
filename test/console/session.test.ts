// The console's pieces without a browser: the signed session cookie (expiry, tampering, token rotation, replicas
// sharing a salt), the CSRF token bound to a session, the per-address sign-in limiter, and the replicas' heartbeats.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ConsoleSessions, SESSION_TTL_MS } from '../../src/api/console-session.js';
import { FailureLimiter } from '../../src/api/rate-limit.js';
import { commandsFor } from '../../src/doctor/advice.js';
import { Replicas, SEEN_MS } from '../../src/monitor/replicas.js';
import { remember, RECENT_CHECKS, type CheckRecord } from '../../src/monitor/hub-watch.js';
import { MemoryStore } from '../../src/state/store.js';

const T0 = Date.UTC(2026, 0, 2, 10, 0, 0);
const HOUR = 3600_000;

describe('console session cookie', () => {
  const salt = randomBytes(32);
  let token = 'operator-token-one';
  const sessions = new ConsoleSessions(() => [token], salt);

  test('a cookie it issued verifies until it expires, 8 hours on', () => {
    token = 'operator-token-one';
    const { value, session } = sessions.issue(T0);
    assert.equal(session.expires, T0 + SESSION_TTL_MS);
    assert.equal(SESSION_TTL_MS, 8 * HOUR);
    assert.deepEqual(sessions.verify(value, T0 + 1000), session);
    assert.deepEqual(sessions.verify(value, T0 + 8 * HOUR - 1), session);
    assert.equal(sessions.verify(value, T0 + 8 * HOUR), undefined, 'expired');
  });

  test('any change to the cookie is refused: id, expiry, signature, version, shape', () => {
    token = 'operator-token-one';
    const { value } = sessions.issue(T0);
    const [v, exp, id, sig] = value.split('.') as [string, string, string, string];
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    for (const forged of [
      `${v}.${exp}.${flip(id)}.${sig}`,
      `${v}.${Number(exp) + 1000}.${id}.${sig}`,
      `${v}.${exp}.${id}.${flip(sig)}`,
      `v2.${exp}.${id}.${sig}`,
      `${v}.${exp}.${id}`,
      `${value}.x`,
      '',
      'x'.repeat(500),
    ]) {
      assert.equal(sessions.verify(forged, T0 + 1000), undefined, forged.slice(0, 60));
    }
    assert.equal(sessions.verify(undefined, T0), undefined);
  });

  test('a signed expiry beyond the lifetime is refused even with a valid signature', () => {
    token = 'operator-token-one';
    const long = new ConsoleSessions(() => [token], salt, 48 * HOUR);
    const { value } = long.issue(T0);
    assert.ok(long.verify(value, T0));
    assert.equal(sessions.verify(value, T0), undefined, 'same key, but 48 h is past the 8 h this one issues');
  });

  test('a new operator token ends every session: the key is derived from it', () => {
    token = 'operator-token-one';
    const { value, session } = sessions.issue(T0);
    const csrf = sessions.csrf(session);
    token = 'operator-token-two';
    assert.equal(sessions.verify(value, T0 + 1000), undefined);
    assert.equal(sessions.csrfMatches(session, csrf), false, 'its CSRF token is dead too');
    token = 'operator-token-one';
    assert.ok(sessions.verify(value, T0 + 1000), 'and back with the old token (a rollback) it verifies again');
  });

  test('replicas with the same salt verify each other; another salt does not', () => {
    token = 'operator-token-one';
    const other = new ConsoleSessions(() => [token], Buffer.from(salt));
    const stranger = new ConsoleSessions(() => [token], randomBytes(32));
    const { value } = sessions.issue(T0);
    assert.ok(other.verify(value, T0));
    assert.equal(stranger.verify(value, T0), undefined);
  });

  test('the salt is claimed once in the state store, so every process sharing it derives one key', async () => {
    const store = new MemoryStore();
    const tokens = () => ['shared-token'];
    const a = await ConsoleSessions.open(store, tokens);
    const b = await ConsoleSessions.open(store, tokens);
    assert.ok(b.verify(a.issue().value));
    const c = await ConsoleSessions.open(new MemoryStore(), tokens);
    assert.equal(c.verify(a.issue().value), undefined);
  });

  test('the CSRF token belongs to one session and is checked in full', () => {
    token = 'operator-token-one';
    const one = sessions.issue(T0).session;
    const two = sessions.issue(T0).session;
    const csrf = sessions.csrf(one);
    assert.equal(sessions.csrf(one), csrf, 'stable for the session: every form of its pages carries the same');
    assert.ok(sessions.csrfMatches(one, csrf));
    assert.equal(sessions.csrfMatches(two, csrf), false, "another session's token");
    for (const given of [undefined, null, '', csrf.slice(0, -1), `${csrf}x`, csrf.toUpperCase()]) {
      assert.equal(sessions.csrfMatches(one, given), false, String(given));
    }
  });

  test('the operator token is compared against every configured one; none configured means no sessions', () => {
    const two = new ConsoleSessions(() => ['first', undefined, 'second'], salt);
    assert.ok(two.tokenMatches('first'));
    assert.ok(two.tokenMatches('second'));
    assert.equal(two.tokenMatches('third'), false);
    assert.equal(two.tokenMatches(''), false);
    const none = new ConsoleSessions(() => [undefined], salt);
    assert.equal(none.enabled, false);
    assert.equal(none.tokenMatches(''), false);
    assert.throws(() => none.issue());
    assert.equal(none.verify(sessions.issue(T0).value, T0), undefined);
  });
});

describe('sign-in failure limiter', () => {
  test('five failures a minute per address, then a wait that ends when the oldest leaves the window', () => {
    const l = new FailureLimiter(5, 60_000);
    for (let i = 0; i < 5; i++) {
      assert.equal(l.retryAfter('10.0.0.1', T0 + i * 1000), 0, `try ${i + 1}`);
      l.fail('10.0.0.1', T0 + i * 1000);
    }
    assert.equal(l.retryAfter('10.0.0.1', T0 + 5000), 55);
    assert.equal(l.retryAfter('10.0.0.2', T0 + 5000), 0, 'another address is not held');
    assert.equal(l.retryAfter('10.0.0.1', T0 + 59_500), 1);
    assert.equal(l.retryAfter('10.0.0.1', T0 + 60_001), 0, 'the first failure left the window: one more try');
    l.fail('10.0.0.1', T0 + 60_001);
    assert.equal(l.retryAfter('10.0.0.1', T0 + 60_002), 1, 'five again in the window: held until the second one leaves');
  });

  test('memory stays bounded whatever the number of addresses; the longest-quiet go first', () => {
    const l = new FailureLimiter(2, 60_000, 100);
    l.fail('first', T0);
    l.fail('first', T0);
    for (let i = 0; i < 1000; i++) l.fail(`198.51.100.${i}`, T0 + 1);
    assert.equal(l.size, 100);
    assert.equal(l.retryAfter('first', T0 + 2), 0, 'forgotten');
    assert.equal(l.retryAfter('198.51.100.999', T0 + 2), 0, 'one failure is under the limit');
    l.fail('198.51.100.999', T0 + 3);
    assert.ok(l.retryAfter('198.51.100.999', T0 + 4) > 0);
  });

  test('addresses are map keys, never object properties', () => {
    const l = new FailureLimiter(1, 60_000);
    for (const name of ['__proto__', 'constructor', 'hasOwnProperty']) {
      assert.equal(l.retryAfter(name, T0), 0, name);
      l.fail(name, T0);
      assert.ok(l.retryAfter(name, T0) > 0, name);
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe('replicas and recent checks', () => {
  test('each process writes a heartbeat; the page lists those heard from in the last minute, itself first', async () => {
    const store = new MemoryStore();
    let maintenance = 'off';
    const a = new Replicas(store, 'hub-guard-b:1', () => ({ version: '0.1.0', maintenance, db: 'healthy' }));
    const b = new Replicas(store, 'hub-guard-a:2', () => ({ version: '0.2.0', maintenance: 'off', db: 'healthy' }));
    await a.beat(T0);
    await b.beat(T0 + 1000);
    assert.deepEqual((await a.seen(T0 + 2000)).map((r) => [r.instance, r.version]), [['hub-guard-b:1', '0.1.0'], ['hub-guard-a:2', '0.2.0']]);
    maintenance = 'manual';
    await a.beat(T0 + SEEN_MS);
    const later = await a.seen(T0 + SEEN_MS + 2000);
    assert.deepEqual(later.map((r) => [r.instance, r.maintenance]), [['hub-guard-b:1', 'manual']], 'b was not heard from for a minute');
    await a.stop();
    assert.deepEqual(await b.seen(T0 + SEEN_MS + 1000), [], 'a stopped replica leaves the list at once');
  });

  test('fields gone for an hour are pruned, and values another version wrote are read with care', async () => {
    const store = new MemoryStore();
    await store.mapSet('replicas', 'gone', { version: '0.0.1', maintenance: 'off', db: 'healthy', at: T0 - 2 * HOUR });
    await store.mapSet('replicas', 'odd', { at: T0, version: 7 });
    await store.mapSet('replicas', 'junk', 'not a heartbeat');
    const r = new Replicas(store, 'me', () => ({ version: '0.1.0', maintenance: 'off', db: 'not watched' }));
    await r.beat(T0);
    const fields = Object.keys((await store.mapAll('replicas')).values).sort();
    assert.deepEqual(fields, ['me', 'odd']);
    const seen = await r.seen(T0);
    assert.deepEqual(seen.find((x) => x.instance === 'odd'), { instance: 'odd', version: 'unknown', maintenance: 'unknown', db: 'unknown', at: T0 });
  });

  test('recent checks are a ring of the last 20', () => {
    const ring: CheckRecord[] = [];
    for (let i = 0; i < 50; i++) remember(ring, { at: i, ms: 1, state: 'healthy', critical: 0, warnings: 0 });
    assert.equal(ring.length, RECENT_CHECKS);
    assert.equal(ring[0]!.at, 30);
    assert.equal(ring.at(-1)!.at, 49);
  });
});

describe('commands that go with the advice', () => {
  test('a wiped database: the doctor, the verified backups, a rebuild from volumes; the password stays hidden', () => {
    const cmds = commandsFor('tables-missing', { db: 'postgresql://hub:s3cret@db:5432/jupyterhub', backupDir: '/srv/hub backups' });
    assert.deepEqual(cmds, [
      "hub-guard doctor --db 'postgresql://hub:***@db:5432/jupyterhub'",
      "hub-guard backup list --backup-dir '/srv/hub backups'",
      "hub-guard backup restore-plan --backup-dir '/srv/hub backups' --db 'postgresql://hub:***@db:5432/jupyterhub'",
      'kubectl get pvc -o json > pvcs.json',
      "hub-guard doctor --db 'postgresql://hub:***@db:5432/jupyterhub' --pvcs pvcs.json --sql plan.sql",
    ]);
    assert.ok(!cmds.join('\n').includes('s3cret'));
  });

  test('a hand-rebuilt users table: the doctor and its repair plan; without a known URL a placeholder', () => {
    assert.deepEqual(commandsFor('cookie-id-empty', {}), ["hub-guard doctor --db '<the hub db_url>'", "hub-guard doctor --db '<the hub db_url>' --sql plan.sql"]);
    const cmds = commandsFor('cookie-id-empty', { db: 'sqlite:////srv/jupyterhub/jupyterhub.sqlite' });
    assert.deepEqual(cmds, [
      'hub-guard doctor --db sqlite:////srv/jupyterhub/jupyterhub.sqlite',
      'hub-guard doctor --db sqlite:////srv/jupyterhub/jupyterhub.sqlite --sql plan.sql',
    ]);
  });
});
