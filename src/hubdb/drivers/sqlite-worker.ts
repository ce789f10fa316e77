// Runs in a worker thread: better-sqlite3 is synchronous, and a hub DB on a slow or hung volume (NFS PVC)
// must never stall the proxy's event loop. The parent enforces the deadline (see sqlite.ts).
import { existsSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { readSnapshot, type Row, type SqlSession } from '../read.js';
import type { HubSnapshot } from '../snapshot.js';

export interface SqliteWorkerData { file: string; busyTimeoutMs: number }
export type SqliteWorkerReply =
  | { id: number; ok: true; snapshot: HubSnapshot }
  | { id: number; ok: false; message: string; code: string };

const { file, busyTimeoutMs } = workerData as SqliteWorkerData;
const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

function session(db: Database.Database): SqlSession {
  const all = (sql: string) => db.prepare(sql).all() as Row[];
  return {
    rows: async (sql) => all(sql),
    quote,
    tables: async () => all(`SELECT name FROM sqlite_master WHERE type = 'table'`).map((r) => String(r.name)),
    columns: async (table) => all(`PRAGMA table_info(${quote(table)})`).map((r) => String(r.name)),
    async cookieIdConstraint() {
      const column = all(`PRAGMA table_info("users")`).find((r) => r.name === 'cookie_id');
      // An index counts only if it is unique, not partial, and on cookie_id alone (UNIQUE constraints show up here too).
      const indexColumns = (index: unknown) => all(`PRAGMA index_info(${quote(String(index))})`).map((c) => c.name);
      const unique = all(`PRAGMA index_list("users")`).some(
        (idx) => idx.unique === 1 && idx.partial === 0 && indexColumns(idx.name).join() === 'cookie_id',
      );
      return { notNull: column?.notnull === 1, unique };
    },
    async integrity() {
      try {
        return all('PRAGMA quick_check(10)').map((r) => String(Object.values(r)[0])).join('; ');
      } catch (err) {
        // Some damage (a bad page header) makes quick_check fail outright instead of listing problems.
        if (/^SQLITE_(CORRUPT|NOTADB)/.test(String((err as { code?: unknown }).code))) return (err as Error).message;
        throw err;
      }
    },
  };
}

async function read(): Promise<HubSnapshot> {
  let db: Database.Database;
  try {
    // Opened anew for every read, so a file that was replaced, renamed over or truncated is always the one read.
    db = new Database(file, { readonly: true, fileMustExist: true, timeout: busyTimeoutMs });
  } catch (err) {
    if (!existsSync(file)) throw Object.assign(new Error('no such file (the hub has not created it yet, or it was removed)'), { code: 'ENOENT' });
    throw err;
  }
  try {
    // One read transaction for a consistent picture; closing the connection ends it.
    db.exec('BEGIN');
    return await readSnapshot(session(db), Date.now());
  } finally {
    db.close();
  }
}

parentPort?.on('message', async ({ id }: { id: number }) => {
  let reply: SqliteWorkerReply;
  try {
    reply = { id, ok: true, snapshot: await read() };
  } catch (err) {
    const e = err as { message?: unknown; code?: unknown };
    reply = { id, ok: false, message: String(e?.message ?? err), code: typeof e?.code === 'string' ? e.code : 'EHUBDB' };
  }
  parentPort?.postMessage(reply);
});
