import { isAbsolute, resolve } from 'node:path';
import { redactUrl as redactDbUrl } from '../redact.js';
import { ConfigError } from '../errors.js';

export type HubDbEngine = 'sqlite' | 'postgres' | 'mysql';

export interface SqliteTarget {
  engine: 'sqlite';
  /** Absolute path; a relative db_url path is resolved against hub-guard's working directory. */
  file: string;
}

export interface ServerTarget {
  engine: 'postgres' | 'mysql';
  /** Host name or IP; for PostgreSQL also a unix socket directory (starts with '/'). */
  host: string;
  port: number;
  user: string | undefined;
  password: string | undefined;
  database: string;
  /** Driver options from the query string, already checked against the engine's supported set. */
  options: Record<string, string>;
}

export type HubDbTarget = SqliteTarget | ServerTarget;

const DIALECTS: Record<string, HubDbEngine> = {
  sqlite: 'sqlite',
  postgresql: 'postgres',
  postgres: 'postgres',
  mysql: 'mysql',
  mariadb: 'mysql',
};

/** Query options hub-guard passes on to its own drivers; anything else is refused rather than silently ignored. */
const SUPPORTED_OPTIONS: Record<'postgres' | 'mysql', readonly string[]> = {
  postgres: ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'host', 'port', 'application_name'],
  mysql: ['charset', 'unix_socket', 'ssl_ca', 'ssl_cert', 'ssl_key', 'ssl_verify_cert', 'ssl_verify_identity'],
};

const PG_SSLMODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

// The same grammar SQLAlchemy's make_url uses, so hub-guard accepts exactly the db_url strings the hub accepts:
// the password runs to the first '@', the username stops at ':' or '/'.
const SQLALCHEMY_URL =
  /^(?<name>[\w+]+):\/\/(?:(?<user>[^:/]*)(?::(?<password>[^@]*))?@)?(?:(?:\[(?<ipv6>[^/?]+)\]|(?<host>[^/:?]+))?(?::(?<port>[^/?]*))?)?(?:\/(?<database>[^?]*))?(?:\?(?<query>.*))?$/s;

/**
 * Parses a JupyterHub `db_url` (SQLAlchemy URL). The password may also come from PGPASSWORD or MYSQL_PWD,
 * as z2jh passes it. Throws a ConfigError that names `flag` and shows the URL with its password hidden.
 */
export function parseHubDbUrl(
  url: string,
  flag = '--hub-db',
  env: Record<string, string | undefined> = process.env,
  cwd = process.cwd(),
): HubDbTarget {
  const fail = (reason: string): never => {
    throw new ConfigError(`${flag}: ${reason} (got ${JSON.stringify(redactDbUrl(url))})`, flag);
  };
  if (typeof url !== 'string' || url.trim() === '') fail('a database URL is required, e.g. sqlite:////srv/jupyterhub/jupyterhub.sqlite');
  const m = SQLALCHEMY_URL.exec(url.trim());
  if (!m?.groups) return fail('not a database URL; expected e.g. sqlite:////srv/jupyterhub/jupyterhub.sqlite or postgresql://user@host/db');
  const g = m.groups;
  const dialect = g.name.toLowerCase().split('+')[0];
  const engine = DIALECTS[dialect];
  if (!engine) return fail(`unsupported database type '${dialect}'; use sqlite, postgresql or mysql`);
  const query = parseQuery(g.query ?? '', fail);

  if (engine === 'sqlite') {
    if (g.user !== undefined || g.host || g.ipv6 || g.port) fail('a sqlite URL has no host; use sqlite:////absolute/path.sqlite');
    const path = g.database ?? '';
    if (path === '' || path === ':memory:') fail('an in-memory sqlite database lives inside the hub process and cannot be watched');
    if (Object.keys(query).length > 0) fail(`sqlite URL options are not supported: ${Object.keys(query).join(', ')}`);
    return { engine, file: isAbsolute(path) ? path : resolve(cwd, path) };
  }

  const supported = SUPPORTED_OPTIONS[engine];
  for (const key of Object.keys(query)) {
    if (key === 'password') fail('put the password in the URL or in PGPASSWORD/MYSQL_PWD, not in a query option');
    if (!supported.includes(key)) fail(`unsupported option '${key}' (supported: ${supported.join(', ')})`);
  }
  if (engine === 'postgres' && query.sslmode !== undefined && !PG_SSLMODES.includes(query.sslmode)) {
    fail(`sslmode must be one of ${PG_SSLMODES.join(', ')}`);
  }

  const database = g.database ?? '';
  if (database === '') fail('the URL names no database; add /<database> after the host');
  const portText = g.port || (engine === 'postgres' ? query.port : undefined);
  let port = engine === 'postgres' ? 5432 : 3306;
  if (portText !== undefined && portText !== '') {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) fail('the port must be a number from 1 to 65535');
    port = Number(portText);
  }
  const options = Object.fromEntries(Object.entries(query).filter(([key]) => key !== 'host' && key !== 'port'));
  // libpq (which the hub's psycopg2 uses) connects over the local socket when no host is given; Debian puts it here.
  const host = g.ipv6 ?? g.host ?? query.host ?? (engine === 'postgres' ? '/var/run/postgresql' : 'localhost');
  const user = g.user === undefined || g.user === '' ? undefined : decode(g.user, 'user name', fail);
  const urlPassword = g.password === undefined ? undefined : decode(g.password, 'password', fail);
  const password = urlPassword ?? (engine === 'postgres' ? env.PGPASSWORD : env.MYSQL_PWD);
  return { engine, host, port, user, password, database: decode(database, 'database name', fail), options };
}

function decode(text: string, what: string, fail: (reason: string) => never): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return fail(`the ${what} has a bad %-escape`);
  }
}

function parseQuery(text: string, fail: (reason: string) => never): Record<string, string> {
  // No prototype: an option called "__proto__" must be refused like any other unknown one, not vanish.
  const out: Record<string, string> = Object.create(null);
  if (text === '') return out;
  for (const part of text.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = decode((eq < 0 ? part : part.slice(0, eq)).replace(/\+/g, ' '), 'query string', fail);
    const value = decode((eq < 0 ? '' : part.slice(eq + 1)).replace(/\+/g, ' '), 'query string', fail);
    if (key in out) fail(`option '${key}' is given twice`);
    out[key] = value;
  }
  return out;
}

export { redactDbUrl };
