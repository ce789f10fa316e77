// Runs in a worker thread: SQLite's backup and quick_check are synchronous native calls, and a hub DB on a slow
// volume must never stall the proxy's event loop. One job per thread; the thread ends when it has answered.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

export type BackupJob =
  | { action: 'backup'; source: string; target: string; busyTimeoutMs: number }
  | { action: 'verify'; file: string };

export interface Verification {
  ok: boolean;
  /** What is wrong, when not ok: quick_check's complaint or why the file could not be read. */
  problem: string | null;
  users: number | null;
  alembicVersion: string | null;
}

export type BackupReply = { ok: true; verification: Verification } | { ok: false; message: string; code: string };

/** Opens the copy read-only, as a restore would use it, and checks pages, indexes and the hub's tables. */
function verify(file: string): Verification {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (e) {
    return { ok: false, problem: `cannot open it: ${(e as Error).message}`, users: null, alembicVersion: null };
  }
  try {
    const check = db.prepare('PRAGMA quick_check').pluck().all().map(String);
    if (check.length !== 1 || check[0] !== 'ok') return { ok: false, problem: check.slice(0, 3).join('; '), users: null, alembicVersion: null };
    const tables = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all().map(String));
    if (!tables.has('users')) return { ok: false, problem: 'it has no users table, so it is not a JupyterHub database', users: null, alembicVersion: null };
    const users = Number(db.prepare('SELECT COUNT(*) FROM users').pluck().get());
    const alembicVersion = tables.has('alembic_version') ? (db.prepare('SELECT version_num FROM alembic_version').pluck().get() as string | undefined) ?? null : null;
    return { ok: true, problem: null, users, alembicVersion };
  } catch (e) {
    // Some damage (a bad page header) makes quick_check throw instead of listing problems.
    return { ok: false, problem: (e as Error).message, users: null, alembicVersion: null };
  } finally {
    db.close();
  }
}

async function backup(source: string, target: string, busyTimeoutMs: number): Promise<Verification> {
  const db = new Database(source, { readonly: true, fileMustExist: true, timeout: busyTimeoutMs });
  try {
    // All remaining pages in one step after the first: a copy of one moment, not restarted by the hub's writes.
    await db.backup(target, { progress: () => 0x7fffffff });
  } finally {
    db.close();
  }
  return verify(target);
}

async function run(job: BackupJob): Promise<BackupReply> {
  try {
    const verification = job.action === 'backup' ? await backup(job.source, job.target, job.busyTimeoutMs) : verify(job.file);
    return { ok: true, verification };
  } catch (e) {
    const err = e as { message?: unknown; code?: unknown };
    return { ok: false, message: String(err?.message ?? e), code: typeof err?.code === 'string' ? err.code : 'EBACKUP' };
  }
}

if (parentPort) {
  const port = parentPort;
  void run(workerData as BackupJob).then((reply) => port.postMessage(reply));
}
