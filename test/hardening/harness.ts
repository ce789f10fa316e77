// Shared pieces of the hardening suites: a hub DB made by JupyterHub's own ORM, a cookie secret, hub-guard as a real
// process (pid, stdout and stderr kept apart), upstreams that can misbehave on purpose, and raw-socket clients.
import { eventually } from '../helpers/eventually.js';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { WebSocketServer, type WebSocket } from 'ws';
import { createSignedValue } from '../../src/identity/tornado.js';
import { ownerOf, WS_HEADERS, type Case } from '../helpers/path-cases.js';
import { freePort } from '../helpers/ports.js';

// dist/test/hardening/harness.js → repository root
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'dist/src/cli.js');
const PYTHON = '/usr/bin/python3';

export const HUB_COOKIE = 'jupyterhub-hub-login';
export const SESSION_COOKIE = 'hub-guard-session';

// ---------------------------------------------------------------- scratch space, hub DB, secret

export interface Scratch { dir: string; remove(): void }

const scratchDirs = new Set<string>();

export function scratch(prefix = 'hg-hardening-'): Scratch {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratchDirs.add(dir);
  return {
    dir,
    remove: () => {
      rmSync(dir, { recursive: true, force: true });
      scratchDirs.delete(dir);
    },
  };
}

export interface HubUserRow { id: number; name: string; cookieId: string }

export interface HubDb {
  file: string;
  url: string;
  users: Record<string, HubUserRow>;
}

/**
 * A sqlite hub DB whose schema JupyterHub 3.0's ORM made (tables, constraints, alembic stamp), with these users
 * inserted as the hub would (ids from 1, fresh 32-hex cookie_ids).
 */
export async function makeHubDb(dir: string, names: string[]): Promise<HubDb> {
  const file = join(dir, 'jupyterhub.sqlite');
  const url = `sqlite:///${file}`;
  await promisify(execFile)(PYTHON, ['-c', `from jupyterhub import orm; orm.new_session_factory(${JSON.stringify(`sqlite:///${file}`)})`], { timeout: 60_000 });
  const db = new Database(file);
  const users: Record<string, HubUserRow> = {};
  try {
    const insert = db.prepare("INSERT INTO users (id, name, admin, created, cookie_id) VALUES (?, ?, 0, '2024-05-06 07:08:09', ?)");
    names.forEach((name, i) => {
      const row = { id: i + 1, name, cookieId: randomBytes(16).toString('hex') };
      insert.run(row.id, row.name, row.cookieId);
      users[name] = row;
    });
  } finally {
    db.close();
  }
  return { file, url, users };
}

/** Runs SQL on the hub DB as an operator at a shell would. */
export function execSql(db: HubDb, sql: string): void {
  const d = new Database(db.file);
  try {
    d.exec(sql);
  } finally {
    d.close();
  }
}

export interface Secret { file: string; key: Buffer; hex: string }

/** The hub's cookie secret file: 32 random bytes as hex, mode 0600. */
export function writeSecret(dir: string): Secret {
  const key = randomBytes(32);
  const file = join(dir, 'jupyterhub_cookie_secret');
  writeFileSync(file, `${key.toString('hex')}\n`);
  chmodSync(file, 0o600);
  return { file, key, hex: key.toString('hex') };
}

/** `jupyterhub-hub-login="…"` as a browser sends it back after the hub set it. */
export function hubCookie(secret: Buffer, cookieId: string, name = HUB_COOKIE): string {
  return `${name}="${createSignedValue(secret, name, cookieId, Date.now() / 1000)}"`;
}

// ---------------------------------------------------------------- hub-guard as a process

export interface GuardProc {
  pid: number;
  port: number;
  apiPort: number;
  /** CONFIGPROXY_AUTH_TOKEN */
  token: string;
  stdout(): string;
  stderr(): string;
  /** stderr's JSON lines, parsed; anything else on stderr is returned as {unparsed: line}. */
  logs(): Record<string, any>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  kill(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL if it has not exited after a while. */
  stop(): Promise<void>;
}

export interface GuardOptions {
  flags?: string[];
  /** Environment besides PATH/HOME; CONFIGPROXY_AUTH_TOKEN is a fresh random token unless given here. */
  env?: Record<string, string>;
  /** Wait for /readyz = 200 (default) instead of only for the ports. */
  waitReady?: boolean;
}

const running = new Set<ChildProcess>();
// a test file that dies without its after() hooks (a failure, or the runner killing it on a timeout) must not leave
// hub-guard processes or scratch directories behind
const killAll = () => {
  for (const c of running) c.kill('SIGKILL');
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
};
process.once('exit', killAll);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    killAll();
    process.kill(process.pid, signal);
  });
}

function spawnGuard(args: string[], env: Record<string, string>): { child: ChildProcess; out: { stdout: string; stderr: string }; exited: GuardProc['exited'] } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d: Buffer) => { out.stdout += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out.stderr += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      running.delete(child);
      // let the pipes drain, so stdout()/stderr() hold everything once `exited` resolves
      setImmediate(() => resolve({ code, signal }));
    });
  });
  return { child, out, exited };
}

export function parseLogLines(text: string): Record<string, any>[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => {
    try {
      const v = JSON.parse(l);
      return typeof v === 'object' && v !== null ? (v as Record<string, any>) : { unparsed: l };
    } catch {
      return { unparsed: l };
    }
  });
}

/** Starts `node dist/src/cli.js` on free 127.0.0.1 ports with `flags`. */
export async function startGuard(o: GuardOptions = {}): Promise<GuardProc> {
  const port = await freePort();
  const apiPort = await freePort();
  const token = o.env?.CONFIGPROXY_AUTH_TOKEN ?? randomBytes(16).toString('hex');
  const args = ['--ip', '127.0.0.1', '--port', String(port), '--api-ip', '127.0.0.1', '--api-port', String(apiPort), ...(o.flags ?? [])];
  const { child, out, exited } = spawnGuard(args, { ...o.env, CONFIGPROXY_AUTH_TOKEN: token });
  const g: GuardProc = {
    pid: child.pid!,
    port,
    apiPort,
    token,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    logs: () => parseLogLines(out.stderr),
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
    kill: (signal) => { child.kill(signal); },
    async stop() {
      if (!g.alive()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
  try {
    await waitForPort(port, g);
    await waitForPort(apiPort, g);
    if (o.waitReady !== false) {
      await eventually('hub-guard /readyz', async () => ((await get(apiPort, '/readyz')).status === 200 ? true : undefined));
    }
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    throw new Error(`hub-guard did not start: ${(e as Error).message}\nstderr:\n${out.stderr}\nstdout:\n${out.stdout}`);
  }
  return g;
}

/** Runs hub-guard with `args` until it exits by itself (a start-up error); kills it if it is still up after timeoutMs. */
export async function runGuardToExit(args: string[], env: Record<string, string>, timeoutMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { child, out, exited } = spawnGuard(args, env);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const { code } = await exited;
  clearTimeout(timer);
  return { code, ...out };
}

async function waitForPort(port: number, g: GuardProc, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!g.alive()) throw new Error(`exited before listening on ${port}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`);
}

/** `p`, or a rejection naming `what` if it has not settled after ms: waits in these tests end by themselves. */
export function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/** Open file descriptors of a process (sockets included), from /proc. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export { eventually };

// ---------------------------------------------------------------- HTTP clients

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** One request on its own connection; the path goes out byte for byte. */
export function request(port: number, method: string, path: string, headers: OutgoingHttpHeaders = {}, body?: string | Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const h: OutgoingHttpHeaders = { ...headers };
    if (body !== undefined) h['content-length'] = Buffer.byteLength(body);
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: h, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export const get = (port: number, path: string, headers: OutgoingHttpHeaders = {}) => request(port, 'GET', path, headers);

/** The value a reply's Set-Cookie gives `name`. */
export function setCookieValue(r: { headers: IncomingHttpHeaders }, name: string): string | undefined {
  for (const line of r.headers['set-cookie'] ?? []) {
    if (!line.startsWith(`${name}=`)) continue;
    const semi = line.indexOf(';');
    return line.slice(name.length + 1, semi === -1 ? undefined : semi);
  }
  return undefined;
}

export interface RawResult {
  /** Everything the server sent. */
  text: string;
  /** Status codes of every response in `text`, in order. */
  statuses: number[];
  /** The server ended or reset the connection (rather than the client giving up after waitMs). */
  closedByServer: boolean;
}

/**
 * Writes `data` on a fresh connection and collects the answer until the server closes the connection (or, with
 * `untilHead`, until a response head is complete), or until waitMs passes without that.
 */
export function raw(port: number, data: string | Buffer, waitMs = 10_000, untilHead = false): Promise<RawResult> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ text, statuses: statusesOf(text), closedByServer });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      if (untilHead && Buffer.concat(chunks).includes('\r\n\r\n')) finish(false);
    });
    s.on('end', () => finish(true));
    s.on('close', () => finish(true));
    s.on('error', () => finish(true));
    s.on('connect', () => s.write(data));
  });
}

/** Status codes of the responses in `text`, walked one after the other by their framing (length, chunks, or close). */
export function statusesOf(text: string): number[] {
  const out: number[] = [];
  let pos = 0;
  while (pos < text.length) {
    const headEnd = text.indexOf('\r\n\r\n', pos);
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(text.slice(pos, pos + 12));
    if (!m || headEnd === -1) break;
    const status = Number(m[1]);
    out.push(status);
    const head = text.slice(pos, headEnd).toLowerCase();
    pos = headEnd + 4;
    if (status === 101) break;
    if ((status >= 100 && status < 200) || status === 204 || status === 304) continue;
    const length = /\r\ncontent-length: *(\d+)/.exec(head);
    if (/\r\ntransfer-encoding: *chunked/.test(head)) {
      for (;;) {
        const lineEnd = text.indexOf('\r\n', pos);
        if (lineEnd === -1) return out;
        const size = parseInt(text.slice(pos, lineEnd), 16);
        if (Number.isNaN(size)) return out;
        pos = lineEnd + 2 + size + 2;
        if (size === 0) break;
      }
    } else if (length) {
      pos += Number(length[1]);
    } else {
      break;
    }
  }
  return out;
}

// ---------------------------------------------------------------- path cases (test/helpers/path-cases.ts)

/** A proxy under test and the servers behind it, as checkPathCase sees them. */
export interface PathSetup {
  /** The proxy's public port. */
  port: number;
  servers: Array<{ name: string; seen: Array<{ url: string; headers: IncomingHttpHeaders }> }>;
  /** route prefix → server name, for ownerOf */
  table: Map<string, string>;
  /** Servers that are hubs: the only ones that may receive a path whose owner is ambiguous. */
  hubs: Set<string>;
  hostRouting: boolean;
  /**
   * The server the proxy decided for, read independently from the request as sent; when set, the server that
   * answered must be this one (a proxy behind the one under test could read the target differently).
   */
  decided?: (c: Case) => string;
}

/**
 * Sends one case with `credential` (a header line) and checks the invariant: at most one server saw it; a 4xx means
 * none did; otherwise the one that did is the one its received path belongs to, and it is never in `forbidden`.
 */
export async function checkPathCase(s: PathSetup, c: Case, credential: string | undefined, forbidden: string[]): Promise<void> {
  const lines = [`GET ${c.target} HTTP/${c.version ?? '1.1'}`];
  if (c.host !== undefined) lines.push(`Host: ${c.host}`);
  if (credential) lines.push(credential);
  lines.push(...(c.extra ?? []));
  lines.push(...(c.upgrade ? WS_HEADERS : ['Connection: close']));
  const before = new Map(s.servers.map((u) => [u.name, u.seen.length]));
  const r = await raw(s.port, `${lines.join('\r\n')}\r\n\r\n`, 10_000, c.upgrade);
  const label = `${c.target.slice(0, 120)}${c.upgrade ? ' (websocket)' : ''}${c.host !== undefined ? ` (Host: ${c.host})` : ''}${credential ? ' as alice' : ' anonymous'}`;
  const status = r.statuses[0];
  assert.ok(status !== undefined, `${label}: no HTTP answer: ${JSON.stringify(r.text.slice(0, 200))}`);
  const reached = s.servers.flatMap((u) => u.seen.slice(before.get(u.name)!).map((seen) => ({ up: u.name, seen })));
  assert.ok(reached.length <= 1, `${label}: ${reached.length} upstream requests: ${reached.map((x) => `${x.up} ${x.seen.url}`).join(', ')}`);
  for (const x of reached) assert.ok(!forbidden.includes(x.up), `${label}: reached ${x.up} (${x.seen.url})`);
  if (status >= 400 && status < 500) {
    assert.equal(reached.length, 0, `${label}: refused with ${status} but ${reached[0]?.up} saw it`);
  } else {
    assert.equal(reached.length, 1, `${label}: answered ${status} without any upstream: ${r.text.slice(0, 300)}`);
    const { up, seen } = reached[0]!;
    assert.equal(status, c.upgrade ? 101 : 200, `${label}: ${up} saw it but the client got ${status}`);
    const owner = ownerOf(s.table, seen.url, seen.headers.host, s.hostRouting);
    if (!(owner === 'ambiguous' && s.hubs.has(up))) assert.equal(owner, up, `${label}: ${up} received ${JSON.stringify(seen.url.slice(0, 120))} (Host ${seen.headers.host}), which belongs to ${owner}`);
    if (s.decided) {
      const decided = s.decided(c);
      assert.equal(up, decided, `${label}: the request was decided for ${decided} but ${up} answered (it received ${JSON.stringify(seen.url.slice(0, 120))})`);
    }
  }
  if (c.expect !== undefined) {
    if (c.expect === 'refused') assert.ok(status >= 400 && status < 500, `${label}: expected a refusal, got ${status}`);
    else assert.equal(reached[0]?.up, c.expect, `${label}: expected ${c.expect} to answer, got ${status} from ${reached[0]?.up ?? 'hub-guard'}`);
  }
}

// ---------------------------------------------------------------- upstreams

export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** The header lines as received, names in their case: `headers` is an object and cannot hold a `__proto__` header. */
  rawHeaders: string[];
  /** Body bytes that arrived. */
  bodyBytes: number;
  /** The request ended before its body was complete (the client, or the proxy for it, went away). */
  aborted: boolean;
  upgrade?: boolean;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, seen: Seen) => void;

export interface Upstream {
  name: string;
  port: number;
  url: string;
  seen: Seen[];
  /** Open websockets on this upstream. */
  sockets: Set<WebSocket>;
  /** Replaces the JSON echo for paths starting with `prefix` (longest prefix wins). */
  handle(prefix: string, handler: Handler): void;
  /** Stops listening and cuts every connection (a crashed server); up() listens again on the same port. */
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

/** A hub or user-server stand-in on 127.0.0.1: echoes `{upstream, method, url, headers}` and echoes websocket messages. */
export async function startUpstream(name: string, port = 0): Promise<Upstream> {
  const seen: Seen[] = [];
  const handlers = new Map<string, Handler>();
  const conns = new Set<Socket>();
  const wss = new WebSocketServer({ noServer: true });
  const sockets = new Set<WebSocket>();
  let server: Server | undefined;

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const entry: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: 0, aborted: false };
    seen.push(entry);
    req.on('data', (c: Buffer) => { entry.bodyBytes += c.length; });
    req.on('aborted', () => { entry.aborted = true; });
    req.on('error', () => { entry.aborted = true; });
    res.on('error', () => undefined);
    let best: Handler | undefined;
    let bestLen = -1;
    for (const [prefix, h] of handlers) {
      if ((req.url ?? '').startsWith(prefix) && prefix.length > bestLen) {
        best = h;
        bestLen = prefix.length;
      }
    }
    if (best) return best(req, res, entry);
    req.on('end', () => {
      if (res.destroyed) return;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ upstream: name, method: entry.method, url: entry.url, bodyBytes: entry.bodyBytes }));
    });
    req.resume();
  };

  const listen = async (p: number) => {
    const s = createServer(onRequest);
    s.on('connection', (c: Socket) => {
      conns.add(c);
      c.on('close', () => conns.delete(c));
    });
    s.on('upgrade', (req, socket, head) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: 0, aborted: false, upgrade: true });
      socket.on('error', () => undefined);
      wss.handleUpgrade(req, socket, head, (ws) => {
        sockets.add(ws);
        ws.on('close', () => sockets.delete(ws));
        ws.on('error', () => undefined);
        ws.on('message', (m, binary) => ws.send(m, { binary }));
      });
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(p, '127.0.0.1', () => resolve());
    });
    server = s;
    return (s.address() as AddressInfo).port;
  };

  const actualPort = await listen(port);
  const down = async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    for (const ws of sockets) ws.terminate();
    for (const c of conns) c.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  return {
    name,
    port: actualPort,
    url: `http://127.0.0.1:${actualPort}`,
    seen,
    sockets,
    handle: (prefix, h) => { handlers.set(prefix, h); },
    down,
    async up() {
      if (server) return;
      // the port was ours a moment ago; another process grabbing it in between is not worth retrying for
      await listen(actualPort);
    },
    async stop() {
      await down();
      wss.close();
    },
  };
}

/** POSTs a route through the CHP API, as the hub does; throws unless 201. */
export async function addRoute(g: GuardProc, prefix: string, data: Record<string, unknown>): Promise<void> {
  const r = await request(g.apiPort, 'POST', `/api/routes${prefix}`, { authorization: `token ${g.token}`, 'content-type': 'application/json' }, JSON.stringify({ jupyterhub: true, ...data }));
  if (r.status !== 201) throw new Error(`POST /api/routes${prefix} answered ${r.status} ${r.text}`);
}

/**
 * A browser's first visit to the hub with its hub login cookie: returns the `hub-guard-session=…` cookie hub-guard
 * minted for that user. `hubPath` is the hub's own prefix (`/hub/` or `/<base_url>/hub/`).
 */
export async function login(g: GuardProc, secret: Buffer, cookieId: string, hubPath = '/hub/'): Promise<string> {
  const r = await get(g.port, `${hubPath}home`, { cookie: hubCookie(secret, cookieId) });
  const v = setCookieValue(r, SESSION_COOKIE);
  if (r.status !== 200 || !v) throw new Error(`no session minted: ${r.status} ${JSON.stringify(r.headers['set-cookie'])} ${r.text.slice(0, 200)}`);
  return `${SESSION_COOKIE}=${v}`;
}
