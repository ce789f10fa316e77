// Flags use configurable-http-proxy's names and defaults so JupyterHub can start hub-guard as its proxy unchanged.
// The one flag parser of hub-guard is here too: the proxy's flags and every subcommand's are specs of one kind,
// each with its default, read by parseFlags().
import { readFileSync } from 'node:fs';
import { redactUrl } from './redact.js';
import { ConfigError } from './errors.js';
import type { Level } from './log.js';

export { ConfigError };

export type FlagKind = 'string' | 'int' | 'number' | 'bool' | 'list' | 'size';

export interface FlagSpec {
  name: string;
  kind: FlagKind;
  /** What the value is called: `--port <n>` in the help. */
  arg?: string;
  /** `{default}` in it shows `default`; a subcommand's help may go on over several lines. */
  help: string;
  /** The value when the flag is not given (a bool is off unless negatable). */
  default?: string | number;
  /** Bounds of an int or number (a size has its own checks where it is used). */
  min?: number;
  max?: number;
  /** On by default and switched off with --no-<name>, as in CHP; the help describes the --no- form. */
  negatable?: boolean;
}

const MAX_MS = 2 ** 31 - 1;
const DAY_S = 86_400;

export const FLAGS: FlagSpec[] = [
  { name: 'ip', kind: 'string', arg: 'ip', help: 'public-facing IP of the proxy (default: all interfaces)' },
  { name: 'port', kind: 'int', arg: 'n', min: 0, max: 65535, default: 8000, help: 'public-facing port (default {default})' },
  { name: 'socket', kind: 'string', arg: 'path', help: 'UNIX socket for the public side instead of ip/port' },
  { name: 'api-ip', kind: 'string', arg: 'ip', default: 'localhost', help: 'IP of the REST API (default {default})' },
  { name: 'api-port', kind: 'int', arg: 'n', min: 0, max: 65535, help: 'port of the REST API (default --port + 1)' },
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
  { name: 'redirect-port', kind: 'int', arg: 'n', min: 0, max: 65535, help: 'plain-HTTP port that redirects to the HTTPS public port' },
  { name: 'redirect-to', kind: 'int', arg: 'n', min: 1, max: 65535, help: 'port the --redirect-port redirects to (default --port)' },
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
  { name: 'metrics-port', kind: 'int', arg: 'n', min: 0, max: 65535, help: 'port of the Prometheus metrics server (default: none)' },
  { name: 'metrics-socket', kind: 'string', arg: 'path', help: 'UNIX socket for the metrics server' },
  { name: 'log-level', kind: 'string', arg: 'level', default: 'info', help: 'debug, info, warn or error (default {default})' },
  { name: 'timeout', kind: 'int', arg: 'ms', min: 1, max: MAX_MS, help: 'drop a client connection idle this long' },
  { name: 'proxy-timeout', kind: 'int', arg: 'ms', min: 1, max: MAX_MS, help: 'answer 503 when an upstream sends no response this long' },
  { name: 'keep-alive-timeout', kind: 'int', arg: 'ms', min: 1, max: MAX_MS, default: 5000, help: 'keep idle client connections open this long (default {default})' },
  { name: 'state-dir', kind: 'string', arg: 'dir', help: 'keep routes and guard state in this directory across restarts' },
  // shared state, so any number of replicas behave as one
  { name: 'redis-url', kind: 'string', arg: 'url', help: 'share state through Redis: redis://[user:password@]host[:port][/db] or rediss:// (TLS); password better in HUB_GUARD_REDIS_PASSWORD' },
  { name: 'redis-sentinels', kind: 'string', arg: 'host:port,…', help: 'find the Redis primary through these Sentinels (with --redis-sentinel-name; --redis-url then only gives credentials, db and rediss://)' },
  { name: 'redis-sentinel-name', kind: 'string', arg: 'name', help: 'the primary group name the Sentinels monitor' },
  { name: 'redis-prefix', kind: 'string', arg: 'prefix', default: 'hub-guard:', help: 'prefix of every Redis key and channel (default {default}); replicas of one proxy share it' },
  { name: 'activity-interval', kind: 'number', arg: 's', min: 0.1, max: 3600, default: 5, help: 'seconds between writes of last_activity to the state store, merged across replicas (default {default})' },
  { name: 'upstream', kind: 'string', arg: 'url', help: 'front mode: send every allowed request to this proxy (e.g. an existing CHP) instead of route targets' },
  { name: 'upstream-api', kind: 'string', arg: 'url', help: "front mode: poll this CHP API's routes for ownership (token: HUB_GUARD_UPSTREAM_TOKEN or CONFIGPROXY_AUTH_TOKEN)" },
  { name: 'upstream-poll-interval', kind: 'number', arg: 's', min: 0.1, max: 3600, default: 5, help: 'front mode: seconds between route polls (default {default})' },
  { name: 'workers', kind: 'int', arg: 'n', min: 1, max: 64, default: 1, help: 'run n processes sharing the ports (node:cluster); above 1 needs --redis-url' },
  { name: 'shutdown-timeout', kind: 'int', arg: 'ms', min: 0, max: MAX_MS, default: 10_000, help: 'on SIGTERM, wait this long for requests in flight, then close the rest (default {default})' },
  { name: 'headers-timeout', kind: 'int', arg: 'ms', min: 100, max: MAX_MS, default: 30_000, help: 'drop a client that has not sent its request headers in this time (default {default})' },
  // identity (the hub's login cookie checked against the hub DB, hub-guard's session, an IdP JWT)
  { name: 'hub-db', kind: 'string', arg: 'url', help: "the hub's db_url: sqlite:///path (read-only), postgresql://…, mysql://…" },
  { name: 'watcher', kind: 'bool', help: 'a `hub-guard watch` process reads the hub DB (instead of --hub-db here): take its findings and users index\nfrom the shared store (needs --redis-url; docs/architecture.md "Proxy and watcher")' },
  { name: 'cookie-secret-file', kind: 'string', arg: 'file', default: 'jupyterhub_cookie_secret', help: "the hub's cookie secret (default {default}; JPY_COOKIE_SECRET wins)" },
  { name: 'cookie-max-age-days', kind: 'number', arg: 'days', min: 0, max: 3650, default: 14, help: "the hub's cookie_max_age_days (default {default})" },
  { name: 'session-ttl', kind: 'int', arg: 's', min: 60, max: 30 * DAY_S, default: 3600, help: "lifetime of hub-guard's session cookie in seconds (default {default})" },
  { name: 'identity-header', kind: 'string', arg: 'name', help: "header carrying a trusted identity provider's JWT (e.g. X-Goog-IAP-JWT-Assertion, Authorization)" },
  { name: 'jwks-url', kind: 'string', arg: 'url', help: "the identity provider's JWKS URL" },
  { name: 'jwks-file', kind: 'string', arg: 'file', help: "the identity provider's JWKS as a file" },
  { name: 'jwt-issuer', kind: 'string', arg: 'iss', help: 'required issuer of identity-provider JWTs' },
  { name: 'jwt-audience', kind: 'string', arg: 'aud', help: 'required audience of identity-provider JWTs' },
  { name: 'username-claim', kind: 'string', arg: 'claim', default: 'email', help: 'JWT claim holding the user name (default {default}; lower-cased, e-mail domain dropped)' },
  { name: 'admin-access', kind: 'bool', negatable: true, help: "refuse hub admins (unfiltered access:servers) other users' servers; roles naming users still apply" },
  // DB watchdog and maintenance
  { name: 'db-check-interval', kind: 'number', arg: 's', min: 0.1, max: 3600, default: 5, help: 'seconds between hub DB checks (default {default})' },
  { name: 'db-timeout', kind: 'int', arg: 'ms', min: 10, max: 600_000, default: 3000, help: 'timeout of each hub DB query (default {default})' },
  { name: 'db-unreachable-checks', kind: 'int', arg: 'n', min: 1, max: 1000, default: 3, help: 'failed checks in a row before an unreachable DB is critical (default {default})' },
  { name: 'max-user-drop', kind: 'number', arg: 'fraction', min: 0, max: 1, default: 0.2, help: 'critical when users fall below (1 - this) x the high-water mark (default {default})' },
  { name: 'max-id-changes', kind: 'int', arg: 'n', min: 0, max: 1_000_000, default: 0, help: 'known users whose id may change before it is critical (default {default})' },
  { name: 'auto-recover', kind: 'bool', help: 'clear automatic maintenance after healthy checks instead of waiting for an operator' },
  { name: 'auto-recover-checks', kind: 'int', arg: 'n', min: 1, max: 1000, default: 3, help: 'healthy checks in a row before --auto-recover clears (default {default})' },
  { name: 'backup-dir', kind: 'string', arg: 'dir', help: 'keep verified copies of a sqlite hub DB here, taken while it is healthy' },
  { name: 'backup-keep', kind: 'int', arg: 'n', min: 1, max: 10_000, default: 24, help: 'copies to keep in --backup-dir (default {default})' },
  { name: 'backup-interval', kind: 'number', arg: 's', min: 1, max: 30 * DAY_S, default: 3600, help: 'seconds between copies (default {default})' },
  { name: 'backup-min-free', kind: 'size', arg: 'size', help: "take no copy that would leave less than this free on --backup-dir's file system: bytes, K/M/G/T (1024-based) or a % of it (default: the larger of 256M and twice the database's size)" },
  { name: 'backup-max-bytes', kind: 'size', arg: 'size', default: '25%', help: "all copies of the database together, the one being written included, stay within this; the oldest go first (default {default} of the file system)" },
  { name: 'maintenance-page', kind: 'string', arg: 'file', help: 'HTML template with {{reason}}, {{since}}, {{contact}}, {{request_id}}' },
  { name: 'maintenance-contact', kind: 'string', arg: 'text', help: 'who users should contact, shown on the pages' },
  { name: 'maintenance-allow-running-servers', kind: 'bool', help: 'during maintenance, identified users still reach their own running server' },
  { name: 'maintenance-hold-monitoring', kind: 'bool', help: "during maintenance, hold the hub's /hub/health, /hub/api/health and /hub/metrics too" },
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
  /** The hub DB is read by a `hub-guard watch` process; its findings and users index come through the shared store. */
  watcher: boolean;
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
  backup?: { dir: string; keep: number; intervalMs: number; minFree?: Size; maxBytes: Size };
  maintenancePage?: string;
  maintenanceContact?: string;
  allowRunningServers: boolean;
  holdMonitoring: boolean;
  operatorCidrs: string[];
  operatorToken?: string;
}

export interface ParseOptions {
  /**
   * The subcommand the flags belong to (`maintenance`). Its command line is stricter than CHP's: --help or -h
   * ends it, a value may not look like a flag (`--reason --json` forgot the reason; `--reason=--json` gives one),
   * and a value flag may be given once.
   */
  command?: string;
  /** Whether bare words are allowed (a subcommand's action, such as `on`). */
  positional?: boolean;
}

/** What a command line gave: each flag's value, or else the default from its spec. Bad values name the flag. */
export class Flags {
  /** The bare words, in order. */
  readonly positional: string[] = [];
  /** A subcommand was asked for its help. */
  help = false;
  private readonly given = new Map<string, string | boolean | string[]>();

  constructor(private readonly specs: ReadonlyMap<string, FlagSpec>) {}

  /** Whether the flag was on the command line. */
  has(name: string): boolean {
    return this.given.has(this.spec(name).name);
  }

  /** The value flags on the command line, in the order they first came. */
  values(): [string, string][] {
    return [...this.given].filter((e): e is [string, string] => typeof e[1] === 'string');
  }

  str(name: string): string | undefined {
    const v = this.given.get(this.spec(name, 'string').name);
    return typeof v === 'string' ? v : this.default(name);
  }

  bool(name: string): boolean {
    const spec = this.spec(name, 'bool');
    return (this.given.get(name) as boolean | undefined) ?? spec.negatable === true;
  }

  list(name: string): string[] {
    return (this.given.get(this.spec(name, 'list').name) as string[] | undefined) ?? [];
  }

  /** A whole number within the spec's bounds. */
  int(name: string): number | undefined {
    return this.number(name, 'int', /^\d+$/, 'a whole number');
  }

  /** A number (decimals allowed) within the spec's bounds. */
  num(name: string): number | undefined {
    return this.number(name, 'number', /^\d+(\.\d+)?$/, 'a number');
  }

  /** A size: bytes (with K, M, G or T) or a percentage of something the flag's help names. */
  size(name: string): Size | undefined {
    this.spec(name, 'size');
    const v = (this.given.get(name) as string | undefined) ?? this.default(name);
    if (v === undefined) return undefined;
    const size = parseSize(v);
    if (!size) throw new ConfigError(`--${name} must be a size in bytes, optionally with K, M, G or T (powers of 1024), or a percentage, like 200M, 1G or 25%; got '${v}'`, `--${name}`);
    return size;
  }

  /** Records a value as parseFlags() read it. */
  set(name: string, value: string | boolean): void {
    if (this.specs.get(name)?.kind !== 'list') this.given.set(name, value);
    else this.given.set(name, [...this.list(name), value as string]);
  }

  private number(name: string, kind: 'int' | 'number', form: RegExp, what: string): number | undefined {
    const spec = this.spec(name, kind);
    const v = this.given.get(name) as string | undefined;
    if (v === undefined) return spec.default as number | undefined;
    const { min = 0, max = Number.MAX_SAFE_INTEGER } = spec;
    if (!form.test(v) || Number(v) < min || Number(v) > max) {
      throw new ConfigError(`--${name} must be ${what} from ${min} to ${max}, got '${v}'`, `--${name}`);
    }
    return Number(v);
  }

  private default(name: string): string | undefined {
    const d = this.specs.get(name)?.default;
    return d === undefined ? undefined : String(d);
  }

  private spec(name: string, kind?: FlagKind): FlagSpec {
    const spec = this.specs.get(name);
    if (!spec || (kind && spec.kind !== kind)) throw new Error(`no ${kind ?? ''} flag --${name} in the specs`);
    return spec;
  }
}

/** An amount of disk: bytes, or a share of a file system's size resolved where the file system is known. */
export type Size = { bytes: number } | { percent: number };

const KiB = 1024;
const UNITS = new Map([['', 1], ['k', KiB], ['m', KiB ** 2], ['g', KiB ** 3], ['t', KiB ** 4]]);

/**
 * `1048576`, `200M`, `1G`, `1.5GiB`, `25%`; undefined when it is none of these. Units are powers of 1024 whether
 * or not they are spelled with an i, as df -h shows them: an operator reads the free space there and types it here.
 */
export function parseSize(text: string): Size | undefined {
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (pct) return Number(pct[1]) <= 100 ? { percent: Number(pct[1]) } : undefined;
  const m = /^(\d+(?:\.\d+)?)(?:\s?([kmgt])(?:i?b)?|\s?b)?$/i.exec(text);
  if (!m) return undefined;
  const bytes = Math.round(Number(m[1]) * UNITS.get((m[2] ?? '').toLowerCase())!);
  return Number.isSafeInteger(bytes) ? { bytes } : undefined;
}

/** Bytes as a person reads them, in units parseSize() takes back (`256.0 MiB`), so a message's number can be pasted into a flag. */
export function formatBytes(bytes: number): string {
  if (bytes < KiB) return `${bytes} B`;
  if (bytes < KiB ** 2) return `${(bytes / KiB).toFixed(0)} KiB`;
  if (bytes < KiB ** 3) return `${(bytes / KiB ** 2).toFixed(1)} MiB`;
  return `${(bytes / KiB ** 3).toFixed(1)} GiB`;
}

/** Reads a command line against its specs: `--name value`, `--name=value`, `--no-<name>`, repeated lists. */
export function parseFlags(argv: string[], specs: readonly FlagSpec[], opts: ParseOptions = {}): Flags {
  const { command } = opts;
  const byName = new Map(specs.map((f) => [f.name, f]));
  const flags = new Flags(byName);
  const seeHelp = command ? `see hub-guard ${command} --help` : 'see --help';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (command && (arg === '--help' || arg === '-h')) {
      flags.help = true;
      return flags;
    }
    if (!arg.startsWith('--')) {
      if (!opts.positional) throw new ConfigError(`unexpected argument '${arg}' (${command ? '' : 'flags start with --; '}${seeHelp})`);
      flags.positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const spelled = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    let value: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    const negated = !byName.has(spelled) && spelled.startsWith('no-') && byName.get(spelled.slice(3))?.negatable === true;
    const name = negated ? spelled.slice(3) : spelled;
    const spec = byName.get(name);
    if (!spec) throw new ConfigError(`unknown flag --${name} (${seeHelp})`, `--${name}`);
    if (spec.kind === 'bool') {
      if (value !== undefined) throw new ConfigError(`--${spelled} takes no value`, `--${spelled}`);
      flags.set(name, !negated);
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined || (command && value.startsWith('--'))) {
        throw new ConfigError(`--${name} needs a value${command ? '' : ` (${spec.arg})`}`, `--${name}`);
      }
    }
    if (command && spec.kind !== 'list' && flags.has(name)) throw new ConfigError(`--${name} given twice`, `--${name}`);
    flags.set(name, value);
  }
  return flags;
}

export const HELP_FLAG: FlagSpec = { name: 'help', kind: 'bool', help: 'show this help' };

/** One help line a flag, names padded to `width`; a help that goes on over lines stays in its column. */
export function helpLines(specs: readonly FlagSpec[], width: number): string[] {
  return specs.map((f) => {
    const name = f.negatable ? `--no-${f.name}` : `--${f.name}${f.arg ? ` <${f.arg}>` : ''}`;
    const help = f.default === undefined ? f.help : f.help.replace('{default}', String(f.default));
    return `  ${name.padEnd(width)} ${help.replaceAll('\n', `\n${' '.repeat(width + 3)}`)}`;
  });
}

function workers(flags: Flags): number {
  const n = flags.int('workers')!;
  // without a shared store each worker would keep its own routes and maintenance switch
  if (n > 1 && !flags.has('redis-url') && !flags.has('redis-sentinels')) throw new ConfigError('--workers above 1 needs --redis-url (or --redis-sentinels) so the workers share routes and maintenance', '--workers');
  return n;
}

function front(flags: Flags, env: NodeJS.ProcessEnv): Config['front'] {
  const upstream = httpUrl(flags, 'upstream');
  const api = httpUrl(flags, 'upstream-api');
  if (!upstream && !api) {
    if (flags.has('upstream-poll-interval')) throw new ConfigError('--upstream-poll-interval needs --upstream and --upstream-api', '--upstream-poll-interval');
    return undefined;
  }
  if (!upstream || !api) throw new ConfigError('--upstream and --upstream-api go together', upstream ? '--upstream-api' : '--upstream');
  const token = env.HUB_GUARD_UPSTREAM_TOKEN || env.CONFIGPROXY_AUTH_TOKEN || undefined;
  return { upstream, api, token, pollMs: seconds(flags, 'upstream-poll-interval') };
}

/** A flag given in seconds, in milliseconds. */
const seconds = (flags: Flags, name: string) => Math.round(flags.num(name)! * 1000);

function backup(flags: Flags): Config['backup'] {
  const dir = flags.str('backup-dir');
  if (!dir) {
    const stray = ['backup-keep', 'backup-interval', 'backup-min-free', 'backup-max-bytes'].find((n) => flags.has(n));
    if (stray) throw new ConfigError(`--${stray} needs --backup-dir`, `--${stray}`);
    return undefined;
  }
  const db = flags.str('hub-db');
  if (!db?.startsWith('sqlite')) throw new ConfigError('--backup-dir needs a sqlite --hub-db; back up PostgreSQL/MySQL with their own tools (docs/doctor.md)', '--backup-dir');
  const maxBytes = flags.size('backup-max-bytes')!;
  if (('bytes' in maxBytes ? maxBytes.bytes : maxBytes.percent) === 0) throw new ConfigError('--backup-max-bytes must be more than 0 (to take no copies, leave out --backup-dir)', '--backup-max-bytes');
  const minFree = flags.size('backup-min-free');
  return { dir, keep: flags.int('backup-keep')!, intervalMs: seconds(flags, 'backup-interval'), minFree, maxBytes };
}

function watcher(flags: Flags, shared: boolean): boolean {
  if (!flags.bool('watcher')) return false;
  if (flags.has('hub-db')) throw new ConfigError('--watcher and --hub-db cannot be used together: with --watcher, `hub-guard watch --hub-db …` reads the database', '--watcher');
  if (!shared) throw new ConfigError('--watcher needs --redis-url (or --redis-sentinels): the watcher hands its findings and users index over the shared store', '--watcher');
  return true;
}

function idp(flags: Flags): Config['idp'] {
  const header = flags.str('identity-header');
  const related = ['jwks-url', 'jwks-file', 'jwt-issuer', 'jwt-audience', 'username-claim'].filter((n) => flags.has(n));
  if (!header) {
    if (related.length) throw new ConfigError(`--${related[0]} needs --identity-header`, `--${related[0]}`);
    return undefined;
  }
  if (!flags.has('jwks-url') && !flags.has('jwks-file')) throw new ConfigError('--identity-header needs --jwks-url or --jwks-file', '--identity-header');
  return {
    header,
    jwksUrl: httpUrl(flags, 'jwks-url'),
    jwksFile: flags.str('jwks-file'),
    issuer: flags.str('jwt-issuer'),
    audience: flags.str('jwt-audience'),
    usernameClaim: flags.str('username-claim')!,
  };
}

function httpUrl(flags: Flags, name: string): string | undefined {
  const v = flags.str(name);
  if (v === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ConfigError(`--${name} must be a URL like http://host:port, got '${v}'`, `--${name}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(`--${name} must be an http or https URL, got '${v}'`, `--${name}`);
  return v;
}

/** The URL as it may be shown: without its user information (a password may hold any character). */

function hostPort(text: string): { host: string; port: number } | undefined {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([^\s:[\]/]+):(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) return undefined;
  return { host: m[1], port: Number(m[2]) };
}

function redis(flags: Flags, env: NodeJS.ProcessEnv): RedisConfig | undefined {
  const url = flags.str('redis-url');
  const sentinels = flags.str('redis-sentinels');
  const name = flags.str('redis-sentinel-name');
  if (name !== undefined && sentinels === undefined) throw new ConfigError('--redis-sentinel-name needs --redis-sentinels', '--redis-sentinel-name');
  if (sentinels !== undefined && !name) throw new ConfigError('--redis-sentinels needs --redis-sentinel-name (the primary group name the Sentinels monitor)', '--redis-sentinels');
  if (url === undefined && sentinels === undefined) {
    if (flags.has('redis-prefix')) throw new ConfigError('--redis-prefix needs --redis-url or --redis-sentinels', '--redis-prefix');
    return undefined;
  }
  const prefix = flags.str('redis-prefix')!;
  if (!/^[\x21-\x7e]{1,100}$/.test(prefix)) throw new ConfigError(`--redis-prefix must be 1 to 100 printable characters without spaces, got '${prefix}'`, '--redis-prefix');
  const c: RedisConfig = { host: '127.0.0.1', port: 6379, tls: false, db: 0, prefix };
  if (url !== undefined) {
    const shown = redactUrl(url);
    const bad = (message: string) => new ConfigError(message, '--redis-url');
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw bad(`--redis-url must be a URL like redis://host:6379/0 or rediss://host:6380, got '${shown}'`);
    }
    if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw bad(`--redis-url must start with redis:// or rediss://, got '${shown}'`);
    if (!u.hostname) throw bad(`--redis-url has no host: '${shown}'`);
    if (u.search || u.hash) throw bad(`--redis-url takes no query or fragment: '${shown}'`);
    const db = /^\/?(\d{0,5})$/.exec(u.pathname);
    if (!db) throw bad(`--redis-url: the path must be a database number like /0, got '${shown}'`);
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
      if (!hp) throw new ConfigError(`--redis-sentinels must be host:port[,host:port…], got '${part.trim()}'`, '--redis-sentinels');
      return hp;
    });
    c.sentinelName = name;
    c.sentinelPassword = env.HUB_GUARD_REDIS_SENTINEL_PASSWORD || undefined;
  }
  return c;
}

function readFlagFile(flags: Flags, name: string): Buffer | undefined {
  const file = flags.str(name);
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (e) {
    throw new ConfigError(`--${name}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`, `--${name}`);
  }
}

function tls(flags: Flags, prefix: string): TlsConfig | undefined {
  const t: TlsConfig = {
    key: readFlagFile(flags, `${prefix}-key`),
    cert: readFlagFile(flags, `${prefix}-cert`),
    ca: readFlagFile(flags, `${prefix}-ca`),
    requestCert: flags.bool(`${prefix}-request-cert`),
    rejectUnauthorized: flags.bool(`${prefix}-reject-unauthorized`),
  };
  if (prefix === 'ssl') {
    t.dhparam = readFlagFile(flags, 'ssl-dhparam');
    const proto = flags.str('ssl-protocol');
    if (proto) t.secureProtocol = `${proto}_method`;
    t.ciphers = flags.str('ssl-ciphers');
  }
  if (prefix === 'client-ssl') return t.key || t.cert || t.ca ? t : undefined;
  if (!t.key && !t.cert) return undefined;
  if (!t.key || !t.cert) throw new ConfigError(`--${prefix}-key and --${prefix}-cert go together`, t.key ? `--${prefix}-cert` : `--${prefix}-key`);
  return t;
}

function customHeaders(flags: Flags): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of flags.list('custom-header')) {
    const colon = h.indexOf(':');
    const key = h.slice(0, colon).trim();
    if (colon <= 0 || !key) throw new ConfigError(`--custom-header must look like 'name: value', got '${h}'`, '--custom-header');
    out[key] = h.slice(colon + 1).trim();
  }
  return out;
}

function logLevel(flags: Flags): Level {
  const v = flags.str('log-level')!;
  if (v === 'debug' || v === 'info' || v === 'warn' || v === 'error') return v;
  throw new ConfigError(`--log-level must be debug, info, warn or error, got '${v}'`, '--log-level');
}

export function buildConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config {
  const flags = parseFlags(argv, FLAGS);
  const redisConfig = redis(flags, env);
  const port = flags.int('port')!;
  const apiPort = flags.int('api-port') ?? port + 1;
  const metricsPort = flags.int('metrics-port');
  if (flags.has('error-target') && flags.has('error-path')) {
    throw new ConfigError('--error-target and --error-path cannot be used together', '--error-path');
  }
  const ssl = tls(flags, 'ssl');
  const redirectPort = flags.int('redirect-port');
  if (redirectPort !== undefined && !ssl) throw new ConfigError('--redirect-port needs --ssl-key and --ssl-cert', '--redirect-port');
  const metricsSocket = flags.str('metrics-socket');
  return {
    listen: flags.str('socket') ? { path: flags.str('socket') } : { host: flags.str('ip') || undefined, port },
    apiListen: flags.str('api-socket') ? { path: flags.str('api-socket') } : { host: flags.str('api-ip'), port: apiPort },
    metricsListen: metricsSocket ? { path: metricsSocket } : metricsPort === undefined ? undefined : { host: flags.str('metrics-ip') || undefined, port: metricsPort },
    ssl,
    apiSsl: tls(flags, 'api-ssl'),
    clientSsl: tls(flags, 'client-ssl'),
    defaultTarget: httpUrl(flags, 'default-target'),
    errorTarget: httpUrl(flags, 'error-target'),
    errorPath: flags.str('error-path'),
    redirectPort,
    redirectTo: flags.int('redirect-to'),
    pidFile: flags.str('pid-file'),
    xForward: flags.bool('x-forward'),
    prependPath: flags.bool('prepend-path'),
    includePrefix: flags.bool('include-prefix'),
    autoRewrite: flags.bool('auto-rewrite'),
    changeOrigin: flags.bool('change-origin'),
    protocolRewrite: flags.str('protocol-rewrite'),
    customHeaders: customHeaders(flags),
    insecure: flags.bool('insecure'),
    hostRouting: flags.bool('host-routing'),
    logLevel: logLevel(flags),
    timeout: flags.int('timeout'),
    proxyTimeout: flags.int('proxy-timeout'),
    keepAliveTimeout: flags.int('keep-alive-timeout')!,
    front: front(flags, env),
    workers: workers(flags),
    shutdownTimeout: flags.int('shutdown-timeout')!,
    headersTimeout: flags.int('headers-timeout')!,
    authToken: env.CONFIGPROXY_AUTH_TOKEN || undefined,
    stateDir: flags.str('state-dir'),
    redis: redisConfig,
    activityIntervalMs: seconds(flags, 'activity-interval'),
    hubDb: flags.str('hub-db'),
    watcher: watcher(flags, !!redisConfig),
    cookieSecretFile: flags.str('cookie-secret-file')!,
    cookieSecretHex: env.JPY_COOKIE_SECRET || undefined,
    cookieMaxAgeDays: flags.num('cookie-max-age-days')!,
    sessionTtlSec: flags.int('session-ttl')!,
    idp: idp(flags),
    adminAccess: flags.bool('admin-access'),
    dbCheckIntervalMs: seconds(flags, 'db-check-interval'),
    dbTimeoutMs: flags.int('db-timeout')!,
    dbUnreachableChecks: flags.int('db-unreachable-checks')!,
    maxUserDrop: flags.num('max-user-drop')!,
    maxIdChanges: flags.int('max-id-changes')!,
    autoRecoverChecks: flags.bool('auto-recover') ? flags.int('auto-recover-checks') : undefined,
    backup: backup(flags),
    maintenancePage: flags.str('maintenance-page'),
    maintenanceContact: flags.str('maintenance-contact'),
    allowRunningServers: flags.bool('maintenance-allow-running-servers'),
    holdMonitoring: flags.bool('maintenance-hold-monitoring'),
    operatorCidrs: flags.list('operator-cidr'),
    operatorToken: flags.str('operator-token') ?? (env.HUB_GUARD_OPERATOR_TOKEN || undefined),
  };
}

/** What `hub-guard watch` reads: the hub DB, the cookie secret (for the index's keyed hashes), the store, the checks. */
export const WATCH_FLAGS: FlagSpec[] = FLAGS.filter((f) => [
  'hub-db', 'cookie-secret-file', 'state-dir', 'redis-url', 'redis-sentinels', 'redis-sentinel-name', 'redis-prefix',
  'metrics-ip', 'metrics-port', 'metrics-socket', 'log-level', 'db-check-interval', 'db-timeout', 'db-unreachable-checks',
  'max-user-drop', 'max-id-changes', 'auto-recover', 'auto-recover-checks',
].includes(f.name) || f.name.startsWith('backup-'));

export const WATCH_USAGE = `usage: hub-guard watch --hub-db URL --redis-url URL [flags]

Reads the hub database as the proxy's watchdog does (read-only), and hands the proxies started with --watcher
what they need through the shared store: findings, automatic maintenance, and the users and grants index, with
login cookie_ids only as keyed hashes. Runs beside the hub (on zero-to-jupyterhub, as a container in the hub pod,
where the sqlite database lives); proxies keep the last state while it is away.
`;

/** The watcher's command line: the same flags as the proxy's, limited to what a watcher reads. */
export function buildWatchConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config {
  parseFlags(argv, WATCH_FLAGS, { command: 'watch' });
  const cfg = buildConfig(argv, env);
  if (!cfg.hubDb) throw new ConfigError('--hub-db is required: the database the watcher reads', '--hub-db');
  if (!cfg.redis) throw new ConfigError('--redis-url (or --redis-sentinels) is required: the proxies read what the watcher finds from there', '--redis-url');
  return cfg;
}

export function helpText(): string {
  return [
    'usage: hub-guard [flags]            run the proxy (configurable-http-proxy flags)',
    '       hub-guard maintenance on --reason "…" | off | status',
    '       hub-guard doctor --db URL …       diagnose the hub database, plan repairs',
    '       hub-guard backup list|verify|restore-plan --backup-dir DIR',
    '       hub-guard watch --hub-db URL --redis-url URL …   watch the hub DB for proxies run with --watcher',
    '       (each subcommand has its own --help)',
    '',
    'The REST API token is read from CONFIGPROXY_AUTH_TOKEN.',
    '',
    ...helpLines([...FLAGS, HELP_FLAG, { name: 'version', kind: 'bool', help: 'show the version' }], 36),
  ].join('\n');
}
