import type pg from 'pg';
import type { Row, SqlSession } from '../session.js';
import type { ServerTarget } from '../url.js';
import { fingerprinted, retryLostConnection, type Driver, type InTransaction } from './driver.js';
import { readTlsFile } from './tls.js';

const TIMESTAMP_OIDS = new Set([1114 /* timestamp */, 1184 /* timestamptz */]);

// Timestamps stay text: node-postgres would read the hub's naive UTC values as local time.
const typesOf = (lib: typeof pg) => ({
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    TIMESTAMP_OIDS.has(oid) ? (v: string) => v : lib.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
});

// libpq's sslmode: 'allow' and 'prefer' fall back to plain text there; node-postgres cannot, so they mean no TLS.
function sslConfig(t: ServerTarget, description: string): pg.PoolConfig['ssl'] {
  const mode = t.options.sslmode ?? 'prefer';
  if (mode === 'disable' || mode === 'allow' || mode === 'prefer') return false;
  const ca = readTlsFile(t.options.sslrootcert, 'sslrootcert', description);
  const cert = readTlsFile(t.options.sslcert, 'sslcert', description);
  const key = readTlsFile(t.options.sslkey, 'sslkey', description);
  // As in libpq, 'require' with a root certificate verifies the chain like 'verify-ca'.
  const verifyChain = mode === 'verify-full' || mode === 'verify-ca' || (mode === 'require' && ca !== undefined);
  return {
    ca, cert, key,
    rejectUnauthorized: verifyChain,
    ...(mode === 'verify-full' ? {} : { checkServerIdentity: () => undefined }),
  };
}

// 57P01–57P03: the server terminated the session (pg_terminate_backend, shutdown, restart).
function isConnectionLost(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return ['57P01', '57P02', '57P03', 'ECONNRESET', 'EPIPE'].includes(String(e?.code)) || /connection terminated unexpectedly/i.test(String(e?.message));
}

/** What the driver learns about its server once: sha256() exists from PostgreSQL 11 on. */
interface ServerFacts { hasSha256?: boolean }

function session(client: pg.PoolClient, facts: ServerFacts): SqlSession {
  const rows = async (sql: string, values?: unknown[]) => (await client.query(sql, values)).rows as Row[];
  return {
    rows: (sql) => rows(sql),
    async digest(sql) {
      // An unknown function would abort the whole read transaction: ask first, once.
      facts.hasSha256 ??= Number((await rows('SHOW server_version_num'))[0]?.server_version_num) >= 110000;
      if (!facts.hasSha256) return null;
      // Each row as JSON (every type has one exact text form there), sorted so the order rows come in does not matter.
      const [r] = await rows(`
        SELECT count(*) AS n,
               encode(sha256(convert_to(coalesce(string_agg(j, E'\\n' ORDER BY j COLLATE "C"), ''), 'UTF8')), 'hex') AS h
        FROM (SELECT row_to_json(t)::text AS j FROM (${sql}) t) u`);
      return `${String(r?.n)}:${String(r?.h)}`;
    },
    quote: (name) => `"${name.replace(/"/g, '""')}"`,
    tables: async () =>
      (await rows(`SELECT tablename AS name FROM pg_catalog.pg_tables WHERE schemaname = current_schema()`)).map((r) => String(r.name)),
    columns: async (table) =>
      (await rows(
        `SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`,
        [table],
      )).map((r) => String(r.name)),
    async cookieIdConstraint() {
      // A unique index counts only on cookie_id alone and without a WHERE clause (UNIQUE constraints are such indexes).
      const [r] = await rows(`
        SELECT a.attnotnull AS not_null,
               EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                       WHERE i.indrelid = c.oid AND i.indisunique AND i.indnatts = 1 AND i.indpred IS NULL
                         AND i.indkey[0] = a.attnum) AS is_unique
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = 'cookie_id' AND NOT a.attisdropped
        WHERE c.relname = 'users' AND n.nspname = current_schema()`);
      return { notNull: r?.not_null === true, unique: r?.is_unique === true };
    },
  };
}

export function openPostgres(t: ServerTarget, timeoutMs: number, description: string): Driver {
  const ssl = sslConfig(t, description);
  // node-postgres is loaded only for a PostgreSQL hub: most hubs run sqlite, and the library costs memory
  const ready = import('pg').then(({ default: lib }) => openPool(lib, t, timeoutMs, ssl));
  const facts: ServerFacts = {};
  const inTransaction: InTransaction = async (body) => {
    const client = await (await ready).connect();
    let failure: Error | undefined;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const result = await body(session(client, facts));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      // After an error the connection's state is unknown (maybe mid-query): throw it away rather than reuse it.
      client.release(failure);
    }
  };

  return fingerprinted((body) => retryLostConnection(() => inTransaction(body), isConnectionLost, description), async () => (await ready).end());
}

function openPool(lib: typeof pg, t: ServerTarget, timeoutMs: number, ssl: pg.PoolConfig['ssl']): pg.Pool {
  const pool = new lib.Pool({
    host: t.host,
    port: t.port,
    user: t.user,
    password: t.password,
    database: t.database,
    application_name: t.options.application_name ?? 'hub-guard',
    ssl,
    max: 1,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    statement_timeout: timeoutMs,
    lock_timeout: timeoutMs,
    idle_in_transaction_session_timeout: timeoutMs,
    // Belt and braces: even a bug here cannot write to the hub's database.
    options: '-c default_transaction_read_only=on',
    keepAlive: true,
    idleTimeoutMillis: 60_000,
    allowExitOnIdle: true,
    types: typesOf(lib),
  });
  // An idle connection dropped by the server emits 'error' on the pool; unhandled, that would crash the process.
  // The next read reconnects or reports the problem.
  pool.on('error', () => {});
  return pool;
}
