import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
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

// dist/test/helpers/proxies.js → repository root
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const ENTRY: Record<Impl, string> = {
  chp: `${ROOT}node_modules/configurable-http-proxy/bin/configurable-http-proxy`,
  chp4: '/usr/bin/configurable-http-proxy',
  'hub-guard': `${ROOT}dist/src/cli.js`,
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
 * CONFIGPROXY_AUTH_TOKEN (override it through `env`), and resolves once both ports accept connections.
 */
export async function startProxy(impl: Impl, flags: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunningProxy> {
  const port = await freePort();
  const apiPort = await freePort();
  const token = env.CONFIGPROXY_AUTH_TOKEN ?? randomBytes(16).toString('hex');
  const args = [
    ENTRY[impl],
    '--ip', '127.0.0.1', '--port', String(port),
    '--api-ip', '127.0.0.1', '--api-port', String(apiPort),
    ...flags,
  ];
  const proc = start(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...ENV[impl], ...env, CONFIGPROXY_AUTH_TOKEN: token } });
  // A test process that ends without its after() hooks must not leave the proxy running.
  const killOnExit = () => { proc.child.kill('SIGKILL'); };
  process.once('exit', killOnExit);
  try {
    await waitForPort(port, '127.0.0.1', 15000, proc);
    await waitForPort(apiPort, '127.0.0.1', 15000, proc);
  } catch (e) {
    process.off('exit', killOnExit);
    await proc.stop('SIGKILL');
    throw new Error(`${impl} did not start with flags ${JSON.stringify(flags)}: ${(e as Error).message}`);
  }
  return {
    impl,
    pid: proc.child.pid!,
    port,
    apiPort,
    url: `http://127.0.0.1:${port}`,
    apiUrl: `http://127.0.0.1:${apiPort}`,
    token,
    output: proc.output,
    async stop() {
      process.off('exit', killOnExit);
      await proc.stop();
    },
  };
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON; throws with the body in the message when it is not JSON. */
  json<T = any>(): T;
}

export interface SendOptions {
  headers?: OutgoingHttpHeaders;
  /** A string is sent as is (for malformed bodies); anything else is JSON-encoded. */
  body?: unknown;
}

/**
 * One HTTP request to 127.0.0.1:port with `path` sent byte for byte (no URL normalisation, unlike
 * fetch), so tests can send dot segments, `//`, backslashes and bad percent-escapes.
 */
export function send(port: number, method: string, path: string, opts: SendOptions = {}): Promise<Reply> {
  const headers: OutgoingHttpHeaders = { ...opts.headers };
  let payload: Buffer | undefined;
  if (opts.body !== undefined) {
    payload = Buffer.from(typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
    headers['content-length'] = payload.length;
    if (typeof opts.body !== 'string') headers['content-type'] ??= 'application/json';
  }
  return new Promise((resolve, reject) => {
    // agent:false gives every request its own connection, so a proxy that closes one cannot break the next.
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          json() {
            try {
              return JSON.parse(text);
            } catch {
              throw new Error(`${method} ${path}: expected JSON, got ${res.statusCode} ${JSON.stringify(text.slice(0, 300))}`);
            }
          },
        });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
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
