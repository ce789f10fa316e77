// What an operator should do about each finding: the checks say what is wrong, this says what to do next.
import { redactUrl } from '../redact.js';

const ADVICE: Record<string, string> = {
  'tables-missing':
    'Keep the hub stopped (hub-guard holds traffic meanwhile). Restore the latest verified backup (hub-guard backup restore-plan), ' +
    'or, with no backup, start the hub once so it creates its tables and rebuild the users with doctor --pvcs.',
  'alembic-missing':
    'Check that --db points at the hub\'s real database. A wiped or hand-made database looks like this: restore a backup rather than let the hub stamp it.',
  'alembic-unknown':
    'Check the hub version and that "jupyterhub upgrade-db" finished. Doctor leaves ids and renames alone on a schema it does not know.',
  'user-drop':
    'Users vanished. Restore the latest verified backup (hub-guard backup restore-plan); if there is none, re-create them from their volumes with --pvcs.',
  'id-changed':
    'Users were re-created under new ids. The plan gives them their old ids back, moving their spawners, tokens, roles, groups and (5.x) shares along.',
  'cookie-id-null': 'The plan gives each a fresh login id; they log in again.',
  'cookie-id-empty': 'The plan gives each a fresh login id; they log in again. Until then hub-guard refuses the empty one.',
  'cookie-id-malformed': 'The plan gives each a fresh login id of the hub\'s own form; they log in again.',
  'cookie-id-duplicate': 'The plan gives every holder of a shared login id a fresh one; they log in again.',
  'cookie-id-constraint': 'The plan restores the NOT NULL and UNIQUE constraints the hub creates, so this cannot happen again.',
  'lookalike-names': 'See "Lookalike names" below for which row holds the older id and what the plan does about it.',
  integrity:
    'Stop the hub and restore the latest verified backup (hub-guard backup restore-plan). Do not repair a damaged file in place.',
  unreachable: 'Check the URL, the network and the credentials (PGPASSWORD / MYSQL_PWD), then run doctor again.',
  // findings from live traffic, which the watchdog and the proxies raise beside the database checks
  'route-deletions-held':
    'The hub is deleting user routes as a hub on a lost or replaced database does; the routes keep serving meanwhile. Find out why from the other findings and the hub\'s log before clearing maintenance.',
  'cookie-id-unknown-burst':
    'Many valid login cookies name no user: the users table was probably replaced or rebuilt. Compare it with the last verified backup before clearing maintenance.',
  'request-cookie-id-empty': 'A browser carried a login cookie with an empty login id: the users table holds empty ones. The repair plan gives each user a fresh one.',
  'request-cookie-id-malformed': 'A browser carried a login id the hub never makes: the users table was edited by hand. The repair plan gives those users fresh ones.',
  'request-cookie-id-shared': 'A browser carried a login id several users share. The repair plan gives each holder a fresh one.',
  'request-identity-conflict': 'A browser\'s hub-guard session and its hub login named different users: the users table changed under running sessions. Check it with the doctor.',
  'watcher-unseen': 'Check that the hub-guard watch container runs beside the hub and reaches the same Redis with the same --redis-prefix (kubectl logs deploy/hub -c hub-guard-watch).',
};

/** The advice for a check name; checks added later fall back to the doctor's documentation. */
export function adviceFor(check: string): string {
  return Object.hasOwn(ADVICE, check) ? ADVICE[check] : 'See docs/doctor.md.';
}

/** Single-quotes a shell word unless it is plainly safe, so a command can be pasted as shown. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** What the commands are run against; the database URL is shown with its password hidden. */
export interface CommandContext {
  /** The hub's db_url as hub-guard reads it (--hub-db); unknown on a proxy fed by a watcher. */
  db?: string;
  /** --backup-dir, where the watchdog keeps verified copies. */
  backupDir?: string;
}

const RESTORE = new Set(['tables-missing', 'alembic-missing', 'user-drop', 'integrity']);
const REBUILD = new Set(['tables-missing', 'user-drop']);
const PLAN = new Set([
  'id-changed', 'cookie-id-null', 'cookie-id-empty', 'cookie-id-malformed', 'cookie-id-duplicate', 'cookie-id-constraint', 'lookalike-names',
  'request-cookie-id-empty', 'request-cookie-id-malformed', 'request-cookie-id-shared', 'cookie-id-unknown-burst',
]);

/**
 * The commands that go with adviceFor(check), in the order to run them: the doctor's report first, then a restore
 * from the verified backups or the doctor's repair plan. Nothing here writes to the database by itself.
 */
export function commandsFor(check: string, where: CommandContext): string[] {
  const db = where.db ? shellWord(redactUrl(where.db)) : "'<the hub db_url>'";
  const doctor = `hub-guard doctor --db ${db}`;
  const out = [doctor];
  if (RESTORE.has(check) && where.backupDir) {
    const dir = shellWord(where.backupDir);
    out.push(`hub-guard backup list --backup-dir ${dir}`, `hub-guard backup restore-plan --backup-dir ${dir} --db ${db}`);
  }
  if (REBUILD.has(check)) out.push('kubectl get pvc -o json > pvcs.json', `${doctor} --pvcs pvcs.json --sql plan.sql`);
  if (PLAN.has(check)) out.push(`${doctor} --sql plan.sql`);
  return out;
}
