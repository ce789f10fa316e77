// What the operators did to the hub's sqlite file in the outage, done with better-sqlite3 so the tests need no
// sqlite3 command line tool: an empty database written over the live file (`sqlite3 old.sqlite '.save …'`, then
// `cp empty.sqlite jupyterhub.sqlite`), and a users table rebuilt by hand without the constraints on cookie_id.
import { copyFileSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';

export interface UserRow {
  id: number;
  name: string;
  cookie_id: string | null;
}

/**
 * Writes an empty sqlite database to `path`: a valid 4096-byte file without tables, what `sqlite3`'s `.save`
 * writes for a database that holds nothing.
 */
export function writeEmptyDatabase(path: string): void {
  rmSync(path, { force: true });
  const db = new Database(path);
  try {
    db.exec('VACUUM');
  } finally {
    db.close();
  }
}

/**
 * Copies `from` over `to` as `cp` does: the existing file is truncated and rewritten in place (same inode), so a
 * hub holding it open reads the new content on its next transaction.
 */
export function overwriteFile(from: string, to: string): void {
  copyFileSync(from, to);
}

/** A consistent copy of a database another process may be writing (sqlite's online backup). */
export async function backupDatabase(path: string, to: string): Promise<void> {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    await db.backup(to);
  } finally {
    db.close();
  }
}

/** The users table, or null when the file has none (an empty or wiped database). */
export function readUsers(path: string): UserRow[] | null {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'users'").get();
    if (!table) return null;
    return db.prepare('SELECT id, name, cookie_id FROM users ORDER BY id').all() as UserRow[];
  } finally {
    db.close();
  }
}

/**
 * Rebuilds `users` the way the operators did (jupyterhub-facts §2.1): a new table whose cookie_id has neither
 * NOT NULL nor UNIQUE, every row copied with its id, and cookie_id '' for everyone. The hub must not be running.
 */
export function rebuildUsersWithEmptyCookieIds(path: string): void {
  const db = new Database(path, { fileMustExist: true });
  try {
    const row = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'").get() as { sql: string } | undefined;
    if (!row) throw new Error(`${path} has no users table to rebuild`);
    const createNew = row.sql
      .replace(/^CREATE TABLE\s+"?users"?/i, 'CREATE TABLE users_rebuilt')
      .replace(/(\bcookie_id\s+VARCHAR\(\d+\))\s+NOT NULL/i, '$1')
      .replace(/,\s*CONSTRAINT\s+\w+\s+UNIQUE\s*\(\s*cookie_id\s*\)/i, '');
    if (createNew === row.sql || /UNIQUE\s*\(\s*cookie_id\s*\)|cookie_id\s+VARCHAR\(\d+\)\s+NOT NULL/i.test(createNew)) {
      throw new Error(`unexpected users schema, cannot drop the cookie_id constraints:\n${row.sql}`);
    }
    const columns = (db.prepare('PRAGMA table_info(users)').all() as { name: string }[]).map((c) => c.name);
    const select = columns.map((c) => (c === 'cookie_id' ? "'' AS cookie_id" : `"${c}"`)).join(', ');
    // Dropping `users` with foreign keys on would cascade into spawners, tokens and role maps; the operators'
    // sqlite3 shell had them off, as sqlite does by default.
    db.pragma('foreign_keys = OFF');
    db.transaction(() => {
      db.exec(createNew);
      db.exec(`INSERT INTO users_rebuilt (${columns.map((c) => `"${c}"`).join(', ')}) SELECT ${select} FROM users`);
      db.exec('DROP TABLE users');
      db.exec('ALTER TABLE users_rebuilt RENAME TO users');
    })();
  } finally {
    db.close();
  }
}
