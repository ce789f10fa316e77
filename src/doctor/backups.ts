// Verified copies of a sqlite hub database: taken with SQLite's online backup API (consistent while the hub keeps
// writing), re-opened read-only and quick_checked, and only then renamed into place, so a file that carries a
// backup's name is always one that passed its check. The watchdog keeps the last N while the database is healthy;
// doctor --apply takes one before it writes. No copy is started that would leave the hub short of disk (space.ts).
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { formatBytes, type Size } from '../config.js';
import { metrics } from '../metrics.js';
import type { BackupJob, BackupReply, Verification } from './backup-worker.js';
import { planCopy, statfsRoom, type SkipReason, type SpaceProbe } from './space.js';

export type { Verification } from './backup-worker.js';
export type { SkipReason, SpaceProbe } from './space.js';

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

function makeBackupDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new Error(`cannot create the backup directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * About how large a copy of `dbFile` will be. The online backup copies the database as a reader sees it, so pages
 * still in a write-ahead log are in the copy too: the log's size is added, which errs on the side of more.
 */
export function copySize(dbFile: string): number {
  let bytes = statSync(dbFile).size;
  try {
    bytes += statSync(`${dbFile}-wal`).size;
  } catch {
    // no write-ahead log: the hub's default rollback journal holds nothing a reader sees
  }
  return bytes;
}

/**
 * Rejects unless a copy of `dbFile` in `dir` would leave `minFree` (default: defaultReserve()) free there. For
 * doctor --apply, which keeps its one copy apart from the watchdog's rotation and so has no budget to keep.
 */
export async function ensureRoom(dbFile: string, dir: string, opts: { minFree?: Size; space?: SpaceProbe } = {}): Promise<void> {
  makeBackupDir(dir);
  const estimate = copySize(dbFile);
  const room = await (opts.space ?? statfsRoom)(dir);
  // the watchdog's rule for free space, without a budget: this copy is not one of its rotation
  const plan = planCopy(estimate, [], room, { minFree: opts.minFree, maxBytes: { bytes: Infinity } });
  if (!plan.ok) {
    throw new Error(`not enough free space in ${dir}: a copy of ${formatBytes(estimate)} would leave ${formatBytes(Math.max(0, room.free - estimate))}, ` +
      `less than the ${formatBytes(plan.reserve)} kept for the hub; choose a directory on another volume`);
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
  makeBackupDir(dir);
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

function remove(backups: readonly BackupInfo[]): string[] {
  const removed: string[] = [];
  for (const b of backups) {
    try {
      unlinkSync(b.file);
      removed.push(b.name);
    } catch {
      // already gone
    }
  }
  return removed;
}

/**
 * Deletes all but the newest `keep` backups of `stem`, and older ones beyond `maxBytes` together, and crash
 * leftovers; returns the names removed. The newest always stays.
 */
export function pruneBackups(dir: string, stem: string, keep: number, now = Date.now(), maxBytes = Infinity): string[] {
  const all = listBackups(dir, stem);
  let total = 0;
  let cut = all.findIndex((b, i) => {
    total += b.bytes;
    return i >= Math.max(1, keep) || (i > 0 && total > maxBytes);
  });
  if (cut === -1) cut = all.length;
  const removed = remove(all.slice(cut));
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

/** What the watchdog asks for: where, how many, how often, and how much disk the copies may take. */
export interface BackupPolicy {
  dir: string;
  keep: number;
  intervalMs: number;
  /** Free space a copy must leave on the file system of `dir`; undefined: defaultReserve() of the copy's size. */
  minFree?: Size;
  /** All backups of the database together, the one being written included. */
  maxBytes: Size;
  space?: SpaceProbe;
}

export type BackupOutcome =
  | { status: 'taken'; backup: VerifiedBackup; removed: string[] }
  | { status: 'skipped'; reason: SkipReason; message: string; removed: string[] };

const inflight = new Set<string>();
/** When a due copy was last skipped: it is tried again an interval later, as if it had been taken. */
const skippedAt = new Map<string, number>();

/**
 * For the watchdog, after a check that found the database healthy (never call it otherwise: a backup of a wiped
 * database would push the good ones out). Takes a verified backup when the newest one in `dir` (or the last skip) is
 * at least `intervalMs` old and there is room for it (space.ts), then keeps the newest `keep` within the budget.
 * Resolves to what happened, or null when no copy was due or one is still being taken; a skip is counted in
 * hub_guard_backups_skipped_total. Rejects with a message naming the file and directory (never a secret).
 */
export async function maybeBackup(dbFile: string, policy: BackupPolicy, now = Date.now()): Promise<BackupOutcome | null> {
  const { dir, keep } = policy;
  const stem = backupStem(dbFile);
  const key = join(dir, stem);
  if (inflight.has(key)) return null;
  const existing = listBackups(dir, stem);
  const last = Math.max(existing[0] ? Date.parse(existing[0].takenAt) : -Infinity, skippedAt.get(key) ?? -Infinity);
  if (now - last < policy.intervalMs) return null;
  inflight.add(key);
  try {
    makeBackupDir(dir);
    const room = await (policy.space ?? statfsRoom)(dir);
    const plan = planCopy(copySize(dbFile), existing, room, policy);
    if (!plan.ok) {
      skippedAt.set(key, now);
      metrics.backupsSkipped.labels(plan.reason).inc();
      // what is already there still keeps to the limits, which may have been lowered since it was written
      return { status: 'skipped', reason: plan.reason, message: plan.message, removed: pruneBackups(dir, stem, keep, now, plan.budget) };
    }
    const removed = remove(plan.remove);
    const taken = await takeVerifiedBackup(dbFile, dir, new Date(now));
    skippedAt.delete(key);
    // the real size may differ from the estimate (the hub writes on); the newest, now this one, always stays
    removed.push(...pruneBackups(dir, stem, keep, now, plan.budget));
    return { status: 'taken', backup: taken, removed };
  } finally {
    inflight.delete(key);
  }
}
