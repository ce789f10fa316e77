// Flags use configurable-http-proxy's names and defaults so JupyterHub can start hub-guard as its proxy unchanged.
import { readFileSync } from 'node:fs';
import type { Level } from './log.js';

export class ConfigError extends Error {}

type Kind = 'string' | 'int' | 'number' | 'bool' | 'list';
interface FlagSpec { name: string; kind: Kind; help: string; arg?: string; negatable?: boolean }

// `negatable` flags are on by default and switched off with --no-<name>, as in CHP; their help describes the --no- form.
export const FLAGS: FlagSpec[] = [
  { name: 'ip', kind: 'string', arg: 'ip', help: 'public-facing IP of the proxy (default: all interfaces)' },
  { name: 'port', kind: 'int', arg: 'n', help: 'public-facing port (default 8000)' },
  { name: 'socket', kind: 'string', arg: 'path', help: 'UNIX socket for the public side instead of ip/port' },
  { name: 'api-ip', kind: 'string', arg: 'ip', help: 'IP of the REST API (default localhost)' },
  { name: 'api-port', kind: 'int', arg: 'n', help: 'port of the REST API (default --port + 1)' },
  { name: 'api-socket', kind: 'string', arg: 'path', help: 'UNIX socket for the REST API instead of ip/port' },
  ...tlsFlags('ssl', 'the public side'),
  ...tlsFlags('api-ssl', 'the REST API'),
  ...tlsFlags('client-ssl', 'requests to upstream servers'),
  { name: 'ssl-protocol', kind: 'string', arg: 'proto', help: 'TLS protocol of the public side, e.g. TLSv1_2' },
  { name: 'ssl-ciphers', kind: 'string', arg: 'list', help: '`:`-separated cipher list of the public side' },
  { name: 'ssl-allow-rc4', kind: 'bool', help: 'accepted for CHP compatibility; Node has no RC4, so it has no effect' },
  { name: 'ssl-dhparam', kind: 'string', arg: 'file', help: 'Diffie-Hellman parameters (PEM) of the public side' },
  { name: 'default-target', kind: 'string', arg: 'url', help: 'target of the "/" route until the hub sets its own' },
  { name: 'error-target', kind: 'string', arg: 'url', help: 'server asked for error pages: GET <url>/<code>?url=<request url>' },
  { name: 'error-path', kind: 'string', arg: 'dir', help: 'directory with <code>.html or error.html error pages' },
  { name: 'redirect-port', kind: 'int', arg: 'n', help: 'plain-HTTP port that redirects to the HTTPS public port' },
  { name: 'redirect-to', kind: 'int', arg: 'n', help: 'port the --redirect-port redirects to (default --port)' },
  { name: 'pid-file', kind: 'string', arg: 'file', help: 'write the process id to this file' },
  { name: 'x-forward', kind: 'bool', negatable: true, help: 'do not add X-Forwarded-* headers to proxied requests' },
  { name: 'prepend-path', kind: 'bool', negatable: true, help: "do not prepend the target's path to proxied requests" },
  { name: 'include-prefix', kind: 'bool', negatable: true, help: 'strip the route prefix from proxied requests (never with JupyterHub)' },
  { name: 'auto-rewrite', kind: 'bool', help: 'rewrite the host/port of Location headers in redirects' },
  { name: 'change-origin', kind: 'bool', help: 'set the Host header to the target host' },
  { name: 'protocol-rewrite', kind: 'string', arg: 'proto', help: 'rewrite the protocol of Location headers in redirects' },
  { name: 'custom-header', kind: 'list', arg: 'k:v', help: 'header added to proxied requests (repeatable)' },
  { name: 'insecure', kind: 'bool', help: 'do not verify upstream TLS certificates' },
  { name: 'host-routing', kind: 'bool', help: 'route on the Host header first (keys begin /<host>)' },
  { name: 'metrics-ip', kind: 'string', arg: 'ip', help: 'IP of the Prometheus metrics server (default all interfaces)' },
  { name: 'metrics-port', kind: 'int', arg: 'n', help: 'port of the Prometheus metrics server (default: none)' },
  { name: 'metrics-socket', kind: 'string', arg: 'path', help: 'UNIX socket for the metrics server' },
  { name: 'log-level', kind: 'string', arg: 'level', help: 'debug, info, warn or error (default info)' },
  { name: 'timeout', kind: 'int', arg: 'ms', help: 'drop a client connection idle this long' },
  { name: 'proxy-timeout', kind: 'int', arg: 'ms', help: 'answer 503 when an upstream sends no response this long' },
  { name: 'keep-alive-timeout', kind: 'int', arg: 'ms', help: 'keep idle client connections open this long (default 5000)' },
  { name: 'state-dir', kind: 'string', arg: 'dir', help: 'keep routes and guard state in this directory across restarts' },
  // shared state, so any number of replicas behave as one
  { name: 'redis-url', kind: 'string', arg: 'url', help: 'share state through Redis: redis://[user:password@]host[:port][/db] or rediss:// (TLS); password better in HUB_GUARD_REDIS_PASSWORD' },
  { name: 'redis-sentinels', kind: 'string', arg: 'host:port,…', help: 'find the Redis primary through these Sentinels (with --redis-sentinel-name; --redis-url then only gives credentials, db and rediss://)' },
  { name: 'redis-sentinel-name', kind: 'string', arg: 'name', help: 'the primary group name the Sentinels monitor' },
  { name: 'redis-prefix', kind: 'string', arg: 'prefix', help: 'prefix of every Redis key and channel (default hub-guard:); replicas of one proxy share it' },
  { name: 'activity-interval', kind: 'number', arg: 's', help: 'seconds between writes of last_activity to the state store, merged across replicas (default 5)' },
  { name: 'upstream', kind: 'string', arg: 'url', help: 'front mode: send every allowed request to this proxy (e.g. an existing CHP) instead of route targets' },
  { name: 'upstream-api', kind: 'string', arg: 'url', help: "front mode: poll this CHP API's routes for ownership (token: HUB_GUARD_UPSTREAM_TOKEN or CONFIGPROXY_AUTH_TOKEN)" },
  { name: 'upstream-poll-interval', kind: 'number', arg: 's', help: 'front mode: seconds between route polls (default 5)' },
  { name: 'workers', kind: 'int', arg: 'n', help: 'run n processes sharing the ports (node:cluster); above 1 needs --redis-url' },
  { name: 'shutdown-timeout', kind: 'int', arg: 'ms', help: 'on SIGTERM, wait this long for requests in flight, then close the rest (default 10000)' },
  { name: 'headers-timeout', kind: 'int', arg: 'ms', help: 'drop a client that has not sent its request headers in this time (default 30000)' },
  // identity (the hub's login cookie checked against the hub DB, hub-guard's session, an IdP JWT)
  { name: 'hub-db', kind: 'string', arg: 'url', help: "the hub's db_url: sqlite:///path (read-only), postgresql://…, mysql://…" },
  { name: 'cookie-secret-file', kind: 'string', arg: 'file', help: "the hub's cookie secret (default jupyterhub_cookie_secret; JPY_COOKIE_SECRET wins)" },
  { name: 'cookie-max-age-days', kind: 'number', arg: 'days', help: "the hub's cookie_max_age_days (default 14)" },
  { name: 'session-ttl', kind: 'int', arg: 's', help: "lifetime of hub-guard's session cookie in seconds (default 3600)" },
  { name: 'identity-header', kind: 'string', arg: 'name', help: "header carrying a trusted identity provider's JWT (e.g. X-Goog-IAP-JWT-Assertion, Authorization)" },
  { name: 'jwks-url', kind: 'string', arg: 'url', help: "the identity provider's JWKS URL" },
  { name: 'jwks-file', kind: 'string', arg: 'file', help: "the identity provider's JWKS as a file" },
  { name: 'jwt-issuer', kind: 'string', arg: 'iss', help: 'required issuer of identity-provider JWTs' },
  { name: 'jwt-audience', kind: 'string', arg: 'aud', help: 'required audience of identity-provider JWTs' },
  { name: 'username-claim', kind: 'string', arg: 'claim', help: 'JWT claim holding the user name (default email; lower-cased, e-mail domain dropped)' },
  { name: 'admin-access', kind: 'bool', negatable: true, help: "refuse hub admins (unfiltered access:servers) other users' servers; roles naming users still apply" },
  // DB watchdog and maintenance
  { name: 'db-check-interval', kind: 'number', arg: 's', help: 'seconds between hub DB checks (default 5)' },
  { name: 'db-timeout', kind: 'int', arg: 'ms', help: 'timeout of each hub DB query (default 3000)' },
  { name: 'db-unreachable-checks', kind: 'int', arg: 'n', help: 'failed checks in a row before an unreachable DB is critical (default 3)' },
  { name: 'max-user-drop', kind: 'number', arg: 'fraction', help: 'critical when users fall below (1 - this) x the high-water mark (default 0.2)' },
  { name: 'max-id-changes', kind: 'int', arg: 'n', help: 'known users whose id may change before it is critical (default 0)' },
  { name: 'auto-recover', kind: 'bool', help: 'clear automatic maintenance after healthy checks instead of waiting for an operator' },
  { name: 'auto-recover-checks', kind: 'int', arg: 'n', help: 'healthy checks in a row before --auto-recover clears (default 3)' },
  { name: 'backup-dir', kind: 'string', arg: 'dir', help: 'keep verified copies of a sqlite hub DB here, taken while it is healthy' },
  { name: 'backup-keep', kind: 'int', arg: 'n', help: 'copies to keep in --backup-dir (default 24)' },
  { name: 'backup-interval', kind: 'number', arg: 's', help: 'seconds between copies (default 3600)' },
  { name: 'maintenance-page', kind: 'string', arg: 'file', help: 'HTML template with {{reason}}, {{since}}, {{contact}}, {{request_id}}' },
  { name: 'maintenance-contact', kind: 'string', arg: 'text', help: 'who users should contact, shown on the pages' },
  { name: 'maintenance-allow-running-servers', kind: 'bool', help: 'during maintenance, identified users still reach their own running server' },
  { name: 'operator-cidr', kind: 'list', arg: 'cidr', help: 'network whose requests pass maintenance (repeatable)' },
  { name: 'operator-token', kind: 'string', arg: 'token', help: 'operator token (prefer env HUB_GUARD_OPERATOR_TOKEN; default CONFIGPROXY_AUTH_TOKEN)' },
];

function tlsFlags(prefix: string, what: string): FlagSpec[] {
  return [
    { name: `${prefix}-key`, kind: 'string', arg: 'file', help: `TLS key (PEM) for ${what}` },
    { name: `${prefix}-cert`, kind: 'string', arg: 'file', help: `TLS certificate (PEM) for ${what}` },
    { name: `${prefix}-ca`, kind: 'string', arg: 'file', help: `TLS certificate authority (PEM) for ${what}` },
    { name: `${prefix}-request-cert`, kind: 'bool', help: `request client certificates on ${what}` },
    { name: `${prefix}-reject-unauthorized`, kind: 'bool', help: `reject unauthorised certificates on ${what}` },
  ];
}

export interface TlsConfig {
  key?: Buffer; cert?: Buffer; ca?: Buffer; dhparam?: Buffer;
  requestCert: boolean; rejectUnauthorized: boolean;
  secureProtocol?: string; ciphers?: string;
}

export interface Listen { host?: string; port?: number; path?: string }

export interface RedisConfig {
  /** The server, or with sentinels unused. */
  host: string;
  port: number;
  tls: boolean;
  db: number;
  username?: string;
  password?: string;
  sentinels?: { host: string; port: number }[];
  sentinelName?: string;
  sentinelPassword?: string;
  prefix: string;
}

export interface Config {
  listen: Listen;
  apiListen: Listen;
  metricsListen?: Listen;
  ssl?: TlsConfig;
  apiSsl?: TlsConfig;
  clientSsl?: TlsConfig;
  defaultTarget?: string;
  errorTarget?: string;
  errorPath?: string;
  redirectPort?: number;
  redirectTo?: number;
  pidFile?: string;
  xForward: boolean;
  prependPath: boolean;
  includePrefix: boolean;
  autoRewrite: boolean;
  changeOrigin: boolean;
  protocolRewrite?: string;
  customHeaders: Record<string, string>;
  insecure: boolean;
  hostRouting: boolean;
  logLevel: Level;
  timeout?: number;
  proxyTimeout?: number;
  keepAliveTimeout: number;
  front?: { upstream: string; api: string; token?: string; pollMs: number };
  workers: number;
  shutdownTimeout: number;
  headersTimeout: number;
  authToken?: string;
  stateDir?: string;
  redis?: RedisConfig;
  activityIntervalMs: number;
  hubDb?: string;
  cookieSecretFile: string;
  cookieSecretHex?: string;
  cookieMaxAgeDays: number;
  sessionTtlSec: number;
  idp?: { header: string; jwksUrl?: string; jwksFile?: string; issuer?: string; audience?: string; usernameClaim: string };
  adminAccess: boolean;
  dbCheckIntervalMs: number;
  dbTimeoutMs: number;
  dbUnreachableChecks: number;
  maxUserDrop: number;
  maxIdChanges: number;
  autoRecoverChecks?: number;
  backup?: { dir: string; keep: number; intervalMs: number };
  maintenancePage?: string;
  maintenanceContact?: string;
  allowRunningServers: boolean;
  operatorCidrs: string[];
  operatorToken?: string;
}

type Raw = Map<string, string | boolean | string[]>;

/** Splits argv into flag values; every error names the flag. */
export function parseFlags(argv: string[]): Raw {
  const byName = new Map(FLAGS.map((f) => [f.name, f]));
  const raw: Raw = new Map();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument '${arg}' (flags start with --; see --help)`);
    const eq = arg.indexOf('=');
    let name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    let value: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    let negated = false;
    if (!byName.has(name) && name.startsWith('no-') && byName.get(name.slice(3))?.negatable) {
      name = name.slice(3);
      negated = true;
    }
    const spec = byName.get(name);
    if (!spec) throw new ConfigError(`unknown flag --${name} (see --help)`);
    if (spec.kind === 'bool') {
      if (value !== undefined) throw new ConfigError(`--${arg.slice(2, eq)} takes no value`);
      raw.set(name, !negated);
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new ConfigError(`--${name} needs a value (${spec.arg})`);
    }
    if (spec.kind === 'list') raw.set(name, [...((raw.get(name) as string[] | undefined) ?? []), value]);
    else raw.set(name, value);
  }
  return raw;
}

const str = (raw: Raw, name: string) => raw.get(name) as string | undefined;
const bool = (raw: Raw, name: string, dflt = false) => (raw.get(name) as boolean | undefined) ?? dflt;

function int(raw: Raw, name: string, min: number, max: number): number | undefined {
  const v = str(raw, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new ConfigError(`--${name} must be a whole number from ${min} to ${max}, got '${v}'`);
  }
  return Number(v);
}

function num(raw: Raw, name: string, min: number, max: number): number | undefined {
  const v = str(raw, name);
  if (v === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new ConfigError(`--${name} must be a number from ${min} to ${max}, got '${v}'`);
  }
  return Number(v);
}

function workers(raw: Raw): number {
  const n = int(raw, 'workers', 1, 64) ?? 1;
  // without a shared store each worker would keep its own routes and maintenance switch
  if (n > 1 && !raw.has('redis-url') && !raw.has('redis-sentinels')) throw new ConfigError('--workers above 1 needs --redis-url (or --redis-sentinels) so the workers share routes and maintenance');
  return n;
}

function front(raw: Raw, env: NodeJS.ProcessEnv): Config['front'] {
  const upstream = httpUrl(raw, 'upstream');
  const api = httpUrl(raw, 'upstream-api');
  if (!upstream && !api) {
    if (raw.has('upstream-poll-interval')) throw new ConfigError('--upstream-poll-interval needs --upstream and --upstream-api');
    return undefined;
  }
  if (!upstream || !api) throw new ConfigError('--upstream and --upstream-api go together');
  const token = env.HUB_GUARD_UPSTREAM_TOKEN || env.CONFIGPROXY_AUTH_TOKEN || undefined;
  return { upstream, api, token, pollMs: Math.round((num(raw, 'upstream-poll-interval', 0.1, 3600) ?? 5) * 1000) };
}

function backup(raw: Raw): Config['backup'] {
  const dir = str(raw, 'backup-dir');
  if (!dir) {
    const stray = ['backup-keep', 'backup-interval'].find((n) => raw.has(n));
    if (stray) throw new ConfigError(`--${stray} needs --backup-dir`);
    return undefined;
  }
  const db = str(raw, 'hub-db');
  if (!db?.startsWith('sqlite')) throw new ConfigError('--backup-dir needs a sqlite --hub-db; back up PostgreSQL/MySQL with their own tools (docs/doctor.md)');
  return { dir, keep: int(raw, 'backup-keep', 1, 10_000) ?? 24, intervalMs: Math.round((num(raw, 'backup-interval', 1, 30 * 86400) ?? 3600) * 1000) };
}

function idp(raw: Raw): Config['idp'] {
  const header = str(raw, 'identity-header');
  const related = ['jwks-url', 'jwks-file', 'jwt-issuer', 'jwt-audience', 'username-claim'].filter((n) => raw.has(n));
  if (!header) {
    if (related.length) throw new ConfigError(`--${related[0]} needs --identity-header`);
    return undefined;
  }
  if (!raw.has('jwks-url') && !raw.has('jwks-file')) throw new ConfigError('--identity-header needs --jwks-url or --jwks-file');
  return {
    header,
    jwksUrl: httpUrl(raw, 'jwks-url'),
    jwksFile: str(raw, 'jwks-file'),
    issuer: str(raw, 'jwt-issuer'),
    audience: str(raw, 'jwt-audience'),
    usernameClaim: str(raw, 'username-claim') ?? 'email',
  };
}

function httpUrl(raw: Raw, name: string): string | undefined {
  const v = str(raw, name);
  if (v === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ConfigError(`--${name} must be a URL like http://host:port, got '${v}'`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(`--${name} must be an http or https URL, got '${v}'`);
  return v;
}

/** The URL as it may be shown: without its user information (a password may hold any character). */
const maskPassword = (url: string) => url.replace(/^([a-z]+:\/\/).*@/i, '$1***@');

function hostPort(text: string): { host: string; port: number } | undefined {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([^\s:[\]/]+):(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) return undefined;
  return { host: m[1], port: Number(m[2]) };
}

function redis(raw: Raw, env: NodeJS.ProcessEnv): RedisConfig | undefined {
  const url = str(raw, 'redis-url');
  const sentinels = str(raw, 'redis-sentinels');
  const name = str(raw, 'redis-sentinel-name');
  if (name !== undefined && sentinels === undefined) throw new ConfigError('--redis-sentinel-name needs --redis-sentinels');
  if (sentinels !== undefined && !name) throw new ConfigError('--redis-sentinels needs --redis-sentinel-name (the primary group name the Sentinels monitor)');
  if (url === undefined && sentinels === undefined) {
    if (raw.has('redis-prefix')) throw new ConfigError('--redis-prefix needs --redis-url or --redis-sentinels');
    return undefined;
  }
  const prefix = str(raw, 'redis-prefix') ?? 'hub-guard:';
  if (!/^[\x21-\x7e]{1,100}$/.test(prefix)) throw new ConfigError(`--redis-prefix must be 1 to 100 printable characters without spaces, got '${prefix}'`);
  const c: RedisConfig = { host: '127.0.0.1', port: 6379, tls: false, db: 0, prefix };
  if (url !== undefined) {
    const shown = maskPassword(url);
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new ConfigError(`--redis-url must be a URL like redis://host:6379/0 or rediss://host:6380, got '${shown}'`);
    }
    if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new ConfigError(`--redis-url must start with redis:// or rediss://, got '${shown}'`);
    if (!u.hostname) throw new ConfigError(`--redis-url has no host: '${shown}'`);
    if (u.search || u.hash) throw new ConfigError(`--redis-url takes no query or fragment: '${shown}'`);
    const db = /^\/?(\d{0,5})$/.exec(u.pathname);
    if (!db) throw new ConfigError(`--redis-url: the path must be a database number like /0, got '${shown}'`);
    c.host = u.hostname.replace(/^\[|\]$/g, '');
    c.port = u.port ? Number(u.port) : 6379;
    c.tls = u.protocol === 'rediss:';
    c.db = Number(db[1] || 0);
    c.username = decodeURIComponent(u.username) || undefined;
    c.password = decodeURIComponent(u.password) || undefined;
  }
  if (env.HUB_GUARD_REDIS_PASSWORD) c.password = env.HUB_GUARD_REDIS_PASSWORD;
  if (sentinels !== undefined) {
    c.sentinels = sentinels.split(',').map((part) => {
      const hp = hostPort(part.trim());
      if (!hp) throw new ConfigError(`--redis-sentinels must be host:port[,host:port…], got '${part.trim()}'`);
      return hp;
    });
    c.sentinelName = name;
    c.sentinelPassword = env.HUB_GUARD_REDIS_SENTINEL_PASSWORD || undefined;
  }
  return c;
}

function readFlagFile(raw: Raw, name: string): Buffer | undefined {
  const file = str(raw, name);
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (e) {
    throw new ConfigError(`--${name}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

function tls(raw: Raw, prefix: string): TlsConfig | undefined {
  const t: TlsConfig = {
    key: readFlagFile(raw, `${prefix}-key`),
    cert: readFlagFile(raw, `${prefix}-cert`),
    ca: readFlagFile(raw, `${prefix}-ca`),
    requestCert: bool(raw, `${prefix}-request-cert`),
    rejectUnauthorized: bool(raw, `${prefix}-reject-unauthorized`),
  };
  if (prefix === 'ssl') {
    t.dhparam = readFlagFile(raw, 'ssl-dhparam');
    const proto = str(raw, 'ssl-protocol');
    if (proto) t.secureProtocol = `${proto}_method`;
    t.ciphers = str(raw, 'ssl-ciphers');
  }
  if (prefix === 'client-ssl') return t.key || t.cert || t.ca ? t : undefined;
  if (!t.key && !t.cert) return undefined;
  if (!t.key || !t.cert) throw new ConfigError(`--${prefix}-key and --${prefix}-cert go together`);
  return t;
}

function customHeaders(raw: Raw): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of (raw.get('custom-header') as string[] | undefined) ?? []) {
    const colon = h.indexOf(':');
    const key = h.slice(0, colon).trim();
    if (colon <= 0 || !key) throw new ConfigError(`--custom-header must look like 'name: value', got '${h}'`);
    out[key] = h.slice(colon + 1).trim();
  }
  return out;
}

function logLevel(raw: Raw): Level {
  const v = str(raw, 'log-level') ?? 'info';
  if (v === 'debug' || v === 'info' || v === 'warn' || v === 'error') return v;
  throw new ConfigError(`--log-level must be debug, info, warn or error, got '${v}'`);
}

export function buildConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config {
  const raw = parseFlags(argv);
  const redisConfig = redis(raw, env);
  const port = int(raw, 'port', 0, 65535) ?? 8000;
  const apiPort = int(raw, 'api-port', 0, 65535) ?? port + 1;
  const metricsPort = int(raw, 'metrics-port', 0, 65535);
  if (raw.has('error-target') && raw.has('error-path')) {
    throw new ConfigError('--error-target and --error-path cannot be used together');
  }
  const ssl = tls(raw, 'ssl');
  const redirectPort = int(raw, 'redirect-port', 0, 65535);
  if (redirectPort !== undefined && !ssl) throw new ConfigError('--redirect-port needs --ssl-key and --ssl-cert');
  const metricsSocket = str(raw, 'metrics-socket');
  return {
    listen: str(raw, 'socket') ? { path: str(raw, 'socket') } : { host: str(raw, 'ip') || undefined, port },
    apiListen: str(raw, 'api-socket') ? { path: str(raw, 'api-socket') } : { host: str(raw, 'api-ip') ?? 'localhost', port: apiPort },
    metricsListen: metricsSocket ? { path: metricsSocket } : metricsPort === undefined ? undefined : { host: str(raw, 'metrics-ip') || undefined, port: metricsPort },
    ssl,
    apiSsl: tls(raw, 'api-ssl'),
    clientSsl: tls(raw, 'client-ssl'),
    defaultTarget: httpUrl(raw, 'default-target'),
    errorTarget: httpUrl(raw, 'error-target'),
    errorPath: str(raw, 'error-path'),
    redirectPort,
    redirectTo: int(raw, 'redirect-to', 1, 65535),
    pidFile: str(raw, 'pid-file'),
    xForward: bool(raw, 'x-forward', true),
    prependPath: bool(raw, 'prepend-path', true),
    includePrefix: bool(raw, 'include-prefix', true),
    autoRewrite: bool(raw, 'auto-rewrite'),
    changeOrigin: bool(raw, 'change-origin'),
    protocolRewrite: str(raw, 'protocol-rewrite'),
    customHeaders: customHeaders(raw),
    insecure: bool(raw, 'insecure'),
    hostRouting: bool(raw, 'host-routing'),
    logLevel: logLevel(raw),
    timeout: int(raw, 'timeout', 1, 2 ** 31 - 1),
    proxyTimeout: int(raw, 'proxy-timeout', 1, 2 ** 31 - 1),
    keepAliveTimeout: int(raw, 'keep-alive-timeout', 1, 2 ** 31 - 1) ?? 5000,
    front: front(raw, env),
    workers: workers(raw),
    shutdownTimeout: int(raw, 'shutdown-timeout', 0, 2 ** 31 - 1) ?? 10_000,
    headersTimeout: int(raw, 'headers-timeout', 100, 2 ** 31 - 1) ?? 30_000,
    authToken: env.CONFIGPROXY_AUTH_TOKEN || undefined,
    stateDir: str(raw, 'state-dir'),
    redis: redisConfig,
    activityIntervalMs: Math.round((num(raw, 'activity-interval', 0.1, 3600) ?? 5) * 1000),
    hubDb: str(raw, 'hub-db'),
    cookieSecretFile: str(raw, 'cookie-secret-file') ?? 'jupyterhub_cookie_secret',
    cookieSecretHex: env.JPY_COOKIE_SECRET || undefined,
    cookieMaxAgeDays: num(raw, 'cookie-max-age-days', 0, 3650) ?? 14,
    sessionTtlSec: int(raw, 'session-ttl', 60, 30 * 86400) ?? 3600,
    idp: idp(raw),
    adminAccess: bool(raw, 'admin-access', true),
    dbCheckIntervalMs: Math.round((num(raw, 'db-check-interval', 0.1, 3600) ?? 5) * 1000),
    dbTimeoutMs: int(raw, 'db-timeout', 10, 600_000) ?? 3000,
    dbUnreachableChecks: int(raw, 'db-unreachable-checks', 1, 1000) ?? 3,
    maxUserDrop: num(raw, 'max-user-drop', 0, 1) ?? 0.2,
    maxIdChanges: int(raw, 'max-id-changes', 0, 1_000_000) ?? 0,
    autoRecoverChecks: bool(raw, 'auto-recover') ? (int(raw, 'auto-recover-checks', 1, 1000) ?? 3) : undefined,
    backup: backup(raw),
    maintenancePage: str(raw, 'maintenance-page'),
    maintenanceContact: str(raw, 'maintenance-contact'),
    allowRunningServers: bool(raw, 'maintenance-allow-running-servers'),
    operatorCidrs: (raw.get('operator-cidr') as string[] | undefined) ?? [],
    operatorToken: str(raw, 'operator-token') ?? (env.HUB_GUARD_OPERATOR_TOKEN || undefined),
  };
}

export function helpText(): string {
  const lines = FLAGS.map((f) => {
    const name = f.negatable ? `--no-${f.name}` : `--${f.name}${f.arg ? ` <${f.arg}>` : ''}`;
    return `  ${name.padEnd(36)} ${f.help}`;
  });
  return [
    'usage: hub-guard [flags]            run the proxy (configurable-http-proxy flags)',
    '       hub-guard maintenance on --reason "…" | off | status',
    '       hub-guard doctor --db URL …       diagnose the hub database, plan repairs',
    '       hub-guard backup list|verify|restore-plan --backup-dir DIR',
    '       (each subcommand has its own --help)',
    '',
    'The REST API token is read from CONFIGPROXY_AUTH_TOKEN.',
    '',
    ...lines,
    '  --help                               show this help',
    '  --version                            show the version',
  ].join('\n');
}
