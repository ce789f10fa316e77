// What an operator should do about each finding: the checks say what is wrong, this says what to do next.
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
};

/** The advice for a check name; checks added later fall back to the doctor's documentation. */
export function adviceFor(check: string): string {
  return Object.hasOwn(ADVICE, check) ? ADVICE[check] : 'See docs/doctor.md.';
}
