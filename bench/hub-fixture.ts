// A JupyterHub-shaped world for the benchmark: the hub's database, cookie secret and login cookies come from the
// test harness (test/helpers/hub-db.ts, secret.ts); what is the benchmark's own is the cookies a browser sends to
// a user server.
import type { HubUserRow } from '../test/helpers/hub-db.js';

/** A user of the benchmark's hub: u0…u<count-1>, ids from 1. */
export type BenchUser = HubUserRow;

/** The Cookie header a browser sends to /user/<name>/…: the server's own cookies plus hub-guard's session. */
export function browserCookies(user: BenchUser, session: string): string {
  const xsrf = `2|${user.cookieId.slice(0, 8)}|${user.cookieId}|1700000000`;
  return `_xsrf=${xsrf}; jupyterhub-session-id=${user.cookieId}; jupyterhub-user-${user.name}=${'x'.repeat(120)}; hub-guard-session=${session}`;
}
