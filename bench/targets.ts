// The processes under test, each started on 127.0.0.1 as its own process and set up the way a hub would: the
// backend, bare forwarders, configurable-http-proxy 5.3 and hub-guard with every check on.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGuard } from '../test/helpers/guard.js';
import { makeHubDb } from '../test/helpers/hub-db.js';
import { freePort } from '../test/helpers/ports.js';
import { start, waitForPort, type Proc } from '../test/helpers/proc.js';
import { hubCookie, writeSecret } from '../test/helpers/secret.js';
import { browserCookies, type BenchUser } from './hub-fixture.js';
import type { HttpRequest, WsTarget } from './load.js';

// dist/bench/targets.js → repository root
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHP_BIN = join(ROOT, 'node_modules/configurable-http-proxy/bin/configurable-http-proxy');
const DIST_BENCH = join(ROOT, 'dist/bench');

/** Proxies hold two descriptors per websocket: 10k idle websockets need more than the usual 20k limit. */
const NOFILE = 65536;

export interface Running {
  label: string;
  port: number;
  proc: Proc;
  get pid(): number;
  /** Where its inspector listens once SIGUSR1 activates it (see inspector.ts collectGarbage). */
  inspectPort: number;
  /** The open-files limit the process got (the 10k-websocket test is scaled down when it is too low). */
  fdLimit(): number;
}

/** `node …` run by a shell that first raises the open-files limit (which needs privileges: without them the process
 * keeps the current one and the caller scales down). */
const withFileLimit = (argv: string[]): string[] => ['/bin/sh', '-c', `ulimit -n ${NOFILE} 2>/dev/null; exec "$0" "$@"`, ...argv];

/** The inspector stays off (and free) until SIGUSR1; only the memory test turns it on, to force a full GC. */
const inspectorArg = (port: number) => `--inspect-port=127.0.0.1:${port}`;

async function spawnNode(nodeArgs: string[], args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ proc: Proc; inspectPort: number }> {
  const inspectPort = await freePort();
  const [cmd, ...rest] = withFileLimit([process.execPath, inspectorArg(inspectPort), ...nodeArgs, ...args]);
  const proc = start(cmd!, rest, { env: { ...process.env, ...env }, cwd: ROOT });
  return { proc, inspectPort };
}

export function fdLimit(pid: number | 'self'): number {
  const m = /Max open files\s+(\d+)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return m ? Number(m[1]) : 1024;
}

function running(label: string, port: number, { proc, inspectPort }: { proc: Proc; inspectPort: number }): Running {
  return {
    label, port, proc, inspectPort,
    get pid() { return proc.child.pid!; },
    fdLimit: () => fdLimit(proc.child.pid!),
  };
}

export async function startBackend(): Promise<Running> {
  const port = await freePort();
  const p = await spawnNode([], [join(DIST_BENCH, 'backend.js'), String(port)]);
  await waitForPort(port, '127.0.0.1', 15_000, p.proc);
  return running('backend', port, p);
}

export type Engine = 'undici' | 'http-proxy' | 'http-proxy-3';

/** `nodeArgs` go to node itself (e.g. --inspect for the profiler). */
export async function startForwarder(engine: Engine, backendPort: number, nodeArgs: string[] = []): Promise<Running> {
  const port = await freePort();
  const p = await spawnNode(nodeArgs, [join(DIST_BENCH, 'forwarder.js'), engine, String(port), String(backendPort)]);
  await waitForPort(port, '127.0.0.1', 15_000, p.proc);
  return running(engine, port, p);
}

/** A proxy with the hub's REST API: CHP or hub-guard. */
export interface Routed extends Running { apiPort: number; token: string }

const backendUrl = (port: number) => `http://127.0.0.1:${port}`;

/**
 * The routes a hub with these users running adds: `/` for the hub and one per user server. Each user's target is
 * distinct (a path on the one backend): hub-guard refuses the newer of two user routes sharing a target, as after
 * a pod IP reuse, so "every route to one backend" would turn the benchmark into a benchmark of refusals.
 */
export async function postRoutes(p: Routed, backendPort: number, users: BenchUser[], concurrency = 32): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const post = (path: string, data: Record<string, unknown>) => new Promise<void>((resolve, reject) => {
    const body = JSON.stringify(data);
    const req = http.request({
      host: '127.0.0.1', port: p.apiPort, method: 'POST', path: `/api/routes${path}`, agent,
      headers: { Authorization: `token ${p.token}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`${p.label}: POST /api/routes${path} answered ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
  try {
    await post('/', { target: backendUrl(backendPort), hub: true });
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < users.length) {
        const u = users[next++];
        await post(`/user/${u.name}`, { target: `${backendUrl(backendPort)}/${u.name}`, user: u.name, server_name: '' });
      }
    }));
  } finally {
    agent.destroy();
  }
}

export async function startChp(nodeArgs: string[] = []): Promise<Routed> {
  const [port, apiPort] = [await freePort(), await freePort()];
  const token = randomBytes(16).toString('hex');
  const p = await spawnNode(nodeArgs, [CHP_BIN, '--ip', '127.0.0.1', '--port', String(port), '--api-ip', '127.0.0.1', '--api-port', String(apiPort), '--log-level', 'warn'],
    { CONFIGPROXY_AUTH_TOKEN: token });
  await waitForPort(port, '127.0.0.1', 15_000, p.proc);
  await waitForPort(apiPort, '127.0.0.1', 15_000, p.proc);
  return { ...running('CHP 5.3', port, p), apiPort, token };
}

export interface HubGuard extends Routed { users: BenchUser[]; secret: Buffer }

/**
 * hub-guard with every check on: the hub's database (JupyterHub's schema, `userCount` users with cookie_ids),
 * the hub's cookie secret, and a state directory; `flags` are added to its command line.
 */
export async function startHubGuard(dir: string, userCount: number, nodeArgs: string[] = [], flags: string[] = []): Promise<HubGuard> {
  mkdirSync(dir, { recursive: true });
  const db = await makeHubDb({ dir, users: Array.from({ length: userCount }, (_, i) => `u${i}`) });
  const secret = writeSecret(dir);
  const inspectPort = await freePort();
  const g = await startGuard({
    db, secret, flags: ['--state-dir', join(dir, 'state'), '--log-level', 'warn', ...flags],
    inheritEnv: true, nodeArgs: [inspectorArg(inspectPort), ...nodeArgs], wrap: withFileLimit,
    listenTimeoutMs: 30_000, readyTimeoutMs: 30_000, stopTimeoutMs: 5000,
  });
  return { ...running('hub-guard', g.port, { proc: g.proc, inspectPort }), apiPort: g.apiPort, token: g.token, users: [...db.users.values()], secret: secret.key };
}

export interface Answer { status: number; body: string; setCookie: string[] }

export async function get(port: number, path: string, headers: Record<string, string>, agent: http.Agent | false = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, setCookie: res.headers['set-cookie'] ?? [] }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Requests to `/user/<name>/api/x`, each carrying its user's server cookies and the `hub-guard-session` hub-guard
 * itself issued: a browser gets it on its first request to the hub with the hub's login cookie.
 */
export async function userRequests(hg: HubGuard, concurrency = 32): Promise<HttpRequest[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const out: HttpRequest[] = new Array(hg.users.length);
  let next = 0;
  try {
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < hg.users.length) {
        const i = next++;
        const u = hg.users[i];
        const r = await get(hg.port, '/hub/home', { cookie: hubCookie(hg.secret, u.cookieId) }, agent);
        const session = r.setCookie.map((c) => /^hub-guard-session=([^;]+)/.exec(c)?.[1]).find((v) => v);
        if (r.status !== 200 || !session) throw new Error(`hub-guard issued no session for ${u.name} (${r.status}: ${r.body.slice(0, 200)})`);
        out[i] = { path: `/user/${u.name}/api/x`, headers: { cookie: browserCookies(u, session) } };
      }
    }));
  } finally {
    agent.destroy();
  }
  return out;
}

/** Websockets to the users' kernels, with the same cookies as their requests. */
export function wsTarget(port: number, requests: HttpRequest[]): WsTarget {
  return {
    port,
    path: (i) => `${requests[i % requests.length].path.replace(/\/api\/x$/, '')}/api/kernels/k/channels`,
    headers: (i) => requests[i % requests.length].headers,
  };
}

/** Every request once, `concurrency` at a time: first sight of each session and route is paid before measuring. */
export async function touchAll(port: number, requests: HttpRequest[], concurrency = 32): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  let bad = 0;
  try {
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < requests.length) {
        const r = requests[next++];
        const status = await new Promise<number>((resolve, reject) => {
          const req = http.request({ host: '127.0.0.1', port, path: r.path, headers: r.headers, agent }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('error', reject);
          req.end();
        });
        if (status !== 200) bad++;
      }
    }));
  } finally {
    agent.destroy();
  }
  return bad;
}

export async function stopAll(procs: Array<Running | undefined>): Promise<void> {
  await Promise.all(procs.map((p) => p?.proc.stop()));
}
