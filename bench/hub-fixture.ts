// A JupyterHub-shaped world for the benchmark: the hub's sqlite database (schema by the real JupyterHub ORM) with
// N users, its cookie secret, and the hub's login cookie for each user.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createSignedValue } from '../src/identity/tornado.js';

export interface BenchUser { id: number; name: string; cookieId: string }

/** The hub's schema made by JupyterHub 3.0 itself, then `count` users u0…u<count-1> in one transaction. */
export function createHubDb(file: string, count: number): BenchUser[] {
  execFileSync('/usr/bin/python3', ['-c', 'import sys, logging; logging.disable(logging.INFO); from jupyterhub import orm; orm.new_session_factory(sys.argv[1])', `sqlite:///${file}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  const users = Array.from({ length: count }, (_, i) => ({ id: i + 1, name: `u${i}`, cookieId: randomBytes(16).toString('hex') }));
  const db = new Database(file);
  try {
    const insert = db.prepare("INSERT INTO users (id, name, admin, created, cookie_id) VALUES (?, ?, 0, '2024-05-06 07:08:09', ?)");
    db.transaction(() => { for (const u of users) insert.run(u.id, u.name, u.cookieId); })();
  } finally {
    db.close();
  }
  return users;
}

/** A cookie secret file as the hub writes it: hex, readable by its owner only (hub-guard refuses others). */
export function writeCookieSecret(dir: string): { file: string; secret: Buffer } {
  const file = join(dir, 'jupyterhub_cookie_secret');
  const secret = randomBytes(32);
  writeFileSync(file, secret.toString('hex') + '\n', { mode: 0o600 });
  return { file, secret };
}

const HUB_LOGIN = 'jupyterhub-hub-login';

/** The Cookie header a browser sends to /hub/… after logging in: the hub's signed login cookie for this user. */
export function hubLoginCookie(secret: Buffer, user: BenchUser): string {
  return `${HUB_LOGIN}="${createSignedValue(secret, HUB_LOGIN, user.cookieId, Date.now() / 1000)}"`;
}

/** The Cookie header a browser sends to /user/<name>/…: the server's own cookies plus hub-guard's session. */
export function browserCookies(user: BenchUser, session: string): string {
  const xsrf = `2|${user.cookieId.slice(0, 8)}|${user.cookieId}|1700000000`;
  return `_xsrf=${xsrf}; jupyterhub-session-id=${user.cookieId}; jupyterhub-user-${user.name}=${'x'.repeat(120)}; hub-guard-session=${session}`;
}
