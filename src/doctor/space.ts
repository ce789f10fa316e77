// Room for a backup on the volume it usually shares with the hub's own database (zero-to-jupyterhub gives the hub
// one 1Gi volume for both). A hub that cannot extend its database file or write its rollback journal fails logins
// and spawns, so a backup that fills the disk does more harm than a missing one: every copy is planned against the
// free space and a budget before a byte of it is written.
import { statfs } from 'node:fs/promises';
import { formatBytes, type Size } from '../config.js';

export interface Room {
  /** Bytes the file system holds. */
  size: number;
  /** Bytes an unprivileged process can still write there. */
  free: number;
}

/** What the file system holding `dir` has. A parameter, so tests can play a small volume without root. */
export type SpaceProbe = (dir: string) => Promise<Room>;

export const statfsRoom: SpaceProbe = async (dir) => {
  const s = await statfs(dir);
  // bavail, not bfree: the hub runs unprivileged, and the blocks ext4 keeps for root are no room it can use
  return { size: s.blocks * s.bsize, free: s.bavail * s.bsize };
};

export const MIN_RESERVE = 256 * 1024 ** 2;

/**
 * The free space kept for the hub when --backup-min-free is not given. SQLite's rollback journal holds the original
 * of every page a transaction changes, and a VACUUM or an alembic upgrade that rebuilds a table (batch mode, the way
 * alembic alters tables on sqlite) writes another whole copy beside it: twice the database covers the most the hub
 * writes at once, and a restore that copies a backup next to the database fits in it too. The floor keeps a small
 * database room to grow between two copies, and an operator room to work on the volume.
 */
export function defaultReserve(dbBytes: number): number {
  return Math.max(MIN_RESERVE, 2 * dbBytes);
}

export function resolveSize(size: Size, room: Room): number {
  return 'bytes' in size ? size.bytes : Math.floor((room.size * size.percent) / 100);
}

export type SkipReason = 'free-space' | 'budget';

export interface Limits {
  /** Undefined: defaultReserve() of the copy's size. */
  minFree?: Size;
  maxBytes: Size;
}

export type CopyPlan<T> =
  | { ok: true; remove: T[]; budget: number; reserve: number }
  | { ok: false; reason: SkipReason; message: string; budget: number; reserve: number };

/**
 * Whether a copy of about `estimate` bytes may be written beside `existing` (this database's backups, newest first),
 * and which of those go before it is written.
 *
 * The budget counts the copy being written, so the older copies it displaces are deleted before writing, not after:
 * deleting them afterwards would have the volume hold all of them and the new one at once, the very peak the budget
 * is there to bound. The newest copy is never among them. The new copy may still fail its check, and a copy that
 * fails its check just after the watchdog read the database as healthy is the first sign of damage the read did not
 * reach: that is when the last good copy matters most. So the newest goes only in the prune after its successor has
 * passed and has its name. The price: a budget must hold two copies for copies to keep coming; one that holds only
 * one keeps it, and each newer copy is skipped and reported until the budget is raised.
 */
export function planCopy<T extends { bytes: number }>(estimate: number, existing: readonly T[], room: Room, limits: Limits): CopyPlan<T> {
  const budget = resolveSize(limits.maxBytes, room);
  const reserve = limits.minFree ? resolveSize(limits.minFree, room) : defaultReserve(estimate);
  const skip = (reason: SkipReason, message: string): CopyPlan<T> => ({ ok: false, reason, message, budget, reserve });
  const copy = `a copy of the hub database (${formatBytes(estimate)})`;
  if (estimate > budget) return skip('budget', `${copy} is larger than the budget for its backups (${formatBytes(budget)}, --backup-max-bytes)`);
  const [newest, ...older] = existing;
  let kept = newest?.bytes ?? 0;
  if (newest && kept + estimate > budget) {
    return skip('budget', `${copy} and the newest backup (${formatBytes(newest.bytes)}) do not fit the budget together (${formatBytes(budget)}, ` +
      `--backup-max-bytes), and the newest is never deleted before a newer one has passed its check; raise --backup-max-bytes to at least ${formatBytes(kept + estimate)}`);
  }
  // a run of the newest, so what is kept is always the last stretch of history without gaps
  let cut = older.findIndex((b) => {
    if (kept + b.bytes + estimate > budget) return true;
    kept += b.bytes;
    return false;
  });
  if (cut === -1) cut = older.length;
  const remove = older.slice(cut);
  const left = room.free + remove.reduce((sum, b) => sum + b.bytes, 0) - estimate;
  if (left < reserve) {
    return skip('free-space', `${copy} would leave ${formatBytes(Math.max(0, left))} free on the file system of the backup directory, less than the ` +
      `${formatBytes(reserve)} kept for the hub (--backup-min-free)`);
  }
  return { ok: true, remove, budget, reserve };
}
