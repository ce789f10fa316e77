import mysql from 'mysql2/promise';
import { readSnapshot, type Row, type SqlSession } from '../read.js';
import type { HubSnapshot } from '../snapshot.js';
import type { ServerTarget } from '../url.js';
import { retryLostConnection, type Driver } from './driver.js';
import { readTlsFile } from './tls.js';

const isFalse = (v: string | undefined) => v !== undefined && /^(0|false|no|off)$/i.test(v);
const isTrue = (v: string | undefined) => v !== undefined && /^(1|true|yes|on)$/i.test(v);

// The ssl_* options as PyMySQL reads them: TLS only when one is given; a CA means the chain is verified unless
// ssl_verify_cert is false; the host name only with ssl_verify_identity.
function sslConfig(t: ServerTarget, description: string): mysql.PoolOptions['ssl'] {
  const o = t.options;
  if (![o.ssl_ca, o.ssl_cert, o.ssl_key, o.ssl_verify_cert, o.ssl_verify_identity].some((v) => v !== undefined)) return undefined;
  const ca = readTlsFile(o.ssl_ca, 'ssl_ca', description);
  return {
    ca,
    cert: readTlsFile(o.ssl_cert, 'ssl_cert', description),
    key: readTlsFile(o.ssl_key, 'ssl_key', description),
    rejectUnauthorized: isTrue(o.ssl_verify_cert) || (ca !== undefined && !isFalse(o.ssl_verify_cert)),
    verifyIdentity: isTrue(o.ssl_verify_identity),
  };
}

function isConnectionLost(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return ['PROTOCOL_CONNECTION_LOST', 'ER_CONNECTION_KILLED', 'ECONNRESET', 'EPIPE'].includes(String(e?.code)) ||
    /closed state/i.test(String(e?.message));
}

function session(conn: mysql.PoolConnection, timeoutMs: number): SqlSession {
  // Every statement carries its own deadline; on expiry mysql2 destroys the connection.
  const rows = async (sql: string, values?: unknown[]) => (await conn.query({ sql, values, timeout: timeoutMs }))[0] as Row[];
  const columns = (table: string) =>
    rows(`SELECT COLUMN_NAME AS name, IS_NULLABLE AS nullable FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`, [table]);
  return {
    rows: (sql) => rows(sql),
    quote: (name) => `\`${name.replace(/`/g, '``')}\``,
    tables: async () =>
      (await rows(`SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'`))
        .map((r) => String(r.name)),
    columns: async (table) => (await columns(table)).map((r) => String(r.name)),
    async cookieIdConstraint() {
      const column = (await columns('users')).find((r) => r.name === 'cookie_id');
      const indexes = await rows(`
        SELECT INDEX_NAME AS name, COUNT(*) AS n, MAX(COLUMN_NAME) AS col FROM information_schema.STATISTICS
        WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND NON_UNIQUE = 0 GROUP BY INDEX_NAME`);
      return { notNull: column?.nullable === 'NO', unique: indexes.some((r) => Number(r.n) === 1 && r.col === 'cookie_id') };
    },
  };
}

export function openMysql(t: ServerTarget, timeoutMs: number, description: string): Driver {
  const pool = mysql.createPool({
    host: t.host,
    port: t.port,
    socketPath: t.options.unix_socket,
    user: t.user,
    password: t.password,
    database: t.database,
    charset: t.options.charset,
    ssl: sslConfig(t, description),
    connectionLimit: 1,
    maxIdle: 1,
    idleTimeout: 60_000,
    connectTimeout: timeoutMs,
    enableKeepAlive: true,
    // The hub's naive UTC datetimes stay text rather than being read as local time.
    dateStrings: true,
    supportBigNumbers: true,
  });

  async function attempt(): Promise<HubSnapshot> {
    const conn = await pool.getConnection();
    try {
      // The server gives up waiting for a table lock too, rather than holding a request after the client left.
      await conn.query({ sql: `SET SESSION lock_wait_timeout = ${Math.max(1, Math.ceil(timeoutMs / 1000))}`, timeout: timeoutMs });
      await conn.query({ sql: 'START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY', timeout: timeoutMs });
      const snapshot = await readSnapshot(session(conn, timeoutMs), Date.now());
      await conn.query({ sql: 'COMMIT', timeout: timeoutMs });
      conn.release();
      return snapshot;
    } catch (err) {
      // After an error the connection's state is unknown (maybe mid-query): throw it away rather than reuse it.
      conn.destroy();
      throw err;
    }
  }

  return { read: () => retryLostConnection(attempt, isConnectionLost, description), close: () => pool.end() };
}
