// Graceful shutdown of a real hub-guard on SIGTERM: it stops accepting, lets requests in flight finish, closes
// websockets once --shutdown-timeout has passed, writes its state, and exits 0.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { bounded, eventually } from '../helpers/eventually.js';
import { addRoute, startGuard, type Guard } from '../helpers/guard.js';
import { get, request } from '../helpers/http.js';
import { makeHubDb, type HubDbFixture } from '../helpers/hub-db.js';
import { scratch, type Scratch } from '../helpers/scratch.js';
import { writeSecret, type Secret } from '../helpers/secret.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

// long enough that releasing the held request right after the listener closes is well inside it
const SHUTDOWN_TIMEOUT_MS = 5000;

function refusesConnections(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(undefined); });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED' ? true : undefined));
  });
}

/** The route prefixes in a routes.json however the store lays it out (a plain document, or a map under `values`). */
function savedRoutes(stateDir: string): string[] {
  const doc = JSON.parse(readFileSync(join(stateDir, 'routes.json'), 'utf8')) as Record<string, unknown>;
  const values = typeof doc.values === 'object' && doc.values !== null ? (doc.values as Record<string, unknown>) : doc;
  return Object.keys(values).filter((k) => k.startsWith('/')).sort();
}

interface Pending { done: Promise<{ status: number; body: string; complete: boolean } | { error: string }> }

/** A GET on its own connection whose answer is awaited later. */
function inFlight(port: number, path: string): Pending {
  return {
    done: new Promise((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => { body += c.toString(); });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, complete: res.complete }));
        res.on('error', (e) => resolve({ error: e.message }));
        res.on('close', () => resolve({ status: res.statusCode ?? 0, body, complete: res.complete }));
      });
      req.on('error', (e) => resolve({ error: e.message }));
      req.end();
    }),
  };
}

describe('graceful shutdown on SIGTERM', () => {
  let tmp: Scratch;
  let db: HubDbFixture;
  let secret: Secret;
  let hub: Upstream;
  let alice: Upstream;
  const release: Array<() => void> = [];
  const guards: Guard[] = [];

  before(async () => {
    tmp = scratch();
    db = await makeHubDb({ dir: tmp.dir, users: ['alice', 'bob'] });
    secret = writeSecret(tmp.dir);
    hub = await startUpstream('hub');
    alice = await startUpstream('alice');
    alice.handle('/user/alice/slow', (_req, res) => {
      release.push(() => { if (!res.destroyed) res.end('finished'); });
    });
  });
  after(async () => {
    for (const r of release) r();
    for (const g of guards) await g.stop();
    await hub?.stop();
    await alice?.stop();
    tmp?.remove();
  });

  async function start(stateDir: string): Promise<Guard> {
    const g = await startGuard({ flags: ['--hub-db', db.url, '--cookie-secret-file', secret.file, '--state-dir', stateDir, '--shutdown-timeout', String(SHUTDOWN_TIMEOUT_MS)] });
    guards.push(g);
    return g;
  }

  test('an in-flight request completes, new connections are refused, a websocket is closed, state is written, exit 0', async () => {
    const stateDir = join(tmp.dir, 'state-1');
    const g = await start(stateDir);
    await addRoute(g, '/', { hub: true, target: hub.url });
    await addRoute(g, '/user/alice', { user: 'alice', server_name: '', target: alice.url });

    const ws = new WebSocket(`ws://127.0.0.1:${g.port}/user/alice/api/kernels/k/channels`);
    ws.on('error', () => undefined);
    await bounded(new Promise<void>((resolve, reject) => {
      ws.once('open', () => ws.send('ping'));
      ws.once('message', () => resolve());
      ws.once('error', reject);
    }), 15_000, 'a websocket echo');
    const wsClosed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));

    const before = alice.seen.length;
    const slow = inFlight(g.port, '/user/alice/slow');
    await eventually('the slow request to reach the server', () => (alice.seen.slice(before).some((s) => s.url === '/user/alice/slow') ? true : undefined));
    // added last, so only a flush at shutdown can have written it
    await addRoute(g, '/user/late', { user: 'late', server_name: '', target: alice.url });

    g.kill('SIGTERM');
    await eventually('the public port to refuse connections', () => refusesConnections(g.port), 10_000, 20);
    assert.ok(g.alive(), 'hub-guard exited with a request in flight');
    release.shift()!();
    const answer = await bounded(slow.done, 15_000, 'the in-flight request to finish');
    assert.deepEqual(answer, { status: 200, body: 'finished', complete: true });

    await bounded(wsClosed, SHUTDOWN_TIMEOUT_MS + 15_000, 'the websocket to be closed');
    const exit = await bounded(g.exited, 15_000, 'hub-guard to exit');
    assert.deepEqual(exit, { code: 0, signal: null }, g.stderr());
    assert.deepEqual(savedRoutes(stateDir), ['/', '/user/alice', '/user/late']);
    assert.deepEqual(g.logs().filter((l) => l.level === 'error' || l.unparsed), []);

    // and a restart on the same state directory serves them at once
    const again = await start(stateDir);
    const routes = JSON.parse((await request(again.apiPort, 'GET', '/api/routes', { authorization: `token ${again.token}` })).text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(routes).sort(), ['/', '/user/alice', '/user/late']);
    assert.equal((await get(again.port, '/user/alice/tree')).status, 200);
    await again.stop();
    assert.deepEqual(await again.exited, { code: 0, signal: null });
  });

  test('a request still running at --shutdown-timeout is cut, and hub-guard still exits 0', async () => {
    const g = await start(join(tmp.dir, 'state-2'));
    await addRoute(g, '/user/alice', { user: 'alice', server_name: '', target: alice.url });
    const before = alice.seen.length;
    const slow = inFlight(g.port, '/user/alice/slow');
    await eventually('the slow request to reach the server', () => (alice.seen.slice(before).some((s) => s.url === '/user/alice/slow') ? true : undefined));
    g.kill('SIGTERM');
    const exit = await bounded(g.exited, SHUTDOWN_TIMEOUT_MS + 15_000, 'hub-guard to exit');
    assert.deepEqual(exit, { code: 0, signal: null }, g.stderr());
    const answer = await bounded(slow.done, 15_000, 'the cut request to end');
    assert.ok('error' in answer || !answer.complete, `the cut request looked complete: ${JSON.stringify(answer)}`);
  });

  test('SIGTERM when idle: exits 0 with its state written', async () => {
    const stateDir = join(tmp.dir, 'state-3');
    const g = await start(stateDir);
    await addRoute(g, '/user/alice', { user: 'alice', server_name: '', target: alice.url });
    g.kill('SIGTERM');
    assert.deepEqual(await bounded(g.exited, 15_000, 'hub-guard to exit'), { code: 0, signal: null }, g.stderr());
    assert.deepEqual(savedRoutes(stateDir), ['/user/alice']);
  });
});
