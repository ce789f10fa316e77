// A real JupyterHub 3.0 (Debian's package) on 127.0.0.1 for end-to-end tests.
//
// The hub starts every process it owns (the proxy when it starts one, single-user servers,
// and through them kernels) in new sessions, so neither process groups nor parentage find
// them reliably once the hub is gone. Instead every process carries a marker variable in its
// environment (the hub passes its own environment to the proxy, c.Spawner.environment reaches
// the servers, kernels inherit theirs), and stop() kills exactly the processes whose
// /proc/<pid>/environ holds this run's marker.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../helpers/ports.js';
import { start, type Proc } from '../helpers/proc.js';
import { writeSecret } from '../helpers/secret.js';

export const PYTHON = '/usr/bin/python3';
export const DEBIAN_CHP = '/usr/bin/configurable-http-proxy';
/** Debian's CHP needs its modules from here when the node on PATH is not Debian's own. */
export const DEBIAN_NODE_PATH = '/usr/share/nodejs';
const MARK_VAR = 'HUB_GUARD_E2E_RUN';

/** How the hub reaches its proxy. */
export type ProxyMode =
  /** The hub starts the proxy itself (`c.ConfigurableHTTPProxy.command`), with the hub's environment plus `env`. */
  | { kind: 'command'; command: string[]; env?: Record<string, string> }
  /** The test runs the proxy; the hub only talks to its API (`should_start = False`). */
  | { kind: 'external'; apiUrl: string; token: string };

/** Everything decided before the hub starts, so an external proxy can be started against it. */
export interface HubContext {
  dir: string;
  /** Public URL, served by the proxy (no trailing slash). */
  url: string;
  publicPort: number;
  /** The hub's own HTTP server (no trailing slash); its pages live under /hub/. */
  hubUrl: string;
  hubPort: number;
  proxyApiUrl: string;
  proxyApiPort: number;
  /** CONFIGPROXY_AUTH_TOKEN shared by hub and proxy. */
  token: string;
  /** The hub's cookie secret (32 bytes, hex), also written to `cookieSecretFile`. */
  cookieSecretHex: string;
  cookieSecretFile: string;
  dbUrl: string;
  /** The sqlite file when dbUrl is a sqlite URL, else null. */
  dbPath: string | null;
  /** API token of a service holding the hub's admin role. */
  adminToken: string;
  /** The password every DummyAuthenticator user logs in with. */
  password: string;
}

export interface HubOptions {
  /** Default: the hub starts Debian's CHP. A function receives the context first (to start an external proxy). */
  proxy?: ProxyMode | ((ctx: HubContext) => ProxyMode | Promise<ProxyMode>);
  password?: string;
  adminUsers?: string[];
  /** Seconds between the hub's route checks (`c.JupyterHub.last_activity_interval`); the hub's default is 300. */
  lastActivityInterval?: number;
  /** Default: a sqlite file in the temp dir. */
  dbUrl?: string;
  /** Python appended verbatim to jupyterhub_config.py. */
  extraConfig?: string;
  /** How long start and restart wait for the hub to answer through the proxy. */
  readyTimeoutMs?: number;
  /**
   * Headers of the readiness probe, e.g. hub-guard's operator header, so that a hub behind a proxy in
   * maintenance still counts as started.
   */
  readyHeaders?: Record<string, string>;
}

export interface Hub extends HubContext {
  /** Everything the hub and its children printed, across restarts. */
  log(): string;
  /** Resolves once `pattern` occurs `count` times in log().slice(since). */
  waitForLog(pattern: RegExp, opts?: { since?: number; count?: number; timeoutMs?: number }): Promise<void>;
  /** PID of the running hub process, or null. */
  pid(): number | null;
  /**
   * Stops the hub only (servers keep running: cleanup_servers=False) and starts it again on the same dir and DB.
   * `whileStopped` runs in between, e.g. to edit the database the way an operator would.
   */
  restart(whileStopped?: () => void | Promise<void>): Promise<void>;
  /** Stops the hub and kills every process it started; removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

/** The default proxy: the hub starts Debian's configurable-http-proxy. */
export function debianChpCommand(): ProxyMode {
  return { kind: 'command', command: [DEBIAN_CHP], env: { NODE_PATH: DEBIAN_NODE_PATH } };
}

/** A Python literal for a JSON-like value (JSON string escapes are valid Python escapes). */
function py(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(py).join(', ')}]`;
  return `{${Object.entries(value as Record<string, unknown>).map(([k, v]) => `${py(k)}: ${py(v)}`).join(', ')}}`;
}

function sqlitePathOf(dbUrl: string): string | null {
  const m = /^sqlite:\/\/\/(.+)$/.exec(dbUrl);
  return m ? m[1] : null;
}

function renderConfig(ctx: HubContext, mode: ProxyMode, opts: HubOptions, mark: string): string {
  const lines = [
    'c = get_config()  # noqa',
    `c.JupyterHub.ip = '127.0.0.1'`,
    `c.JupyterHub.port = ${ctx.publicPort}`,
    `c.JupyterHub.hub_ip = '127.0.0.1'`,
    `c.JupyterHub.hub_port = ${ctx.hubPort}`,
    `c.JupyterHub.db_url = ${py(ctx.dbUrl)}`,
    `c.JupyterHub.cookie_secret_file = ${py(ctx.cookieSecretFile)}`,
    `c.JupyterHub.cleanup_servers = False`,
    `c.JupyterHub.last_activity_interval = ${opts.lastActivityInterval ?? 300}`,
    // DEBUG makes the periodic "Checking routes" visible, so tests can wait for one.
    `c.JupyterHub.log_level = 'DEBUG'`,
    `c.JupyterHub.authenticator_class = 'jupyterhub.auth.DummyAuthenticator'`,
    `c.DummyAuthenticator.password = ${py(ctx.password)}`,
    `c.Authenticator.admin_users = set(${py(opts.adminUsers ?? [])})`,
    `c.JupyterHub.spawner_class = 'jupyterhub.spawner.SimpleLocalProcessSpawner'`,
    `c.SimpleLocalProcessSpawner.home_dir_template = ${py(join(ctx.dir, 'home', '{username}'))}`,
    // Absolute paths: the first python3 on PATH may not be Debian's.
    `c.Spawner.cmd = ['/usr/bin/jupyterhub-singleuser']`,
    `c.Spawner.args = ['--allow-root']`,
    `c.Spawner.environment = ${py({
      // The classic notebook app has /tree and starts the OAuth login; jupyter_server 1.23 alone has no /tree.
      JUPYTERHUB_SINGLEUSER_APP: 'notebook.notebookapp.NotebookApp',
      [MARK_VAR]: mark,
    })}`,
    `c.ConfigurableHTTPProxy.api_url = ${py(ctx.proxyApiUrl)}`,
    `c.ConfigurableHTTPProxy.pid_file = ${py(join(ctx.dir, 'jupyterhub-proxy.pid'))}`,
    `c.JupyterHub.services = [{'name': 'e2e-admin', 'api_token': ${py(ctx.adminToken)}}]`,
    `c.JupyterHub.load_roles = [{'name': 'admin', 'services': ['e2e-admin']}]`,
  ];
  if (mode.kind === 'command') {
    lines.push(`c.ConfigurableHTTPProxy.command = ${py(mode.command)}`);
    lines.push(`c.ConfigurableHTTPProxy.auth_token = ${py(ctx.token)}`);
  } else {
    lines.push('c.ConfigurableHTTPProxy.should_start = False');
    lines.push(`c.ConfigurableHTTPProxy.api_url = ${py(mode.apiUrl)}`);
    lines.push(`c.ConfigurableHTTPProxy.auth_token = ${py(mode.token)}`);
  }
  if (opts.extraConfig) lines.push('', '# extraConfig', opts.extraConfig);
  return lines.join('\n') + '\n';
}

/** PIDs (other than ours) whose initial environment holds `MARK_VAR=mark`. */
function markedPids(mark: string): number[] {
  const needle = `${MARK_VAR}=${mark}`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      // Zombies and vanished processes read as empty or throw; both are already gone.
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(needle)) pids.push(pid);
    } catch {
      continue;
    }
  }
  return pids;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** One GET over a fresh connection; status 0 when nothing answers. */
function probe(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 3000, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

function tail(text: string, chars = 20000): string {
  return text.length <= chars ? text : `…${text.slice(-chars)}`;
}

/** Starts a hub (and, by default, Debian's CHP through it) and waits until /hub/api answers through the public URL. */
export async function startHub(opts: HubOptions = {}): Promise<Hub> {
  const dir = mkdtempSync(join(tmpdir(), 'hub-e2e-'));
  const mark = randomBytes(8).toString('hex');
  const [publicPort, hubPort, proxyApiPort] = [await freePort(), await freePort(), await freePort()];
  // <dir>/jupyterhub_cookie_secret, mode 0600: the hub refuses a secret file readable by others.
  const { hex: cookieSecretHex, file: cookieSecretFile } = writeSecret(dir);
  mkdirSync(join(dir, 'home'));
  const dbUrl = opts.dbUrl ?? `sqlite:///${join(dir, 'jupyterhub.sqlite')}`;
  const ctx: HubContext = {
    dir,
    url: `http://127.0.0.1:${publicPort}`,
    publicPort,
    hubUrl: `http://127.0.0.1:${hubPort}`,
    hubPort,
    proxyApiUrl: `http://127.0.0.1:${proxyApiPort}`,
    proxyApiPort,
    token: randomBytes(32).toString('hex'),
    cookieSecretHex,
    cookieSecretFile,
    dbUrl,
    dbPath: sqlitePathOf(dbUrl),
    adminToken: randomBytes(32).toString('hex'),
    password: opts.password ?? 'e2e-password',
  };

  let stopped = false;
  let proc: Proc | null = null;
  let earlierLog = '';
  const log = () => earlierLog + (proc?.output() ?? '');

  const stopEverything = async () => {
    if (stopped) return;
    stopped = true;
    if (proc) await proc.stop();
    // Servers outlive the hub (cleanup_servers=False); SIGTERM lets them shut their kernels down first.
    for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
      const pids = markedPids(mark);
      if (pids.length === 0) break;
      pids.forEach((pid) => signal(pid, sig));
      const deadline = Date.now() + 8000;
      while (Date.now() < deadline && markedPids(mark).length > 0) await sleep(100);
    }
    const left = markedPids(mark);
    if (left.length > 0) throw new Error(`processes of hub ${dir} still running after SIGKILL: ${left.join(' ')}`);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const mode = typeof opts.proxy === 'function' ? await opts.proxy(ctx) : (opts.proxy ?? debianChpCommand());
    const configFile = join(dir, 'jupyterhub_config.py');
    writeFileSync(configFile, renderConfig(ctx, mode, opts, mark));
    const env: NodeJS.ProcessEnv = { ...process.env, ...(mode.kind === 'command' ? mode.env : {}), [MARK_VAR]: mark };
    // Either would override what this harness configures.
    delete env.JPY_COOKIE_SECRET;
    delete env.CONFIGPROXY_AUTH_TOKEN;

    const launch = async () => {
      proc = start(PYTHON, ['-m', 'jupyterhub', '-f', configFile], { cwd: dir, env });
      const running = proc;
      const deadline = Date.now() + (opts.readyTimeoutMs ?? 60000);
      while (Date.now() < deadline) {
        if (running.child.exitCode !== null || running.child.signalCode !== null) {
          throw new Error(`jupyterhub exited (${running.child.exitCode ?? running.child.signalCode}) before it was ready:\n${tail(log())}`);
        }
        if ((await probe(`${ctx.url}/hub/api/`, opts.readyHeaders)) === 200) return;
        await sleep(200);
      }
      throw new Error(`jupyterhub did not answer on ${ctx.url}/hub/api/ within ${opts.readyTimeoutMs ?? 60000} ms:\n${tail(log())}`);
    };
    await launch();

    return {
      ...ctx,
      log,
      pid: () => proc?.child.pid ?? null,
      async waitForLog(pattern, { since = 0, count = 1, timeoutMs = 30000 } = {}) {
        const global = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : pattern.flags + 'g');
        const deadline = Date.now() + timeoutMs;
        while (Date.now() < deadline) {
          if ((log().slice(since).match(global)?.length ?? 0) >= count) return;
          await sleep(100);
        }
        throw new Error(`hub log did not show ${pattern} ${count}× within ${timeoutMs} ms:\n${tail(log().slice(since))}`);
      },
      async restart(whileStopped) {
        if (stopped) throw new Error('restart() after stop()');
        const previous = proc;
        if (previous) {
          await previous.stop();
          earlierLog += previous.output() + '\n----- hub restarted by the test -----\n';
          proc = null;
        }
        await whileStopped?.();
        await launch();
      },
      stop: stopEverything,
    };
  } catch (err) {
    await stopEverything().catch(() => undefined);
    throw err;
  }
}

export { tail as logTail };
