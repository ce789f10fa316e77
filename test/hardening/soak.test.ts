// A soak through a real hub-guard (guard on): SOAK_REQUESTS requests (100k by default; HARDENING_SOAK_REQUESTS
// overrides) over keep-alive connections, every tenth client hanging up mid-response, while the user server is
// stopped and restarted a few times. hub-guard must not crash, must log no error-level line, and must give back every
// socket: its open file descriptors return to what they were before the soak.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually } from '../helpers/eventually.js';
import { addRoute, login, startGuard, type Guard } from '../helpers/guard.js';
import { makeHubDb } from '../helpers/hub-db.js';
import { fdCount } from '../helpers/proc.js';
import { scratch, type Scratch } from '../helpers/scratch.js';
import { hubCookie, writeSecret } from '../helpers/secret.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const SOAK_REQUESTS = Number(process.env.HARDENING_SOAK_REQUESTS ?? 100_000);
const CONCURRENCY = 32;
const FLAPS = 4;
/** A request that has not finished after this long counts as hung; the client gives up on it. */
const HUNG_MS = 30_000;

type Outcome = 'ok' | 'unavailable' | 'other-status' | 'aborted-by-client' | 'client-error' | 'hung';

describe(`soak: ${SOAK_REQUESTS} requests, 10 % of clients aborting mid-response, a flapping user server`, () => {
  let tmp: Scratch;
  let guard: Guard;
  let hub: Upstream;
  let alice: Upstream;
  let session: string;

  before(async () => {
    tmp = scratch();
    const db = await makeHubDb({ dir: tmp.dir, users: ['alice', 'bob'] });
    const secret = writeSecret(tmp.dir);
    hub = await startUpstream('hub');
    alice = await startUpstream('alice');
    // a response in several writes, so a client can hang up in the middle of it
    alice.handle('/user/alice/stream', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let left = 4;
      const next = () => {
        if (res.destroyed) return;
        if (--left === 0) return void res.end(Buffer.alloc(8192, 2));
        res.write(Buffer.alloc(8192, 1));
        setImmediate(next);
      };
      next();
    });
    guard = await startGuard({ flags: ['--hub-db', db.url, '--cookie-secret-file', secret.file] });
    await addRoute(guard, '/', { hub: true, target: hub.url });
    await addRoute(guard, '/user/alice', { user: 'alice', server_name: '', target: alice.url });
    session = `${hubCookie(secret.key, db.users.get('alice')!.cookieId)}; ${await login(guard, secret.key, db.users.get('alice')!.cookieId)}`;
  });
  after(async () => {
    await guard?.stop();
    await hub?.stop();
    await alice?.stop();
    tmp?.remove();
  });

  test('no crash, no error-level log line, and the open file descriptors return to their baseline', async () => {
    // the baseline: routes in place, and no connection open to anything once the login's keep-alive ones are gone
    const baseline = await eventually('a quiet moment before the soak', async () => {
      const a = fdCount(guard.pid);
      await sleep(500);
      return fdCount(guard.pid) === a ? a : undefined;
    });
    const pid = guard.pid;

    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const outcomes = new Map<Outcome, number>();
    const count = (o: Outcome) => outcomes.set(o, (outcomes.get(o) ?? 0) + 1);

    const one = (i: number): Promise<Outcome> => new Promise((resolve) => {
      const aborting = i % 10 === 0;
      const path = aborting ? '/user/alice/stream' : i % 10 === 1 ? `/hub/api/users?i=${i}` : `/user/alice/api/contents/${i}`;
      let settled = false;
      const finish = (o: Outcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(o);
      };
      const req = httpRequest({ host: '127.0.0.1', port: guard.port, path, agent: aborting ? false : agent, headers: { cookie: session } }, (res) => {
        if (aborting) {
          res.once('data', () => {
            req.destroy();
            finish('aborted-by-client');
          });
        } else {
          res.resume();
        }
        res.on('end', () => finish(res.statusCode === 200 ? 'ok' : res.statusCode === 503 ? 'unavailable' : 'other-status'));
        res.on('error', () => finish('client-error'));
        res.on('close', () => finish(res.complete ? (res.statusCode === 200 ? 'ok' : 'other-status') : 'client-error'));
      });
      const timer = setTimeout(() => {
        req.destroy();
        finish('hung');
      }, HUNG_MS);
      req.on('error', () => finish('client-error'));
      req.end();
    });

    let next = 0;
    const flaps: Promise<void>[] = [];
    const flapAt = new Set(Array.from({ length: FLAPS }, (_, k) => Math.floor(((k + 1) * SOAK_REQUESTS) / (FLAPS + 1))));
    const worker = async () => {
      while (next < SOAK_REQUESTS) {
        const i = next++;
        if (flapAt.has(i)) {
          flaps.push((async () => {
            await alice.down();
            await sleep(300);
            await alice.up();
          })());
        }
        count(await one(i));
      }
    };
    const started = Date.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await Promise.all(flaps);
    const seconds = (Date.now() - started) / 1000;
    agent.destroy();
    const summary = `${SOAK_REQUESTS} requests in ${seconds.toFixed(1)} s: ${JSON.stringify(Object.fromEntries(outcomes))}`;
    process.stdout.write(`# soak: ${summary}\n`);

    assert.ok(guard.alive(), `hub-guard died during the soak: ${guard.stderr().slice(-2000)}`);
    assert.equal(guard.pid, pid);
    assert.equal(outcomes.get('hung') ?? 0, 0, `requests left hanging: ${summary}`);
    assert.equal(outcomes.get('other-status') ?? 0, 0, summary);
    // the user server is down for a moment four times: most requests, not all, are served
    assert.ok((outcomes.get('ok') ?? 0) > SOAK_REQUESTS * 0.5, summary);
    assert.ok((outcomes.get('aborted-by-client') ?? 0) > 0, summary);

    const bad = guard.logs().filter((l) => l.level === 'error' || l.unparsed !== undefined);
    assert.deepEqual(bad.slice(0, 10), [], `${bad.length} error-level or unparsable log lines`);
    const warnings = new Set(guard.logs().filter((l) => l.level === 'warn').map((l) => l.msg));
    assert.deepEqual([...warnings].filter((m) => m !== 'upstream error'), [], 'unexpected warnings');

    await eventually(`hub-guard's open file descriptors to return to ${baseline}`, () => (fdCount(guard.pid) <= baseline ? true : undefined), 30_000, 250)
      .catch((e: Error) => { throw new Error(`${e.message}; still ${fdCount(guard.pid)} after 30 s (${summary})`); });
  });
});
