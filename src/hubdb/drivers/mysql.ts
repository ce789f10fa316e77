import type mysql from 'mysql2/promise';
import type { Row, SqlSession } from '../session.js';
import type { ServerTarget } from '../url.js';
import { fingerprinted, retryLostConnection, type Driver, type InTransaction } from './driver.js';
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
  const quote = (name: string) => `\`${name.replace(/`/g, '``')}\``;
  return {
    rows: (sql) => rows(sql),
    async digest(sql, columns) {
      // Each value as the hex of its bytes (NULL apart), each row hashed, the hashes sorted and hashed again.
      const row = columns.map((c) => `COALESCE(HEX(CAST(t.${quote(c)} AS BINARY)), 'NULL')`).join(`, ',', `);
      const [r] = await rows(`
        SELECT n, SHA2(g, 256) AS h, COALESCE(LENGTH(g), 0) AS len
        FROM (SELECT COUNT(*) AS n, GROUP_CONCAT(h ORDER BY h SEPARATOR '') AS g
              FROM (SELECT SHA2(CONCAT(${row}), 256) AS h FROM (${sql}) t) u) v`);
      // GROUP_CONCAT cuts silently at group_concat_max_len or max_allowed_packet: a cut list stands for nothing.
      if (Number(r?.len) !== 64 * Number(r?.n)) return null;
      return `${String(r?.n)}:${String(r?.h)}`;
    },
    quote,
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
  const ssl = sslConfig(t, description);
  // mysql2 is loaded only for a MySQL hub: most hubs run sqlite, and the library costs memory
  const ready = import('mysql2/promise').then(({ default: lib }) => lib.createPool({
    host: t.host,
    port: t.port,
    socketPath: t.options.unix_socket,
    user: t.user,
    password: t.password,
    database: t.database,
    charset: t.options.charset,
    ssl,
    connectionLimit: 1,
    maxIdle: 1,
    idleTimeout: 60_000,
    connectTimeout: timeoutMs,
    enableKeepAlive: true,
    // The hub's naive UTC datetimes stay text rather than being read as local time.
    dateStrings: true,
    supportBigNumbers: true,
  }));

  const inTransaction: InTransaction = async (body) => {
    const conn = await (await ready).getConnection();
    try {
      // The server gives up waiting for a table lock too, rather than holding a request after the client left.
      // GROUP_CONCAT's default limit (1 KiB on MySQL) would cut every fingerprint of more than 16 rows.
      await conn.query({
        sql: `SET SESSION lock_wait_timeout = ${Math.max(1, Math.ceil(timeoutMs / 1000))}, SESSION group_concat_max_len = 4294967295`,
        timeout: timeoutMs,
      });
      await conn.query({ sql: 'START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY', timeout: timeoutMs });
      const result = await body(session(conn, timeoutMs));
      await conn.query({ sql: 'COMMIT', timeout: timeoutMs });
      conn.release();
      return result;
    } catch (err) {
      // After an error the connection's state is unknown (maybe mid-query): throw it away rather than reuse it.
      conn.destroy();
      throw err;
    }
  };

  return fingerprinted((body) => retryLostConnection(() => inTransaction(body), isConnectionLost, description), async () => (await ready).end());
}
