// Faults around a real hub-guard (guard on): the hub down, user servers down, dying mid-response or too slow, clients
// giving up mid-upload, websockets cut from either side. hub-guard answers what it can, never crashes, and gives back
// every socket it opened.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import { freePort } from '../helpers/ports.js';
import { bounded, eventually } from '../helpers/eventually.js';
import { addRoute, login, startGuard, type Guard } from '../helpers/guard.js';
import { get } from '../helpers/http.js';
import { makeHubDb } from '../helpers/hub-db.js';
import { fdCount } from '../helpers/proc.js';
import { scratch, type Scratch } from '../helpers/scratch.js';
import { hubCookie, writeSecret } from '../helpers/secret.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const PROXY_TIMEOUT_MS = 1000;

/**
 * A GET whose response may be cut short: reports the status, the bytes received and whether the body completed, or
 * `hung` when the response neither ended nor broke off within 15 s.
 */
function fetchPartial(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: number; complete: boolean; hung?: boolean }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let bytes = 0;
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        req.destroy();
        resolve({ status: res.statusCode ?? 0, bytes, complete: false, hung: true });
      }, 15_000);
      const done = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, bytes, complete: res.complete });
      };
      res.on('data', (c: Buffer) => { bytes += c.length; });
      res.on('end', done);
      res.on('error', done);
      res.on('close', done);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('faults', () => {
  let tmp: Scratch;
  let guard: Guard;
  let hub: Upstream;
  let alice: Upstream;
  let session: string;
  let baseline: number;
  const held: Array<() => void> = [];
  let slowDropped = false;

  before(async () => {
    tmp = scratch();
    const db = await makeHubDb({ dir: tmp.dir, users: ['alice', 'bob'] });
    const secret = writeSecret(tmp.dir);
    hub = await startUpstream('hub');
    alice = await startUpstream('alice');
    guard = await startGuard({ flags: ['--hub-db', db.url, '--cookie-secret-file', secret.file, '--proxy-timeout', String(PROXY_TIMEOUT_MS)] });
    baseline = fdCount(guard.pid);
    await addRoute(guard, '/', { hub: true, target: hub.url });
    await addRoute(guard, '/user/alice', { user: 'alice', server_name: '', target: alice.url });
    await addRoute(guard, '/user/gone', { user: 'gone', server_name: '', target: `http://127.0.0.1:${await freePort()}` });
    session = `${hubCookie(secret.key, db.users.get('alice')!.cookieId)}; ${await login(guard, secret.key, db.users.get('alice')!.cookieId)}`;

    // headers and part of the body, then the server process "dies"
    alice.handle('/user/alice/reset-sized', (req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '1000000' });
      res.write(Buffer.alloc(64 * 1024, 1), () => setTimeout(() => req.socket.destroy(), 50));
    });
    alice.handle('/user/alice/reset-chunked', (req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(64 * 1024, 1), () => setTimeout(() => req.socket.destroy(), 50));
    });
    // never answers (until the test ends)
    alice.handle('/user/alice/slow', (_req, res) => {
      res.on('close', () => { slowDropped = !res.writableFinished; });
      held.push(() => res.destroy());
    });
    alice.handle('/user/alice/upload', (req, res) => {
      req.on('end', () => { if (!res.destroyed) res.end('stored'); });
      req.resume();
    });
  });

  after(async () => {
    for (const release of held) release();
    await guard?.stop();
    await hub?.stop();
    await alice?.stop();
    tmp?.remove();
  });

  test('the hub down: 503 for everyone, served again once it is back', async () => {
    await hub.down();
    try {
      assert.equal((await get(guard.port, '/hub/home')).status, 503);
      assert.equal((await get(guard.port, '/hub/home', { cookie: session })).status, 503);
      assert.equal((await get(guard.port, '/hub/api/users', { accept: 'application/json' })).status, 503);
    } finally {
      await hub.up();
    }
    assert.equal((await get(guard.port, '/hub/home', { cookie: session })).status, 200);
  });

  test('a user server that is gone: 503', async () => {
    assert.equal((await get(guard.port, '/user/gone/tree')).status, 503);
  });

  test('a user server dying mid-response: the client sees an aborted response, never a complete one', async () => {
    const wrong: string[] = [];
    for (const path of ['/user/alice/reset-sized', '/user/alice/reset-chunked']) {
      const r = await fetchPartial(guard.port, path, { cookie: session });
      if (r.status !== 200) wrong.push(`${path}: status ${r.status}`);
      else if (r.hung) wrong.push(`${path}: the upstream died after 64 kB and the client's response was left open (neither ended nor aborted) for 15 s, with ${r.bytes} bytes`);
      else if (r.complete) wrong.push(`${path}: the client got a complete response of ${r.bytes} bytes from a server that died mid-body`);
      assert.ok(guard.alive());
    }
    assert.deepEqual(wrong, []);
    assert.equal((await get(guard.port, '/user/alice/tree', { cookie: session })).status, 200);
  });

  test('a user server slower than --proxy-timeout: 503, and its connection is dropped', async () => {
    const before = alice.seen.length;
    const r = await get(guard.port, '/user/alice/slow', { cookie: session });
    assert.equal(r.status, 503);
    assert.equal(alice.seen[before]?.url, '/user/alice/slow');
    await eventually('hub-guard to drop the request it gave up on', () => (slowDropped ? true : undefined));
    assert.equal((await get(guard.port, '/user/alice/tree', { cookie: session })).status, 200);
  });

  test('a client giving up mid-upload: the upstream request is aborted, hub-guard carries on', async () => {
    const before = alice.seen.length;
    const req = httpRequest({ host: '127.0.0.1', port: guard.port, method: 'POST', path: '/user/alice/upload', agent: false,
      headers: { cookie: session, 'content-type': 'application/octet-stream', 'content-length': String(50 * 1024 * 1024) } });
    req.on('error', () => undefined);
    req.write(Buffer.alloc(256 * 1024, 7));
    const seen = await eventually('the upload to reach the server', () => {
      const s = alice.seen.slice(before).find((x) => x.url === '/user/alice/upload');
      return s && s.bodyBytes > 0 ? s : undefined;
    });
    req.destroy();
    await eventually('the upstream request to be aborted', () => (seen.aborted ? true : undefined));
    assert.ok(seen.bodyBytes < 50 * 1024 * 1024);
    assert.ok(guard.alive());
    assert.equal((await get(guard.port, '/user/alice/tree', { cookie: session })).status, 200);
  });

  /** A websocket through hub-guard to alice's server that has echoed one message. */
  async function openWs(): Promise<WebSocket> {
    const before = alice.sockets.size;
    const ws = new WebSocket(`ws://127.0.0.1:${guard.port}/user/alice/api/kernels/k/channels`, { headers: { cookie: session } });
    ws.on('error', () => undefined);
    await bounded(new Promise<void>((resolve, reject) => {
      ws.once('open', () => ws.send('ping'));
      ws.once('message', () => resolve());
      ws.once('unexpected-response', (_r, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
      ws.once('error', reject);
    }), 15_000, 'a websocket echo');
    await eventually('the server side of the websocket', () => (alice.sockets.size > before ? true : undefined));
    return ws;
  }

  test('websockets cut abruptly by the client: the server side closes too', async () => {
    for (let i = 0; i < 5; i++) {
      const ws = await openWs();
      const before = alice.sockets.size;
      ws.terminate();
      await eventually('the server-side websocket to close', () => (alice.sockets.size < before ? true : undefined));
    }
    assert.ok(guard.alive());
  });

  test('a websocket fed garbage by the client: both sides close, and hub-guard lets go of both sockets', async () => {
    const fds = fdCount(guard.pid);
    const ws = await openWs();
    const before = alice.sockets.size;
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    (ws as unknown as { _socket: Socket })._socket.write(Buffer.from('not a websocket frame at all\r\n\r\n'));
    await eventually('the server to drop the corrupt websocket', () => (alice.sockets.size < before ? true : undefined));
    await bounded(closed, 15_000, 'the client to see the close');
    await eventually(`hub-guard's file descriptors to return to ${fds}`, () => (fdCount(guard.pid) <= fds ? true : undefined), 15_000, 250)
      .catch((e: Error) => { throw new Error(`${e.message}; still ${fdCount(guard.pid)} with both ends of the websocket closed`); });
  });

  test('websockets cut abruptly by the server: the client sees the close', async () => {
    for (let i = 0; i < 5; i++) {
      const ws = await openWs();
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      for (const s of alice.sockets) s.terminate();
      await bounded(closed, 15_000, 'the client to see the websocket close');
    }
    // the whole server goes away with websockets open
    const open = [await openWs(), await openWs()];
    const closed = open.map((ws) => new Promise<void>((resolve) => ws.once('close', () => resolve())));
    await alice.down();
    await bounded(Promise.all(closed), 15_000, 'the clients to see their websockets close');
    await alice.up();
    assert.ok(guard.alive());
  });

  test('afterwards, hub-guard holds no more file descriptors than when it started', async () => {
    for (const release of held.splice(0)) release();
    await eventually(`fd count of hub-guard to return to ${baseline}`, () => (fdCount(guard.pid) <= baseline ? true : undefined), 30_000, 250)
      .catch((e: Error) => { throw new Error(`${e.message}; now ${fdCount(guard.pid)}`); });
    const errors = guard.logs().filter((l) => l.level === 'error' || l.unparsed);
    assert.deepEqual(errors, []);
  });
});
