// HTTP forwarding details, run unchanged against configurable-http-proxy 5.3 and hub-guard: Location rewriting,
// request and response bodies, hop-by-hop headers, clients and upstreams that go away, HTTP/1.0, https upstreams
// and --proxy-timeout. Where the two differ because CHP is wrong, the expectation is chosen per implementation and
// the comment says why; everywhere else hub-guard must do exactly what CHP does.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { connect, createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually } from '../helpers/eventually.js';
import { IMPLS, startProxy, addRoute, type Impl, type RunningProxy } from '../helpers/proxies.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Anything listening that the tests start themselves. */
type Closable = http.Server | TcpServer;

async function listen<S extends Closable>(server: S): Promise<S & { port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return Object.assign(server, { port: (server.address() as AddressInfo).port });
}

/**
 * Within a describe(): `server` listening and a proxy of `impl` (with `flags`) routing `/` to it, started before
 * the suite's tests and stopped after them.
 */
function behindProxy<S extends http.Server>(impl: Impl, server: () => S, flags: string[] = []): { proxy: RunningProxy; backend: S & { port: number } } {
  const up = {} as { proxy: RunningProxy; backend: S & { port: number } };
  before(async () => {
    up.backend = await listen(server());
    up.proxy = await startProxy(impl, flags);
    await addRoute(up.proxy, '/', { target: `http://127.0.0.1:${up.backend.port}` });
  });
  after(async () => {
    await up.proxy?.stop();
    await close(up.backend);
  });
  return up;
}

async function close(server: Closable, sockets?: Set<Socket>): Promise<void> {
  // the proxies keep upstream connections alive (and some backends here never answer): close() alone would wait
  if (server instanceof http.Server) server.closeAllConnections();
  for (const s of sockets ?? []) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A raw TCP upstream that answers every request with `answer(requestLine)`, for responses node cannot produce. */
function rawBackend(answer: (line: string, socket: Socket) => void): TcpServer & { sockets: Set<Socket> } {
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let head = '';
    socket.on('data', function onData(d: Buffer) {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      answer(head.split('\r\n')[0], socket);
    });
  });
  return Object.assign(server, { sockets });
}

interface Answer {
  status: number;
  statusMessage: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  socket: Socket;
}

interface RequestOptions {
  method?: string;
  headers?: OutgoingHttpHeaders;
  /** Sent whole, or one element per write (with a short pause between, so the proxy sees them apart). */
  body?: Buffer | string | (Buffer | string)[];
  agent?: http.Agent | false;
  /** Send the body only after a 100 Continue (the request should carry `Expect: 100-continue`). */
  waitForContinue?: boolean;
  /** Stop reading for a moment after every this many bytes, to make the proxy hold back the upstream. */
  pauseEvery?: number;
}

/** One request to the proxy; fails, instead of hanging the suite, when no complete answer comes within 15 s. */
function request(port: number, path: string, opts: RequestOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      let sincePause = 0;
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        sincePause += c.length;
        if (opts.pauseEvery && sincePause >= opts.pauseEvery) {
          sincePause = 0;
          res.pause();
          setTimeout(() => res.resume(), 30);
        }
      });
      res.on('error', (e) => { clearTimeout(timer); reject(e); });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks), socket: req.socket! });
      });
    });
    const timer = setTimeout(() => { req.destroy(); reject(new Error(`${path}: no complete answer within 15 s`)); }, 15_000);
    req.on('error', (e) => { clearTimeout(timer); reject(e); });
    const send = async () => {
      const parts = opts.body === undefined ? [] : Array.isArray(opts.body) ? opts.body : [opts.body];
      for (const [i, p] of parts.entries()) {
        if (i > 0) await sleep(20);
        req.write(p);
      }
      req.end();
    };
    if (opts.waitForContinue) {
      req.flushHeaders();
      req.once('continue', () => void send());
    } else {
      void send();
    }
  });
}

/** How a response ended: completely, broken off (the client saw the connection end early), or not yet at all. */
interface Ending {
  how: 'complete' | 'broken' | 'open';
  status: number;
  body: string;
}

/** Reads a response until it ends, breaks, or `waitMs` passes (then it is reported 'open' and dropped). */
function ending(port: number, path: string, waitMs: number): Promise<Ending> {
  return new Promise((resolve, reject) => {
    let status = 0;
    const chunks: Buffer[] = [];
    const done = (how: Ending['how']) => {
      clearTimeout(timer);
      resolve({ how, status, body: Buffer.concat(chunks).toString() });
      req.destroy();
    };
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      status = res.statusCode ?? 0;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(res.complete ? 'complete' : 'broken'));
      res.on('error', () => done('broken'));
    });
    req.on('error', (e) => { clearTimeout(timer); if (status) done('broken'); else reject(e); });
    const timer = setTimeout(() => done('open'), waitMs);
  });
}

/** A request written byte for byte on a fresh connection; resolves with everything read until the proxy closes. */
function rawExchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('the proxy did not close the HTTP/1.0 connection within 15 s')); }, 15_000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (e) => { clearTimeout(timer); reject(e); });
    socket.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks).toString('latin1')); });
  });
}

/** What the body-echo backend answers: the request as it arrived. */
interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  length: number;
  sha256: string;
  /** The body as text, when short. */
  text: string;
}

/** An upstream that answers every request with a JSON description of it, body included. */
function bodyEchoBackend(): http.Server & { seen: Received[] } {
  const seen: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const r: Received = {
        method: req.method ?? '', url: req.url ?? '', headers: req.headers,
        length: body.length, sha256: sha256(body), text: body.length <= 1024 ? body.toString() : '',
      };
      seen.push(r);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(r));
    });
  });
  return Object.assign(server, { seen });
}

function received(a: Answer): Received {
  assert.equal(a.status, 200, `expected the backend's answer, got ${a.status} ${a.body.toString().slice(0, 200)}`);
  return JSON.parse(a.body.toString()) as Received;
}

/** Values of header `name` (any case) in the order the proxy sent them, one per field line. */
function fieldLines(a: Answer, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < a.rawHeaders.length; i += 2) if (a.rawHeaders[i].toLowerCase() === name) out.push(a.rawHeaders[i + 1]);
  return out;
}

for (const impl of IMPLS) {
  describe(`${impl}: --auto-rewrite and --protocol-rewrite`, () => {
    // the Host the client used, which --auto-rewrite must put into the upstream's own redirects
    const HOST = 'hub.example:8443';
    let backend: http.Server & { port: number };
    const proxies: Record<string, RunningProxy> = {};
    const flagSets: Record<string, string[]> = {
      'no flags': [],
      '--auto-rewrite': ['--auto-rewrite'],
      '--protocol-rewrite https': ['--protocol-rewrite', 'https'],
      '--auto-rewrite --protocol-rewrite https': ['--auto-rewrite', '--protocol-rewrite', 'https'],
    };

    before(async () => {
      // answers ?status=…&location=… with exactly that; SELF stands for this backend's own host:port
      backend = await listen(http.createServer((req, res) => {
        const q = new URL(req.url ?? '/', 'http://x').searchParams;
        res.writeHead(Number(q.get('status')), { location: q.get('location')!.replace('SELF', `127.0.0.1:${backend.port}`) });
        res.end('moved');
      }));
      await Promise.all(Object.entries(flagSets).map(async ([name, flags]) => {
        proxies[name] = await startProxy(impl, flags);
        await addRoute(proxies[name], '/', { target: `http://127.0.0.1:${backend.port}` });
      }));
    });
    after(async () => {
      await Promise.all(Object.values(proxies).map((p) => p.stop()));
      await close(backend);
    });

    async function locationVia(flags: string, status: number, location: string): Promise<string | undefined> {
      const q = new URLSearchParams({ status: String(status), location });
      const a = await request(proxies[flags].port, `/?${q}`, { headers: { host: HOST } });
      assert.equal(a.status, status);
      return a.headers.location;
    }

    /** Only redirects (and 201) that point at the upstream itself are rewritten: host by --auto-rewrite, scheme by --protocol-rewrite. */
    function expected(flags: string, status: number, location: string, self: string): string {
      const own = [201, 301, 302, 307, 308].includes(status) && location.startsWith('http://SELF/');
      if (!own) return location.replace('SELF', self);
      let out = location.replace('SELF', flags.includes('--auto-rewrite') ? HOST : self);
      if (flags.includes('--protocol-rewrite')) out = out.replace(/^http:/, 'https:');
      return out;
    }

    const cases: [number, string, string][] = [
      [301, 'http://SELF/x', 'a 301 to the upstream itself'],
      [302, 'http://SELF/hub/login?next=%2Fuser%2Fa%20b%2F', 'a 302 with an escaped query'],
      [307, 'http://SELF/x', 'a 307'],
      [308, 'http://SELF/x', 'a 308'],
      [201, 'http://SELF/api/contents/new', 'a 201 Created'],
      [303, 'http://SELF/x', "a 303 (not in http-proxy's list, so never rewritten)"],
      [200, 'http://SELF/x', 'a 200 with a Location'],
      [302, 'http://other.example/x', 'another host'],
      [302, 'http://127.0.0.1:1/x', 'the same address on another port'],
      [302, '/hub/login', 'a relative Location'],
      [302, '//SELF/x', 'a scheme-relative Location'],
    ];
    for (const flags of Object.keys(flagSets)) {
      for (const [status, location, why] of cases) {
        test(`${flags}: ${why} (${status} ${location})`, async () => {
          const self = `127.0.0.1:${backend.port}`;
          assert.equal(await locationVia(flags, status, location), expected(flags, status, location, self));
        });
      }
    }
  });

  describe(`${impl}: request bodies`, () => {
    const up = behindProxy(impl, bodyEchoBackend);

    test('a 1 MB POST with Content-Length arrives byte for byte', async () => {
      const body = randomBytes(1 << 20);
      const got = received(await request(up.proxy.port, '/upload', { method: 'POST', headers: { 'content-length': body.length }, body }));
      assert.equal(got.length, body.length);
      assert.equal(got.sha256, sha256(body));
      assert.equal(got.headers['content-length'], String(body.length));
    });

    test('a chunked upload (no Content-Length) arrives whole', async () => {
      const parts = [Buffer.from('first '), randomBytes(300_000), Buffer.from(' last')];
      const a = await request(up.proxy.port, '/upload', { method: 'POST', headers: { 'transfer-encoding': 'chunked' }, body: parts });
      const got = received(a);
      assert.equal(got.length, 300_011);
      assert.equal(got.sha256, sha256(Buffer.concat(parts)));
    });

    // CHP passes Expect on to the upstream (which answers the 100 to CHP); hub-guard's server answers the 100
    // itself and drops Expect, since undici does not take it. Either way the client gets its 100 and the body arrives.
    test('Expect: 100-continue: the client gets its 100, then the body arrives intact', async () => {
      const body = randomBytes(64 * 1024);
      const a = await request(up.proxy.port, '/upload', {
        method: 'POST', headers: { expect: '100-continue', 'content-length': body.length }, body, waitForContinue: true,
      });
      assert.equal(received(a).sha256, sha256(body));
    });

    test('an empty POST, with and without Content-Length: 0', async () => {
      for (const headers of [{}, { 'content-length': 0 }]) {
        const got = received(await request(up.proxy.port, '/empty', { method: 'POST', headers }));
        assert.equal(got.method, 'POST');
        assert.equal(got.length, 0);
      }
    });

    for (const method of ['PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      test(`${method} with a body`, async () => {
        const got = received(await request(up.proxy.port, '/m', { method, headers: { 'content-length': 11 }, body: 'hello world' }));
        assert.equal(got.method, method);
        assert.equal(got.text, 'hello world');
      });
    }

    // Both pass a GET's body on, with Content-Length or chunked.
    test('a GET with a body keeps it', async () => {
      let got = received(await request(up.proxy.port, '/g', { headers: { 'content-length': 7 }, body: 'payload' }));
      assert.equal(got.method, 'GET');
      assert.equal(got.text, 'payload');
      got = received(await request(up.proxy.port, '/g', { headers: { 'transfer-encoding': 'chunked' }, body: ['get ', 'body'] }));
      assert.equal(got.text, 'get body');
    });
  });

  describe(`${impl}: responses`, () => {
    let proxy: RunningProxy;
    let backend: http.Server & { port: number };
    let raw: TcpServer & { port: number; sockets: Set<Socket> };
    const big = randomBytes(5 << 20);

    before(async () => {
      backend = await listen(http.createServer(async (req, res) => {
        switch (new URL(req.url ?? '/', 'http://x').pathname) {
          case '/big':
            // streamed in 64 KB writes with a pause after every MB, as a large download arrives
            res.writeHead(200, { 'content-type': 'application/octet-stream' });
            for (let i = 0; i < big.length && !res.destroyed; i += 65536) {
              if (!res.write(big.subarray(i, i + 65536))) await new Promise((r) => res.once('drain', r));
              if ((i + 65536) % (1 << 20) === 0) await sleep(15);
            }
            res.end();
            return;
          case '/cookies':
            res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/; HttpOnly', 'c=3; Expires=Wed, 21 Oct 2037 07:28:00 GMT']);
            res.setHeader('x-dup', ['one', 'two']);
            res.setHeader('cache-control', ['no-cache', 'no-store']);
            res.end('ok');
            return;
          case '/head':
            res.writeHead(200, { 'content-length': 11, 'x-head': 'yes' });
            res.end(req.method === 'HEAD' ? undefined : 'hello world');
            return;
          case '/204':
            res.writeHead(204, { 'x-status': '204' });
            res.end();
            return;
          case '/304':
            res.writeHead(304, { etag: '"v1"' });
            res.end();
            return;
          case '/304-length':
            // RFC 9110 §8.6: a 304 may state the length of the representation it stands for; it still has no body
            res.writeHead(304, { etag: '"v1"', 'content-length': 1234 });
            res.end();
            return;
          default:
            res.writeHead(404);
            res.end();
        }
      }));
      raw = await listen(rawBackend((line, socket) => {
        const path = line.split(' ')[1];
        if (path === '/raw/reason') socket.end('HTTP/1.1 299 Fine\r\nContent-Length: 2\r\n\r\nok');
        else if (path === '/raw/eof') {
          // neither Content-Length nor chunked: the body ends when the connection does
          socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst-');
          setTimeout(() => socket.end('second'), 30);
        } else if (path === '/raw/hop') socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\nKeep-Alive: timeout=1, max=1\r\nContent-Length: 3\r\n\r\nhop');
        else if (path === '/raw/304') socket.end('HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n');
        else if (path === '/raw/duplicates') {
          socket.end('HTTP/1.1 302 Found\r\nLocation: /first\r\nLocation: /second\r\n' +
            'Content-Type: text/plain\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nok');
        } else if (path === '/raw/latin1') {
          socket.end(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nX-Name: '), Buffer.from('jürgen ✓', 'utf8'), Buffer.from('\r\nContent-Length: 2\r\n\r\nok')]));
        } else if (path === '/raw/short') {
          // promises 100 bytes, sends 10, and dies
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789');
          setTimeout(() => socket.destroy(), 30);
        } else if (path === '/raw/chunk-cut') {
          socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
          setTimeout(() => socket.destroy(), 30);
        } else socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      }));
      proxy = await startProxy(impl);
      await addRoute(proxy, '/', { target: `http://127.0.0.1:${backend.port}` });
      await addRoute(proxy, '/raw', { target: `http://127.0.0.1:${raw.port}` });
    });
    after(async () => {
      await proxy?.stop();
      await close(backend);
      await close(raw, raw.sockets);
    });

    test('a 5 MB streamed response arrives complete and identical', async () => {
      const a = await request(proxy.port, '/big');
      assert.equal(a.status, 200);
      assert.equal(a.body.length, big.length);
      assert.equal(sha256(a.body), sha256(big));
    });

    test('a 5 MB response to a client that keeps pausing arrives complete and identical', async () => {
      const a = await request(proxy.port, '/big', { pauseEvery: 512 * 1024 });
      assert.equal(sha256(a.body), sha256(big));
    });

    test('several Set-Cookie headers stay separate field lines, in order', async () => {
      const a = await request(proxy.port, '/cookies');
      assert.deepEqual(fieldLines(a, 'set-cookie'), ['a=1; Path=/', 'b=2; Path=/; HttpOnly', 'c=3; Expires=Wed, 21 Oct 2037 07:28:00 GMT']);
    });

    test('repeated list headers arrive with every value', async () => {
      const a = await request(proxy.port, '/cookies');
      assert.equal(a.headers['x-dup'], 'one, two');
      assert.equal(a.headers['cache-control'], 'no-cache, no-store');
    });

    // A singleton field sent twice is the upstream's error; node's parser (CHP's http client) keeps the first
    // value, so CHP relays one Location and one Content-Type. Joining them would make a Location nobody can follow.
    test('repeated singleton headers (Location, Content-Type): the first value is relayed', async () => {
      const a = await request(proxy.port, '/raw/duplicates');
      assert.equal(a.status, 302);
      assert.deepEqual(fieldLines(a, 'location'), ['/first']);
      assert.deepEqual(fieldLines(a, 'content-type'), ['text/plain']);
    });

    test('header bytes outside ASCII pass unchanged', async () => {
      const a = await request(proxy.port, '/raw/latin1');
      assert.deepEqual(Buffer.from(a.headers['x-name'] as string, 'latin1'), Buffer.from('jürgen ✓', 'utf8'));
    });

    test('HEAD gets the headers and no body', async () => {
      const a = await request(proxy.port, '/head', { method: 'HEAD' });
      assert.equal(a.status, 200);
      assert.equal(a.headers['content-length'], '11');
      assert.equal(a.headers['x-head'], 'yes');
      assert.equal(a.body.length, 0);
    });

    test('204 and 304 have headers and no body', async () => {
      const noContent = await request(proxy.port, '/204');
      assert.equal(noContent.status, 204);
      assert.equal(noContent.headers['x-status'], '204');
      assert.equal(noContent.body.length, 0);
      for (const path of ['/304', '/raw/304']) {
        const notModified = await request(proxy.port, path, { headers: { 'if-none-match': '"v1"' } });
        assert.equal(notModified.status, 304, path);
        assert.equal(notModified.headers.etag, '"v1"', path);
        assert.equal(notModified.body.length, 0, path);
      }
    });

    // node's http client (CHP's) knows a 304 has no body whatever its Content-Length says; a client that waits
    // for those bytes hangs, and with it the browser's conditional request for a cached file.
    test('a 304 with a Content-Length has no body and ends at once', async () => {
      const end = await ending(proxy.port, '/304-length', 10_000);
      assert.equal(end.status, 304);
      assert.equal(end.how, 'complete');
      assert.equal(end.body, '');
    });

    test('a custom reason phrase (HTTP/1.1 299 Fine) is relayed', async () => {
      const a = await request(proxy.port, '/raw/reason');
      assert.equal(a.status, 299);
      assert.equal(a.statusMessage, 'Fine');
      assert.equal(a.body.toString(), 'ok');
    });

    test('a body delimited by the upstream closing the connection arrives complete', async () => {
      const a = await request(proxy.port, '/raw/eof');
      assert.equal(a.status, 200);
      assert.equal(a.body.toString(), 'first-second');
    });

    // CHP relays the upstream's Connection: close (and Keep-Alive) to the client, so the client's connection
    // closes after the first answer; the next request still works, on a new connection. Those headers belong to
    // the upstream connection only (RFC 9110 §7.6.1): hub-guard drops them and the client's connection stays open.
    test(`the upstream's Connection: close and Keep-Alive do not break the client's keep-alive connection${impl === 'chp' ? ' (CHP: relays them, the client reconnects)' : ''}`, async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const first = await request(proxy.port, '/raw/hop', { agent });
        const second = await request(proxy.port, '/raw/hop', { agent });
        for (const a of [first, second]) {
          assert.equal(a.status, 200);
          assert.equal(a.body.toString(), 'hop');
        }
        if (impl === 'chp') {
          assert.equal(first.headers.connection, 'close');
        } else {
          assert.notEqual(first.headers.connection, 'close');
          assert.notEqual(first.headers['keep-alive'], 'timeout=1, max=1');
          assert.equal(second.socket, first.socket, 'the second request used the same connection');
        }
      } finally {
        agent.destroy();
      }
    });

    // http-proxy pipes the upstream response into the client's without watching for the upstream breaking off,
    // so CHP leaves the client waiting for bytes that never come (still so after a minute). hub-guard must end
    // the client's connection so it can tell the body is incomplete.
    for (const [path, what] of [['/raw/short', 'short of its Content-Length'], ['/raw/chunk-cut', 'inside a chunked body']]) {
      test(`an upstream that dies ${what}: ${impl === 'chp' ? 'CHP bug: the client is left hanging' : 'the client sees the response break off'}`, async () => {
        const end = await ending(proxy.port, path, impl === 'chp' ? 1000 : 10_000);
        assert.equal(end.status, 200);
        assert.equal(end.how, impl === 'chp' ? 'open' : 'broken');
      });
    }
  });

  describe(`${impl}: hop-by-hop headers from the client`, () => {
    const up = behindProxy(impl, bodyEchoBackend);

    const cases: [string, OutgoingHttpHeaders][] = [
      ['Connection: keep-alive', { connection: 'keep-alive' }],
      ['Connection: close', { connection: 'close' }],
      ['Keep-Alive', { connection: 'keep-alive', 'keep-alive': 'timeout=5, max=100' }],
      ['TE: trailers', { connection: 'TE', te: 'trailers' }],
      ['Upgrade without Connection: upgrade', { upgrade: 'h2c' }],
      ['Upgrade: websocket on a plain GET', { upgrade: 'websocket' }],
      ['Proxy-Connection', { 'proxy-connection': 'keep-alive' }],
    ];
    for (const [what, headers] of cases) {
      test(`${what}: the request reaches the server`, async () => {
        const before = up.backend.seen.length;
        const got = received(await request(up.proxy.port, `/hop?${encodeURIComponent(what)}`, { method: 'POST', headers: { ...headers, 'content-length': 4 }, body: 'data' }));
        assert.equal(up.backend.seen.length, before + 1);
        assert.equal(got.text, 'data');
        // CHP hands these on to the server too; harmless, but they describe the client's connection, not the
        // proxy's (RFC 9110 §7.6.1), and hub-guard drops them.
        if (impl === 'hub-guard') {
          for (const h of ['keep-alive', 'te', 'upgrade', 'proxy-connection']) assert.equal(got.headers[h], undefined, h);
        }
      });
    }
  });

  describe(`${impl}: clients that go away`, () => {
    let downloadsClosed = 0;
    let uploadsBroken = 0;
    const up = behindProxy(impl, () => http.createServer((req, res) => {
      if (req.url === '/forever') {
        // a stream that never ends: one chunk every 50 ms until someone closes it
        res.writeHead(200, { 'content-type': 'text/plain' });
        const timer = setInterval(() => res.write('tick\n'), 50);
        res.on('close', () => {
          clearInterval(timer);
          downloadsClosed++;
        });
        return;
      }
      req.resume();
      req.on('close', () => { if (!req.complete) uploadsBroken++; });
      req.on('end', () => res.end('stored'));
    }));

    test('a client that drops an endless download: the upstream response is closed too', async () => {
      const closedBefore = downloadsClosed;
      await new Promise<void>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port: up.proxy.port, path: '/forever', agent: false }, (res) => {
          let chunks = 0;
          res.on('data', () => {
            if (++chunks === 3) {
              req.destroy();
              resolve();
            }
          });
        });
        req.on('error', (e) => { if (!req.destroyed) reject(e); });
      });
      await eventually('the upstream to see its response closed', () => (downloadsClosed > closedBefore ? true : undefined), 10_000, 25);
    });

    test('a client that drops a half-sent upload: the upstream request is broken off too', async () => {
      const brokenBefore = uploadsBroken;
      const req = http.request({ host: '127.0.0.1', port: up.proxy.port, path: '/upload', method: 'POST', agent: false, headers: { 'content-length': 4 << 20 } });
      req.on('error', () => {});
      req.write(randomBytes(1 << 20));
      await sleep(100);
      req.destroy();
      await eventually('the upstream to see the upload break off', () => (uploadsBroken > brokenBefore ? true : undefined), 10_000, 25);
    });
  });

  describe(`${impl}: an HTTP/1.0 client`, () => {
    const up = behindProxy(impl, () => http.createServer((req, res) => {
      // written in two parts without a length: chunked towards the proxy, which a 1.0 client cannot read
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write(`${req.method} ${req.url} `);
      setTimeout(() => res.end('complete'), 20);
    }));

    for (const [what, sent] of [['without Host', 'GET /x HTTP/1.0\r\n\r\n'], ['with Host', 'GET /y HTTP/1.0\r\nHost: hub.example\r\n\r\n']]) {
      test(`GET / HTTP/1.0 ${what} gets a complete, unchunked answer`, async () => {
        const text = await rawExchange(up.proxy.port, sent);
        const [head, body] = [text.slice(0, text.indexOf('\r\n\r\n')), text.slice(text.indexOf('\r\n\r\n') + 4)];
        assert.match(head, /^HTTP\/1\.[01] 200 /);
        assert.doesNotMatch(head, /transfer-encoding/i);
        assert.equal(body, `GET ${sent.split(' ')[1]} complete`);
      });
    }
  });

  describe(`${impl}: https upstreams`, () => {
    let dir: string;
    let backend: https.Server & { port: number };
    const running: RunningProxy[] = [];
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'parity-tls-'));
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      ], { stdio: 'ignore' });
      backend = await listen(https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
        res.end(`secure ${req.url}`);
      }));
    });
    after(async () => {
      await Promise.all(running.map((p) => p.stop()));
      backend.closeAllConnections();
      await new Promise<void>((resolve) => backend.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    });

    async function via(flags: string[]): Promise<Answer> {
      const proxy = await startProxy(impl, flags);
      running.push(proxy);
      await addRoute(proxy, '/', { target: `https://127.0.0.1:${backend.port}` });
      return request(proxy.port, '/tls');
    }

    test('a self-signed certificate is refused: 503', async () => {
      assert.equal((await via([])).status, 503);
    });

    // CHP 5.3 turns --insecure into http-proxy's global `secure: false`, but proxyOptsForTarget() sets
    // `secure: true` on every https target, which wins: --insecure has no effect on https upstreams.
    test(`--insecure: ${impl === 'chp' ? 'CHP bug: still 503' : '200'}`, async () => {
      const a = await via(['--insecure']);
      assert.equal(a.status, impl === 'chp' ? 503 : 200);
      if (impl !== 'chp') assert.equal(a.body.toString(), 'secure /tls');
    });

    test('--client-ssl-ca <the certificate>: 200', async () => {
      const a = await via(['--client-ssl-ca', join(dir, 'cert.pem')]);
      assert.equal(a.status, 200);
      assert.equal(a.body.toString(), 'secure /tls');
    });
  });

  describe(`${impl}: --proxy-timeout 300 once the response has begun`, () => {
    const up = behindProxy(impl, () => http.createServer((req, res) => {
      if (req.url === '/stall') {
        // the head and 10 of 100 bytes, then silence
        res.writeHead(200, { 'content-length': 100 });
        res.write('0123456789');
        return;
      }
      // 12 chunks 40 ms apart: longer than the timeout in total, never silent for as long
      res.writeHead(200, { 'content-type': 'text/plain' });
      let n = 0;
      const timer = setInterval(() => {
        res.write(`${n} `);
        if (++n === 12) {
          clearInterval(timer);
          res.end();
        }
      }, 40);
      res.on('close', () => clearInterval(timer));
    }), ['--proxy-timeout', '300']);

    // http-proxy's proxyTimeout aborts the upstream request but leaves the client's response open for ever.
    test(`an upstream that stalls mid-body: ${impl === 'chp' ? 'CHP bug: the client is left hanging' : 'the client sees the response break off'}`, async () => {
      const end = await ending(up.proxy.port, '/stall', impl === 'chp' ? 1500 : 10_000);
      assert.equal(end.status, 200);
      assert.equal(end.how, impl === 'chp' ? 'open' : 'broken');
      assert.equal(end.body, '0123456789');
    });

    test('a slow but steady response is not cut: the timeout is for silence, not the whole response', async () => {
      const a = await request(up.proxy.port, '/steady');
      assert.equal(a.body.toString(), Array.from({ length: 12 }, (_, i) => `${i} `).join(''));
    });
  });
}
