// A real hub-guard process in front of small fake upstreams (a hub and user servers that answer JSON naming
// themselves), with a real JupyterHub-made sqlite hub DB and cookie secret, for the guard's integration tests.
import { eventually } from '../helpers/eventually.js';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { WebSocketServer } from 'ws';
import { createSignedValue } from '../../src/identity/tornado.js';
import { createHubDatabases, initializeHub, scratchDir, type HubConfig } from '../hubdb/fixtures.js';
import { freePort } from '../helpers/ports.js';
import { start, waitForPort, type Proc } from '../helpers/proc.js';

// dist/test/guard/fixture.js → repository root
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'dist/src/cli.js');

// ---------------------------------------------------------------- HTTP

export { send, type Reply, type SendOptions } from '../helpers/proxies.js';
import { send, type Reply } from '../helpers/proxies.js';

export interface UpgradeResult {
  /** 101 when the upgrade went through, else the refusal's status. */
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A websocket handshake (GET with Upgrade) to the public port; the connection is closed once answered. */
export function upgrade(port: number, path: string, headers: OutgoingHttpHeaders = {}): Promise<UpgradeResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1', port, path, agent: false,
      headers: {
        connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'), ...headers,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The Set-Cookie lines of a reply. */
export const setCookies = (r: { headers: IncomingHttpHeaders }): string[] => r.headers['set-cookie'] ?? [];

/** The value a Set-Cookie line gives `name`, or undefined when no line sets it. */
export function setCookieValue(r: { headers: IncomingHttpHeaders }, name: string): string | undefined {
  for (const line of setCookies(r)) {
    if (!line.startsWith(`${name}=`)) continue;
    const semi = line.indexOf(';');
    return line.slice(name.length + 1, semi === -1 ? undefined : semi);
  }
  return undefined;
}

export { eventually };

// ---------------------------------------------------------------- fake upstreams

export interface Seen { method: string; url: string; headers: IncomingHttpHeaders }

export interface Scripted { status: number; headers?: Record<string, string | string[]>; body?: string }

export interface Upstream {
  /** Which upstream answered: the JSON body's `upstream`. */
  name: string;
  port: number;
  url: string;
  requests: Seen[];
  upgrades: Seen[];
  /** TCP connections accepted so far. */
  connections(): number;
  /** Answers requests for `path` (query ignored) with this instead of the JSON echo. */
  script(path: string, reply: Scripted): void;
  unscript(path: string): void;
  stop(): Promise<void>;
}

/** A hub or user server stand-in: answers `{upstream, method, url, headers}` and accepts websockets. */
export async function startUpstream(name: string): Promise<Upstream> {
  const requests: Seen[] = [];
  const upgrades: Seen[] = [];
  const scripts = new Map<string, Scripted>();
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((req, res) => {
    const seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
    requests.push(seen);
    req.resume();
    const scripted = scripts.get((req.url ?? '').split('?')[0]);
    if (scripted) {
      res.writeHead(scripted.status, { 'content-type': 'application/json', ...scripted.headers });
      res.end(scripted.body ?? JSON.stringify({ upstream: name, scripted: true }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ upstream: name, ...seen }));
  });
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    upgrades.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (m) => ws.send(m)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    name, port, url: `http://127.0.0.1:${port}`, requests, upgrades,
    connections: () => connections,
    script: (path, reply) => scripts.set(path, reply),
    unscript: (path) => scripts.delete(path),
    async stop() {
      for (const c of wss.clients) c.terminate();
      wss.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------- hub database and secret

export interface HubUserRow { id: number; name: string; cookieId: string }

export interface HubDbFixture {
  dir: string;
  file: string;
  url: string;
  /** The users as the hub wrote them, by name. */
  users: Map<string, HubUserRow>;
  exec(sql: string): void;
  /** Re-reads `users` (after an exec that changed them). */
  reload(): void;
  /** Copies the current file aside, to restore it later with restore(). */
  save(): void;
  restore(): void;
  /** Puts an empty sqlite database in place of the file, in place (same inode), as `sqlite3 … .save` did. */
  wipe(): void;
  /** Rebuilds users without NOT NULL/UNIQUE on cookie_id, as the 2017 operators did. */
  dropCookieIdConstraints(): void;
  remove(): void;
}

/**
 * A sqlite hub DB made by JupyterHub 3.0 itself (JupyterHub.initialize with the dummy authenticator): the users,
 * the admin flag and the roles are exactly what a starting hub writes.
 */
export async function makeHubDb(config: Partial<HubConfig> & { allowed_users: string[] }): Promise<HubDbFixture> {
  const scratch = scratchDir();
  const [fx] = await createHubDatabases('sqlite', 1, scratch.dir, false);
  await initializeHub(fx, { admin_users: [], load_groups: {}, load_roles: [], ...config });
  const file = fx.file!;
  const saved = `${file}.saved`;
  const empty = join(scratch.dir, 'empty.sqlite');
  const db = () => new Database(file);
  const out: HubDbFixture = {
    dir: scratch.dir,
    file,
    url: fx.url,
    users: new Map(),
    exec(sql) {
      const d = db();
      try {
        d.exec(sql);
      } finally {
        d.close();
      }
    },
    reload() {
      const d = new Database(file, { readonly: true });
      try {
        const rows = d.prepare('SELECT id, name, cookie_id AS cookieId FROM users ORDER BY id').all() as HubUserRow[];
        out.users = new Map(rows.map((r) => [r.name, r]));
      } finally {
        d.close();
      }
    },
    save: () => copyFileSync(file, saved),
    restore: () => copyFileSync(saved, file),
    wipe() {
      const d = new Database(empty);
      d.exec('CREATE TABLE scratch (x); DROP TABLE scratch;');
      d.close();
      copyFileSync(empty, file);
    },
    dropCookieIdConstraints() {
      out.exec(`
        PRAGMA foreign_keys=OFF;
        CREATE TABLE users_rebuilt (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255), admin BOOLEAN, created DATETIME,
          last_activity DATETIME, cookie_id VARCHAR(255), state TEXT, encrypted_auth_state BLOB);
        INSERT INTO users_rebuilt SELECT id, name, admin, created, last_activity, cookie_id, state, encrypted_auth_state FROM users;
        DROP TABLE users;
        ALTER TABLE users_rebuilt RENAME TO users;`);
    },
    remove: () => scratch.remove(),
  };
  out.reload();
  return out;
}

export interface Secret { file: string; key: Buffer }

/** A hub cookie secret file as the hub writes it: 32 random bytes in hex, mode 0600. */
export function writeSecret(dir: string): Secret {
  const key = randomBytes(32);
  const file = join(dir, 'jupyterhub_cookie_secret');
  writeFileSync(file, `${key.toString('hex')}\n`);
  chmodSync(file, 0o600);
  return { file, key };
}

export const HUB_COOKIE = 'jupyterhub-hub-login';
export const SESSION_COOKIE = 'hub-guard-session';

/** `jupyterhub-hub-login=…` as a browser sends it back: quoted when the value has '=' (as Python's SimpleCookie did). */
export function hubCookie(secret: Buffer, cookieId: string, timestampSec = Date.now() / 1000, name = HUB_COOKIE): string {
  const v = createSignedValue(secret, name, cookieId, timestampSec);
  return `${name}=${v.includes('=') ? `"${v}"` : v}`;
}

// ---------------------------------------------------------------- hub-guard

export interface GuardOptions {
  db?: HubDbFixture;
  /** A hub DB file path when there is no fixture (e.g. one that does not exist yet). */
  dbFile?: string;
  secret: Secret;
  flags?: string[];
  /** HUB_GUARD_OPERATOR_TOKEN; CONFIGPROXY_AUTH_TOKEN is always a fresh random token. */
  operatorToken?: string;
  metrics?: boolean;
}

export interface Guard {
  port: number;
  apiPort: number;
  metricsPort?: number;
  apiUrl: string;
  /** CONFIGPROXY_AUTH_TOKEN. */
  token: string;
  /** The token /api/guard and the operator bypass accept. */
  operatorToken: string;
  output(): string;
  /** The JSON log lines, parsed. */
  logs(): Record<string, any>[];
  audits(): Record<string, any>[];
  /**
   * The first audit line `match` accepts, once the process's stderr has been read that far (the line is written
   * before the API answers, but the pipe may deliver it after the answer).
   */
  audit(match: (a: Record<string, any>) => boolean, what: string): Promise<Record<string, any>>;
  get(path: string, headers?: OutgoingHttpHeaders): Promise<Reply>;
  /** A request to the API port with the CHP token (or `auth` as the whole Authorization header). */
  api(method: string, path: string, body?: unknown, headers?: OutgoingHttpHeaders): Promise<Reply>;
  /** A request to /api/guard/… with the operator token. */
  operator(method: string, path: string, body?: unknown, headers?: OutgoingHttpHeaders): Promise<Reply>;
  addRoute(prefix: string, data: Record<string, unknown>): Promise<void>;
  alive(): boolean;
  stop(): Promise<void>;
}

/** Starts `node dist/src/cli.js` with the hub DB and secret on free ports, and waits until /readyz says ready. */
export async function startGuard(o: GuardOptions): Promise<Guard> {
  const port = await freePort();
  const apiPort = await freePort();
  const metricsPort = o.metrics ? await freePort() : undefined;
  const token = randomBytes(16).toString('hex');
  const dbFile = o.db?.file ?? o.dbFile;
  const args = [
    CLI,
    '--ip', '127.0.0.1', '--port', String(port),
    '--api-ip', '127.0.0.1', '--api-port', String(apiPort),
    ...(metricsPort ? ['--metrics-ip', '127.0.0.1', '--metrics-port', String(metricsPort)] : []),
    ...(dbFile ? ['--hub-db', `sqlite:///${dbFile}`] : []),
    '--cookie-secret-file', o.secret.file,
    ...(o.flags ?? []),
  ];
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, CONFIGPROXY_AUTH_TOKEN: token };
  if (o.operatorToken) env.HUB_GUARD_OPERATOR_TOKEN = o.operatorToken;
  const proc: Proc = start(process.execPath, args, { cwd: ROOT, env });
  const guard: Guard = {
    port, apiPort, metricsPort,
    apiUrl: `http://127.0.0.1:${apiPort}`,
    token,
    operatorToken: o.operatorToken ?? token,
    output: proc.output,
    logs: () => proc.output().split('\n').filter((l) => l.startsWith('{')).flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, any>];
      } catch {
        return [];
      }
    }),
    audits: () => guard.logs().filter((l) => l.audit === true),
    audit: (match, what) => eventually(`audit line: ${what}`, async () => guard.audits().find(match)),
    get: (path, headers = {}) => send(port, 'GET', path, { headers }),
    api: (method, path, body, headers = {}) => send(apiPort, method, path, { body, headers: { authorization: `token ${token}`, ...headers } }),
    operator: (method, path, body, headers = {}) => send(apiPort, method, path, { body, headers: { authorization: `token ${guard.operatorToken}`, ...headers } }),
    async addRoute(prefix, data) {
      const r = await guard.api('POST', `/api/routes${prefix}`, { jupyterhub: true, ...data });
      if (r.status !== 201) throw new Error(`POST /api/routes${prefix} answered ${r.status} ${r.text}`);
    },
    alive: () => proc.child.exitCode === null && proc.child.signalCode === null,
    async stop() {
      await proc.stop();
    },
  };
  try {
    await waitForPort(port, '127.0.0.1', 15_000, proc);
    await waitForPort(apiPort, '127.0.0.1', 15_000, proc);
    await eventually('hub-guard /readyz', async () => ((await send(apiPort, 'GET', '/readyz')).status === 200 ? true : undefined));
  } catch (e) {
    await proc.stop('SIGKILL');
    throw new Error(`hub-guard did not start: ${(e as Error).message}\n${proc.output()}`);
  }
  return guard;
}

/** A browser's visit to the hub with its hub cookie: returns hub-guard's session cookie (`hub-guard-session=…`). */
export async function login(g: Guard, secret: Buffer, cookieId: string): Promise<string> {
  const r = await g.get('/hub/home', { cookie: hubCookie(secret, cookieId) });
  const v = setCookieValue(r, SESSION_COOKIE);
  if (r.status !== 200 || !v) throw new Error(`no session minted: ${r.status} ${JSON.stringify(setCookies(r))} ${r.text.slice(0, 200)}`);
  return `${SESSION_COOKIE}=${v}`;
}

/** The hub's route and one route per user server, as the hub adds them through the CHP API. */
export async function addHubRoutes(g: Guard, hub: Upstream, servers: Record<string, Upstream>): Promise<void> {
  await g.addRoute('/', { hub: true, target: hub.url });
  for (const [user, up] of Object.entries(servers)) await g.addRoute(`/user/${user}`, { user, server_name: '', target: up.url });
}

// ---------------------------------------------------------------- the maintenance command

export interface CliResult { code: number | null; stdout: string; stderr: string }

/** Runs `hub-guard maintenance …` with only `env` (plus PATH and HOME) in its environment. */
export function maintenanceCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'maintenance', ...args], {
      cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
