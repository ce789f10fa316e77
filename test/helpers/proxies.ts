import { randomBytes } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import { ROOT, startGuard } from './guard.js';
import { send, type Reply, type SendOptions } from './http.js';
import { freePort } from './ports.js';
import { start, waitForPort } from './proc.js';

/** `chp4` is Debian's configurable-http-proxy 4.5.3 (package node-configurable-http-proxy); no parity suite runs it. */
export type Impl = 'chp' | 'chp4' | 'hub-guard';

const ALL_IMPLS: readonly Impl[] = ['chp', 'hub-guard'];

/** Implementations the parity suites run against; `PARITY_IMPLS=chp` (comma-separated) narrows it. */
export const IMPLS: Impl[] = (() => {
  const wanted = process.env.PARITY_IMPLS;
  if (!wanted) return [...ALL_IMPLS];
  const names = wanted.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!ALL_IMPLS.includes(n as Impl)) throw new Error(`PARITY_IMPLS: unknown implementation '${n}' (known: ${ALL_IMPLS.join(', ')})`);
  }
  return names as Impl[];
})();

const CHP_ENTRY: Record<Exclude<Impl, 'hub-guard'>, string> = {
  chp: `${ROOT}node_modules/configurable-http-proxy/bin/configurable-http-proxy`,
  chp4: '/usr/bin/configurable-http-proxy',
};

const ENV: Partial<Record<Impl, NodeJS.ProcessEnv>> = {
  // Debian installs the modules CHP 4.5.3 requires outside any node_modules
  chp4: { NODE_PATH: '/usr/share/nodejs' },
};

export interface RunningProxy {
  impl: Impl;
  pid: number;
  port: number;
  apiPort: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `http://127.0.0.1:<apiPort>` */
  apiUrl: string;
  token: string;
  /** Everything the process printed so far. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts CHP (5.3 from npm, or Debian's 4.5.3) or hub-guard with `flags` plus free --port/--api-port on 127.0.0.1 and a random
 * CONFIGPROXY_AUTH_TOKEN (override it through `env`), in this process's environment, and resolves once both ports accept
 * connections. hub-guard is started by startGuard (guard.ts), as everywhere else.
 */
export async function startProxy(impl: Impl, flags: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunningProxy> {
  if (impl === 'hub-guard') {
    const g = await startGuard({ flags, env, inheritEnv: true, waitReady: false, stopTimeoutMs: 5000 })
      .catch((e: Error) => { throw new Error(`${impl} did not start with flags ${JSON.stringify(flags)}: ${e.message}`); });
    return { impl, pid: g.pid, port: g.port, apiPort: g.apiPort, url: g.url, apiUrl: g.apiUrl, token: g.token, output: g.output, stop: g.stop };
  }
  const port = await freePort();
  const apiPort = await freePort();
  const token = env.CONFIGPROXY_AUTH_TOKEN ?? randomBytes(16).toString('hex');
  const args = [
    CHP_ENTRY[impl],
    '--ip', '127.0.0.1', '--port', String(port),
    '--api-ip', '127.0.0.1', '--api-port', String(apiPort),
    ...flags,
  ];
  // A test process that ends without its after() hooks must not leave the proxy running.
  const proc = start(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...ENV[impl], ...env, CONFIGPROXY_AUTH_TOKEN: token }, killOnExit: true });
  try {
    await waitForPort(port, '127.0.0.1', 15000, proc);
    await waitForPort(apiPort, '127.0.0.1', 15000, proc);
  } catch (e) {
    await proc.stop('SIGKILL');
    throw new Error(`${impl} did not start with flags ${JSON.stringify(flags)}: ${(e as Error).message}`);
  }
  return {
    impl,
    pid: proc.pid,
    port,
    apiPort,
    url: `http://127.0.0.1:${port}`,
    apiUrl: `http://127.0.0.1:${apiPort}`,
    token,
    output: proc.output,
    async stop() {
      await proc.stop();
    },
  };
}

/** A request to the proxy's public port. */
export function proxied(proxy: RunningProxy, method: string, path: string, opts: SendOptions = {}): Promise<Reply> {
  return send(proxy.port, method, path, opts);
}

/**
 * A request to the REST API with `Authorization: token <proxy token>`, as JupyterHub sends it.
 * `headers` can replace the authorization (set it to undefined to send none).
 */
export function api(proxy: RunningProxy, method: string, path: string, body?: unknown, headers: OutgoingHttpHeaders = {}): Promise<Reply> {
  const all: OutgoingHttpHeaders = { authorization: `token ${proxy.token}`, ...headers };
  for (const [k, v] of Object.entries(all)) if (v === undefined) delete all[k];
  return send(proxy.apiPort, method, path, { headers: all, body });
}

/** POSTs a route and fails loudly unless the proxy answers 201. */
export async function addRoute(proxy: RunningProxy, path: string, data: Record<string, unknown>): Promise<void> {
  const r = await api(proxy, 'POST', `/api/routes${path}`, data);
  if (r.status !== 201) throw new Error(`${proxy.impl}: POST /api/routes${path} answered ${r.status} ${r.text}`);
}

/** GET /api/routes as an object; fails loudly unless the proxy answers 200. */
export async function getRoutes(proxy: RunningProxy, query = ''): Promise<Record<string, Record<string, any>>> {
  const r = await api(proxy, 'GET', `/api/routes${query}`);
  if (r.status !== 200) throw new Error(`${proxy.impl}: GET /api/routes${query} answered ${r.status} ${r.text}`);
  return r.json();
}
