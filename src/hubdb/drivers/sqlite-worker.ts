// Runs in a worker thread: better-sqlite3 is synchronous, and a hub DB on a slow or hung volume (NFS PVC)
// must never stall the proxy's event loop. The parent enforces the deadline (see sqlite.ts).
import { existsSync, statSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { snapshotDigest } from '../digest.js';
import { readSnapshot } from '../read.js';
import type { Row, SqlSession } from '../session.js';
import type { HubSnapshot } from '../snapshot.js';

export interface SqliteWorkerData {
  file: string;
  busyTimeoutMs: number;
  /** The longest a change probe is trusted before the whole database is read anyway. */
  fullReadEveryMs: number;
}
/** ifChanged: answer null instead of a snapshot when the content is what the parent last received. */
export interface SqliteWorkerRequest { id: number; ifChanged: boolean }
export type SqliteWorkerReply =
  | { id: number; ok: true; snapshot: HubSnapshot | null; fullRead: boolean }
  | { id: number; ok: false; message: string; code: string };

const { file, busyTimeoutMs, fullReadEveryMs } = workerData as SqliteWorkerData;
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

/**
 * The change probe: a connection kept open only to ask PRAGMA data_version, which changes whenever another
 * connection commits. It runs no transaction between probes, so it never holds a lock the hub could wait for.
 * It follows one inode; a file replaced under it gets a new probe.
 */
let probe: { db: Database.Database; ino: bigint; generation: number } | null = null;
let generations = 0;

function closeProbe(): void {
  try {
    probe?.db.close();
  } catch {
    // nothing to save: the next probe opens a fresh connection
  }
  probe = null;
}

interface Look { identity: string; version: string }

/**
 * How the database looks right now, cheaply, or null when that cannot be told (missing, unreadable, not a
 * database): then only a full read can say what is wrong. The file's own identity catches what SQLite's
 * locks do not see: a file renamed over it, copied over it in place, or truncated; the -wal file's catches
 * commits not yet checkpointed.
 */
function look(): Look | null {
  try {
    const s = statSync(file, { bigint: true, throwIfNoEntry: false });
    // Not there, or not a plain file (a FIFO would block the probe's open as well as the read's).
    if (!s?.isFile()) {
      closeProbe();
      return null;
    }
    if (probe && probe.ino !== s.ino) closeProbe();
    probe ??= { db: new Database(file, { readonly: true, fileMustExist: true, timeout: busyTimeoutMs }), ino: s.ino, generation: ++generations };
    // A data_version means something only to the connection that gave it, hence the generation.
    const version = `${probe.generation}:${String(probe.db.pragma('data_version', { simple: true }))}`;
    const wal = statSync(`${file}-wal`, { bigint: true, throwIfNoEntry: false });
    const identity = [s.dev, s.ino, s.size, s.mtimeNs, s.ctimeNs, wal?.ino, wal?.size, wal?.mtimeNs, wal?.ctimeNs].join(':');
    return { identity, version };
  } catch (err) {
    closeProbe();
    // A writer holding the lock would make the full read wait just as long: report it now, as a read would.
    if (/^SQLITE_BUSY/.test(String((err as { code?: unknown }).code))) throw err;
    return null;
  }
}

/** Digest of the last snapshot the parent received, and how the database looked just before it was read. */
let sent: string | null = null;
let seen: (Look & { at: number }) | null = null;

async function serve(ifChanged: boolean): Promise<{ snapshot: HubSnapshot | null; fullRead: boolean }> {
  const now = Date.now();
  const current = look();
  if (ifChanged && sent !== null && current && seen && current.identity === seen.identity && current.version === seen.version && now - seen.at < fullReadEveryMs) {
    return { snapshot: null, fullRead: false };
  }
  // Looked at before reading: a commit landing during the read shows up as a change at the next probe.
  seen = null;
  const snapshot = await read();
  seen = current && { ...current, at: now };
  const digest = snapshotDigest(snapshot);
  // Something was written, but nothing this reader reports changed (last_activity, a new server, a token used).
  if (ifChanged && digest === sent) return { snapshot: null, fullRead: true };
  sent = digest;
  return { snapshot, fullRead: true };
}

parentPort?.on('message', async ({ id, ifChanged }: SqliteWorkerRequest) => {
  let reply: SqliteWorkerReply;
  try {
    reply = { id, ok: true, ...(await serve(ifChanged)) };
  } catch (err) {
    // After a failure the parent is owed a whole snapshot again.
    sent = null;
    seen = null;
    const e = err as { message?: unknown; code?: unknown };
    reply = { id, ok: false, message: String(e?.message ?? err), code: typeof e?.code === 'string' ? e.code : 'EHUBDB' };
  }
  parentPort?.postMessage(reply);
});
