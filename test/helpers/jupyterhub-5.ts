// The hub database a real JupyterHub 5.5.1 wrote (../shared/fixtures beside the checkout; its README says who may
// open whose server), copied for each test: the original is read-only.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ROOT } from './guard.js';

const FIXTURES = join(ROOT, '..', 'shared', 'fixtures');
export const SHARING_DB = join(FIXTURES, 'jupyterhub-5.5.1-sharing.sqlite');
export const SHARING_SECRET_FILE = join(FIXTURES, 'jupyterhub-5.5.1-sharing.cookie_secret');

/** The fixture's cookie secret, as the hub loads it (hex). */
export function sharingSecret(): Buffer {
  return Buffer.from(readFileSync(SHARING_SECRET_FILE, 'utf8').trim(), 'hex');
}

/**
 * A writable copy of the 5.5.1 database in `dir`, its cookie secret beside it (mode 0600: hub-guard, like the hub,
 * refuses a secret others may read, and the original is world-readable), and its users' ids and cookie_ids by name.
 */
export function copySharingDb(dir: string): { file: string; secretFile: string; users: Map<string, { id: number; cookieId: string }> } {
  const file = join(dir, 'jupyterhub.sqlite');
  copyFileSync(SHARING_DB, file);
  const secretFile = join(dir, 'jupyterhub_cookie_secret');
  writeFileSync(secretFile, readFileSync(SHARING_SECRET_FILE), { mode: 0o600 });
  const db = new Database(file, { readonly: true });
  try {
    const rows = db.prepare('SELECT id, name, cookie_id FROM users').all() as Array<{ id: number; name: string; cookie_id: string }>;
    return { file, secretFile, users: new Map(rows.map((r) => [r.name, { id: r.id, cookieId: r.cookie_id }])) };
  } finally {
    db.close();
  }
}
