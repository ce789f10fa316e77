// hub-guard as a child process (`node dist/src/cli.js`), the one way every suite starts it: free 127.0.0.1 ports
// (or given ones), a fresh CONFIGPROXY_AUTH_TOKEN, the hub DB and cookie secret as flags, and a wait until it
// listens and /readyz says ready. The handle keeps stdout and stderr (apart and interleaved), parses the JSON log
// lines, talks to both ports, and stops or kills the process; a test process that dies takes it along.
import { randomBytes } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from './eventually.js';
import { get, send, setCookieValue, setCookies, type Reply } from './http.js';
import { freePort } from './ports.js';
import { start, waitForPort, type Exit, type Proc } from './proc.js';
import { hubCookie, SESSION_COOKIE, type Secret } from './secret.js';

// dist/test/helpers/guard.js → repository root
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** dist/src/cli.js */
export const GUARD_CLI = join(ROOT, 'dist/src/cli.js');

export interface GuardOptions {
  /** The hub DB, passed as `--hub-db sqlite:///<file>`. */
  db?: { file: string };
  /** A hub DB file path when there is no fixture (e.g. one that does not exist yet). */
  dbFile?: string;
  /** The hub's cookie secret, passed as `--cookie-secret-file`. */
  secret?: Pick<Secret, 'file'>;
  /** Further flags, after the ports, the hub DB and the secret. */
  flags?: string[];
  /** Environment besides PATH and HOME (or besides this process's whole environment, with inheritEnv). */
  env?: NodeJS.ProcessEnv;
  /** Start from this process's environment, as the hub passes its own to the proxy, instead of PATH and HOME only. */
  inheritEnv?: boolean;
  /** CONFIGPROXY_AUTH_TOKEN; default env.CONFIGPROXY_AUTH_TOKEN, else a fresh random token. */
  token?: string;
  /** HUB_GUARD_OPERATOR_TOKEN. */
  operatorToken?: string;
  /** Serve /metrics on a free port (metricsPort). */
  metrics?: boolean;
  /** The public and API ports; default free ones. */
  port?: number;
  apiPort?: number;
  /** Working directory, where a relative --hub-db or the default cookie secret file is looked up; default the repository. */
  cwd?: string;
  /** Wait for /readyz = 200 (default) instead of only for the ports. */
  waitReady?: boolean;
  /** How long to wait for the ports (default 15 s) and for /readyz (default 20 s). */
  listenTimeoutMs?: number;
  readyTimeoutMs?: number;
  /** node's own flags, before the CLI (e.g. --inspect-port). */
  nodeArgs?: string[];
  /** Wraps the whole command line (`node … cli.js …`) into another, e.g. a shell that raises a limit first. */
  wrap?: (argv: string[]) => string[];
  /** How long stop() waits after SIGTERM before SIGKILL (default 20 s: longer than a graceful --shutdown-timeout). */
  stopTimeoutMs?: number;
}

export type LogLine = Record<string, any>;

export interface Guard {
  /** The process behind the handle. */
  proc: Proc;
  pid: number;
  port: number;
  apiPort: number;
  metricsPort?: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `http://127.0.0.1:<apiPort>` */
  apiUrl: string;
  /** CONFIGPROXY_AUTH_TOKEN. */
  token: string;
  /** The token /api/guard and the operator bypass accept. */
  operatorToken: string;
  /** stdout and stderr interleaved. */
  output(): string;
  stdout(): string;
  stderr(): string;
  /** stderr's lines, parsed; a line that is not a JSON object comes back as {unparsed: line}. */
  logs(): LogLine[];
  audits(): LogLine[];
  /**
   * The first audit line `match` accepts, once the process's stderr has been read that far (the line is written
   * before the API answers, but the pipe may deliver it after the answer).
   */
  audit(match: (a: LogLine) => boolean, what: string): Promise<LogLine>;
  get(path: string, headers?: OutgoingHttpHeaders): Promise<Reply>;
  /** A request to the API port with the CHP token (`headers` may replace the authorization). */
  api(method: string, path: string, body?: unknown, headers?: OutgoingHttpHeaders): Promise<Reply>;
  /** A request to /api/guard/… with the operator token. */
  operator(method: string, path: string, body?: unknown, headers?: OutgoingHttpHeaders): Promise<Reply>;
  /** POSTs a route through the CHP API, as the hub does (`jupyterhub: true` added); throws unless 201. */
  addRoute(prefix: string, data: Record<string, unknown>): Promise<void>;
  exited: Promise<Exit>;
  alive(): boolean;
  kill(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL if it has not exited after stopTimeoutMs. */
  stop(): Promise<void>;
}

export function parseLogLines(text: string): LogLine[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => {
    try {
      const v = JSON.parse(l);
      return typeof v === 'object' && v !== null ? (v as LogLine) : { unparsed: l };
    } catch {
      return { unparsed: l };
    }
  });
}

function environment(o: { env?: NodeJS.ProcessEnv; inheritEnv?: boolean }): NodeJS.ProcessEnv {
  return { ...(o.inheritEnv ? process.env : { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' }), ...o.env };
}

/** Starts hub-guard on 127.0.0.1 and waits until it listens (and, unless waitReady is false, is ready). */
export async function startGuard(o: GuardOptions = {}): Promise<Guard> {
  const port = o.port ?? await freePort();
  const apiPort = o.apiPort ?? await freePort();
  const metricsPort = o.metrics ? await freePort() : undefined;
  const token = o.token ?? o.env?.CONFIGPROXY_AUTH_TOKEN ?? randomBytes(16).toString('hex');
  const dbFile = o.db?.file ?? o.dbFile;
  const argv = [
    process.execPath, ...(o.nodeArgs ?? []), GUARD_CLI,
    '--ip', '127.0.0.1', '--port', String(port),
    '--api-ip', '127.0.0.1', '--api-port', String(apiPort),
    ...(metricsPort ? ['--metrics-ip', '127.0.0.1', '--metrics-port', String(metricsPort)] : []),
    ...(dbFile ? ['--hub-db', `sqlite:///${dbFile}`] : []),
    ...(o.secret ? ['--cookie-secret-file', o.secret.file] : []),
    ...(o.flags ?? []),
  ];
  const env: NodeJS.ProcessEnv = { ...environment(o), CONFIGPROXY_AUTH_TOKEN: token };
  if (o.operatorToken) env.HUB_GUARD_OPERATOR_TOKEN = o.operatorToken;
  const [cmd, ...args] = o.wrap ? o.wrap(argv) : argv;
  const proc = start(cmd!, args, { cwd: o.cwd ?? ROOT, env, killOnExit: true });
  const operatorToken = o.operatorToken ?? o.env?.HUB_GUARD_OPERATOR_TOKEN ?? token;
  const g: Guard = {
    proc,
    pid: proc.pid,
    port,
    apiPort,
    metricsPort,
    url: `http://127.0.0.1:${port}`,
    apiUrl: `http://127.0.0.1:${apiPort}`,
    token,
    operatorToken,
    output: proc.output,
    stdout: proc.stdout,
    stderr: proc.stderr,
    logs: () => parseLogLines(proc.stderr()),
    audits: () => g.logs().filter((l) => l.audit === true),
    audit: (match, what) => eventually(`audit line: ${what}`, async () => g.audits().find(match)),
    get: (path, headers = {}) => get(port, path, headers),
    api: (method, path, body, headers = {}) => send(apiPort, method, path, { body, headers: { authorization: `token ${token}`, ...headers } }),
    operator: (method, path, body, headers = {}) => send(apiPort, method, path, { body, headers: { authorization: `token ${operatorToken}`, ...headers } }),
    async addRoute(prefix, data) {
      const r = await g.api('POST', `/api/routes${prefix}`, { jupyterhub: true, ...data });
      if (r.status !== 201) throw new Error(`POST /api/routes${prefix} answered ${r.status} ${r.text}`);
    },
    exited: proc.exited,
    alive: proc.alive,
    kill: (signal) => { proc.child.kill(signal); },
    async stop() {
      await proc.stop('SIGTERM', o.stopTimeoutMs ?? 20_000);
    },
  };
  try {
    await waitForPort(port, '127.0.0.1', o.listenTimeoutMs ?? 15_000, proc);
    await waitForPort(apiPort, '127.0.0.1', o.listenTimeoutMs ?? 15_000, proc);
    if (o.waitReady !== false) {
      const ready = await eventually('hub-guard /readyz', async () => {
        if (!proc.alive()) return 'exited';
        return (await get(apiPort, '/readyz')).status === 200 ? 'ready' : undefined;
      }, o.readyTimeoutMs ?? 20_000);
      if (ready === 'exited') throw new Error('exited before it was ready');
    }
  } catch (e) {
    await proc.stop('SIGKILL');
    throw new Error(`hub-guard did not start: ${(e as Error).message}\nstderr:\n${proc.stderr()}\nstdout:\n${proc.stdout()}`);
  }
  return g;
}

export interface CliResult { code: number | null; stdout: string; stderr: string }

/**
 * Runs `hub-guard <args>` until it exits by itself (a subcommand, or a start-up error) with only `env` (plus PATH and
 * HOME) in its environment; kills it if it is still running after timeoutMs.
 */
export async function runGuardToExit(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 15_000): Promise<CliResult> {
  const proc = start(process.execPath, [GUARD_CLI, ...args], { cwd: ROOT, env: environment({ env }), killOnExit: true });
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
  const { code } = await proc.exited;
  clearTimeout(timer);
  return { code, stdout: proc.stdout(), stderr: proc.stderr() };
}

/** Runs `hub-guard maintenance …` with only `env` (plus PATH and HOME) in its environment. */
export const maintenanceCli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> => runGuardToExit(['maintenance', ...args], env, 30_000);

/** POSTs a route through the CHP API, as the hub does; throws unless 201. */
export const addRoute = (g: Guard, prefix: string, data: Record<string, unknown>): Promise<void> => g.addRoute(prefix, data);

/** The hub's route and one route per user server, as the hub adds them through the CHP API. */
export async function addHubRoutes(g: Guard, hub: { url: string }, servers: Record<string, { url: string }>): Promise<void> {
  await g.addRoute('/', { hub: true, target: hub.url });
  for (const [user, up] of Object.entries(servers)) await g.addRoute(`/user/${user}`, { user, server_name: '', target: up.url });
}

/**
 * A browser's first visit to the hub with its hub login cookie: returns the `hub-guard-session=…` cookie hub-guard
 * minted for that user. `hubPath` is the hub's own prefix (`/hub/` or `/<base_url>/hub/`). Works for any hub-guard
 * listening on `port`, a child process or one in this process.
 */
export async function login(g: { port: number }, secret: Buffer, cookieId: string, hubPath = '/hub/'): Promise<string> {
  const r = await get(g.port, `${hubPath}home`, { cookie: hubCookie(secret, cookieId) });
  const v = setCookieValue(r, SESSION_COOKIE);
  if (r.status !== 200 || !v) throw new Error(`no session minted: ${r.status} ${JSON.stringify(setCookies(r))} ${r.text.slice(0, 200)}`);
  return `${SESSION_COOKIE}=${v}`;
}
