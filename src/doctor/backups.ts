// Verified copies of a sqlite hub database: taken with SQLite's online backup API (consistent while the hub keeps
// writing), re-opened read-only and quick_checked, and only then renamed into place, so a file that carries a
// backup's name is always one that passed its check. The watchdog keeps the last N while the database is healthy;
// doctor --apply takes one before it writes.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BackupJob, BackupReply, Verification } from './backup-worker.js';

export type { Verification } from './backup-worker.js';

export interface BackupInfo {
  /** Absolute path. */
  file: string;
  name: string;
  /** The database file's name without extension: backups of several databases can share a directory. */
  stem: string;
  /** ISO 8601 UTC, from the name. */
  takenAt: string;
  bytes: number;
}

export interface VerifiedBackup extends BackupInfo {
  users: number | null;
  alembicVersion: string | null;
}

/** <stem>-<YYYYMMDDThhmmssSSS>Z.sqlite: sorts by time, and the time survives copying the file elsewhere. */
const NAME = /^(.+)-(\d{8}T\d{9}Z)\.sqlite$/;
const TEMP = /^\..+\.tmp$/;
/** Half-written copies older than this are leftovers of a crash, not a backup in progress. */
const STALE_TEMP_MS = 3_600_000;

export function backupStem(dbFile: string): string {
  const base = basename(dbFile);
  return extname(base) ? base.slice(0, -extname(base).length) : base;
}

function stamp(at: Date): string {
  return at.toISOString().replace(/[-:.]/g, '');
}

function parseStamp(s: string): string {
  return `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}.${s.slice(15, 18)}Z`;
}

function runJob(job: BackupJob): Promise<BackupReply> {
  return new Promise((resolve, reject) => {
    // Never terminated: better-sqlite3 aborts the process when a thread is stopped inside SQLite. A copy stuck in
    // a hung file system simply never answers, and maybeBackup starts no other meanwhile.
    const w = new Worker(new URL('./backup-worker.js', import.meta.url), { workerData: job });
    w.unref();
    let answered = false;
    w.once('message', (reply: BackupReply) => {
      answered = true;
      resolve(reply);
    });
    w.once('error', reject);
    w.once('exit', (code) => {
      if (!answered) reject(new Error(`the backup thread stopped without answering (exit code ${code})`));
    });
  });
}

function fsyncPath(path: string, flags: string): void {
  const fd = openSync(path, flags);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Re-opens a backup read-only and runs PRAGMA quick_check on it, plus a look at the hub's tables. */
export async function verifyBackup(file: string): Promise<Verification> {
  const reply = await runJob({ action: 'verify', file });
  if (!reply.ok) return { ok: false, problem: reply.message, users: null, alembicVersion: null };
  return reply.verification;
}

/**
 * Copies `dbFile` into `dir` (created if missing, mode 0700) and returns the verified backup. Rejects, leaving no
 * file behind, when the source cannot be read, the copy fails its check, or the directory is not writable.
 */
export async function takeVerifiedBackup(dbFile: string, dir: string, at = new Date(), busyTimeoutMs = 5000): Promise<VerifiedBackup> {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new Error(`cannot create the backup directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const name = `${backupStem(dbFile)}-${stamp(at)}.sqlite`;
  const final = join(dir, name);
  const temp = join(dir, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const cleanup = () => {
    try {
      unlinkSync(temp);
    } catch {
      // never written, or already gone
    }
  };
  let reply: BackupReply;
  try {
    // Created empty and owner-only before SQLite writes into it (an empty file is an empty database to SQLite).
    closeSync(openSync(temp, 'wx', 0o600));
    reply = await runJob({ action: 'backup', source: dbFile, target: temp, busyTimeoutMs });
  } catch (e) {
    cleanup();
    throw new Error(`backup of ${dbFile} failed: ${(e as Error).message}`);
  }
  if (!reply.ok) {
    cleanup();
    throw new Error(`backup of ${dbFile} failed: ${reply.message}`);
  }
  if (!reply.verification.ok) {
    cleanup();
    throw new Error(`the copy of ${dbFile} failed its check (${reply.verification.problem}); nothing was kept`);
  }
  try {
    fsyncPath(temp, 'r');
    renameSync(temp, final);
    fsyncPath(dir, 'r');
  } catch (e) {
    cleanup();
    throw new Error(`cannot store the backup in ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return {
    file: final, name, stem: backupStem(dbFile), takenAt: at.toISOString(), bytes: statSync(final).size,
    users: reply.verification.users, alembicVersion: reply.verification.alembicVersion,
  };
}

/** The backups in `dir`, newest first; an optional stem narrows them to one database's. A missing dir has none. */
export function listBackups(dir: string, stem?: string): BackupInfo[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`cannot read the backup directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const out: BackupInfo[] = [];
  for (const name of names) {
    const m = NAME.exec(name);
    if (!m || (stem !== undefined && m[1] !== stem)) continue;
    const file = join(dir, name);
    try {
      const st = statSync(file);
      if (st.isFile()) out.push({ file, name, stem: m[1], takenAt: parseStamp(m[2]), bytes: st.size });
    } catch {
      // removed while listing
    }
  }
  return out.sort((a, b) => b.takenAt.localeCompare(a.takenAt) || b.name.localeCompare(a.name));
}

/** Deletes all but the newest `keep` backups of `stem`, and crash leftovers; returns the names removed. */
export function pruneBackups(dir: string, stem: string, keep: number, now = Date.now()): string[] {
  const removed: string[] = [];
  for (const b of listBackups(dir, stem).slice(Math.max(1, keep))) {
    try {
      unlinkSync(b.file);
      removed.push(b.name);
    } catch {
      // already gone
    }
  }
  for (const name of readdirSync(dir)) {
    if (!TEMP.test(name) || !name.startsWith(`.${stem}-`)) continue;
    try {
      if (now - statSync(join(dir, name)).mtimeMs > STALE_TEMP_MS) {
        unlinkSync(join(dir, name));
        removed.push(name);
      }
    } catch {
      // already gone
    }
  }
  return removed;
}

const inflight = new Set<string>();

/**
 * For the watchdog, after a check that found the database healthy (never call it otherwise: a backup of a wiped
 * database would push the good ones out). Takes a verified backup when the newest one in `dir` is at least
 * `minIntervalMs` old, then keeps the newest `keep`. Resolves to the new backup, or null when none was due or one
 * is still being taken. Rejects with a message naming the file and directory (never a secret).
 */
export async function maybeBackup(dbFile: string, dir: string, keep: number, minIntervalMs: number, now = Date.now()): Promise<VerifiedBackup | null> {
  const key = join(dir, backupStem(dbFile));
  if (inflight.has(key)) return null;
  const newest = listBackups(dir, backupStem(dbFile))[0];
  if (newest && now - Date.parse(newest.takenAt) < minIntervalMs) return null;
  inflight.add(key);
  try {
    const taken = await takeVerifiedBackup(dbFile, dir, new Date(now));
    pruneBackups(dir, taken.stem, keep, now);
    return taken;
  } finally {
    inflight.delete(key);
  }
}
