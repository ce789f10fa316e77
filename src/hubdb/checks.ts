import { isCookieId } from '../jupyterhub/conventions.js';
import { RELEASE_HEADS } from '../jupyterhub/releases.js';
import { recordOf } from '../records.js';
import type { HubSnapshot, HubUser } from './snapshot.js';

export type Severity = 'critical' | 'warning';

export interface Finding {
  /** One of CHECK_NAMES here; the caller may add its own (e.g. unreachable). */
  check: string;
  severity: Severity;
  /** For operators; names users but never holds a cookie_id or any other secret. */
  message: string;
  detail?: Record<string, unknown>;
}

export interface Baseline {
  /** The most users ever seen in a healthy snapshot. */
  highWater: number;
  /**
   * name → id; a name keeps its last known id after the user is deleted. A null-prototype record (it is stored as
   * JSON): `users.constructor` must be undefined for a hub that never had a user called "constructor".
   */
  users: Record<string, number>;
  updatedAt: number;
}

/** A baseline as read back from JSON, with its users in a null-prototype record. */
export function baselineFrom(doc: Baseline): Baseline {
  return { ...doc, users: recordOf(Object.entries(doc.users)) };
}

export interface CheckOptions {
  /** Fraction of highWater that may vanish before 'user-drop' fires; 0.2 by default. */
  maxUserDrop: number;
  /** Known names whose id changed: up to this many is a warning, beyond it critical; 0 by default. */
  maxIdChanges: number;
  knownHeads: string[];
}

/** The alembic head of each JupyterHub release line: 1.x, 2.x, 3.x, 4.x, 5.x, 6.0 beta. */
export const KNOWN_ALEMBIC_HEADS = RELEASE_HEADS.map((r) => r.head);

export const DEFAULT_CHECK_OPTIONS: CheckOptions = { maxUserDrop: 0.2, maxIdChanges: 0, knownHeads: KNOWN_ALEMBIC_HEADS };

/** Tables every JupyterHub from 2.0 on creates; alembic_version has a check of its own. */
export const REQUIRED_TABLES = [
  'api_tokens', 'group_role_map', 'groups', 'oauth_clients', 'oauth_codes', 'roles', 'servers', 'service_role_map',
  'services', 'spawners', 'user_group_map', 'user_role_map', 'users',
];

export const CHECK_NAMES = [
  'tables-missing', 'alembic-missing', 'alembic-unknown', 'user-drop', 'id-changed', 'cookie-id-null', 'cookie-id-empty',
  'cookie-id-malformed', 'cookie-id-duplicate', 'cookie-id-constraint', 'lookalike-names', 'integrity',
] as const;
export type CheckName = (typeof CHECK_NAMES)[number];


/**
 * kubespawner's 2017 name escaping: lowercase, then every char outside [a-z0-9] becomes '-'. Names equal under it
 * shared pod and volume names, and a DB rebuilt from volume names turned john.doe into john-doe.
 */
export function lossySlug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '-');
}

/** "a, b, c and 4 more": enough names for a tired operator to recognise the pattern, never a wall of text. */
function listNames(names: string[], max = 8): string {
  const shown = names.slice(0, max).map((n) => JSON.stringify(n)).join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

function cookieIdFindings(users: HubUser[]): Finding[] {
  const out: Finding[] = [];
  const nulls = users.filter((u) => u.cookieId === null).map((u) => u.name);
  if (nulls.length > 0) {
    out.push({
      check: 'cookie-id-null',
      severity: 'critical',
      message:
        `${plural(nulls.length, 'user has', 'users have')} no login id (cookie_id is NULL): ${listNames(nulls)}. ` +
        'They cannot log in, and the database was probably rebuilt by hand.',
      detail: { users: nulls },
    });
  }
  const empties = users.filter((u) => u.cookieId === '').map((u) => u.name);
  if (empties.length > 0) {
    out.push({
      check: 'cookie-id-empty',
      severity: 'critical',
      message:
        `${plural(empties.length, 'user has', 'users have')} an empty login id (cookie_id): ${listNames(empties)}. ` +
        'Anyone who logs in as one of them is treated by the hub as the first of them the database returns.',
      detail: { users: empties },
    });
  }
  const malformed = users.filter((u) => u.cookieId !== null && u.cookieId !== '' && !isCookieId(u.cookieId)).map((u) => u.name);
  if (malformed.length > 0) {
    out.push({
      check: 'cookie-id-malformed',
      severity: 'critical',
      message:
        `${plural(malformed.length, 'user has', 'users have')} a login id (cookie_id) the hub never generates ` +
        `(it makes 32 lowercase hex characters): ${listNames(malformed)}. The users table was edited or rebuilt by hand.`,
      detail: { users: malformed },
    });
  }
  // MySQL compares with a case-insensitive, trailing-space-blind collation by default, so the hub's lookup
  // treats such values as equal too.
  const byId = new Map<string, string[]>();
  for (const u of users) {
    if (u.cookieId === null || u.cookieId === '') continue;
    const key = u.cookieId.toLowerCase().trimEnd();
    byId.set(key, [...(byId.get(key) ?? []), u.name]);
  }
  const shared = [...byId.values()].filter((names) => names.length > 1);
  if (shared.length > 0) {
    out.push({
      check: 'cookie-id-duplicate',
      severity: 'critical',
      message:
        `${plural(shared.length, 'login id (cookie_id) is', 'login ids (cookie_id) are')} shared by several users: ` +
        `${shared.slice(0, 5).map((names) => listNames(names, 4)).join('; ')}${shared.length > 5 ? `; and ${shared.length - 5} more` : ''}. ` +
        'Whoever logs in as one of them can be let in as another.',
      detail: { groups: shared },
    });
  }
  return out;
}

/** quick_check's first real complaint, without its "*** in database main ***" header. */
function firstProblem(integrity: string): string {
  const line = integrity.split(/\n|; /).map((l) => l.trim()).find((l) => l !== '' && !/^\*\*\*.*\*\*\*$/.test(l)) ?? integrity;
  return line.slice(0, 200);
}

/** Turns a snapshot into findings. Pure: no I/O, no clock. Unreachable or missing databases are the caller's. */
export function checkSnapshot(s: HubSnapshot, baseline: Baseline | null, opts: CheckOptions): Finding[] {
  const out: Finding[] = [];
  const present = new Set(s.tables);

  const missing = REQUIRED_TABLES.filter((t) => !present.has(t));
  if (missing.length > 0) {
    out.push({
      check: 'tables-missing',
      severity: 'critical',
      message:
        `The hub database is missing ${plural(missing.length, 'table', 'tables')}: ${missing.join(', ')}. ` +
        'It was probably wiped or replaced; a hub that starts on it recreates them empty and forgets every user.',
      detail: { missing },
    });
  }

  if (s.alembicVersion === null) {
    out.push({
      check: 'alembic-missing',
      severity: 'critical',
      message:
        'The hub database has no schema version (the alembic_version table is missing or empty). ' +
        'A wiped, replaced or hand-made database looks like this.',
    });
  } else if (!opts.knownHeads.includes(s.alembicVersion)) {
    out.push({
      check: 'alembic-unknown',
      severity: 'warning',
      message:
        `The hub database schema version ${JSON.stringify(s.alembicVersion)} is not one hub-guard knows ` +
        `(${opts.knownHeads.join(', ')}). Check that the database belongs to this hub and that its upgrade finished.`,
      detail: { version: s.alembicVersion, knownHeads: opts.knownHeads },
    });
  }

  if (baseline && baseline.highWater > 0) {
    const floor = (1 - opts.maxUserDrop) * baseline.highWater;
    if (s.users.length < floor) {
      out.push({
        check: 'user-drop',
        severity: 'critical',
        message:
          `The hub database has ${plural(s.users.length, 'user', 'users')}, down from ${baseline.highWater} at its highest ` +
          `(more than ${Math.round(opts.maxUserDrop * 100)}% gone). It may have been wiped or restored from an old copy.`,
        detail: { users: s.users.length, highWater: baseline.highWater, maxUserDrop: opts.maxUserDrop },
      });
    }

    const changes = s.users
      .filter((u) => Object.hasOwn(baseline.users, u.name) && baseline.users[u.name] !== u.id)
      .map((u) => ({ name: u.name, was: baseline.users[u.name], now: u.id }));
    if (changes.length > 0) {
      const shown = changes.slice(0, 8).map((c) => `${JSON.stringify(c.name)} ${c.was}→${c.now}`).join(', ');
      out.push({
        check: 'id-changed',
        severity: changes.length > opts.maxIdChanges ? 'critical' : 'warning',
        message:
          `${plural(changes.length, 'known user has', 'known users have')} a different id than before: ` +
          `${shown}${changes.length > 8 ? ` and ${changes.length - 8} more` : ''}. Where volume names contain the ` +
          'user id, each of them now gets a new, empty home volume; the users were probably re-created after a wipe.',
        detail: { changes, maxIdChanges: opts.maxIdChanges },
      });
    }
  }

  out.push(...cookieIdFindings(s.users));

  const c = s.cookieIdConstraint;
  if (c && (!c.notNull || !c.unique)) {
    const lacking = [!c.notNull && 'NOT NULL', !c.unique && 'UNIQUE'].filter(Boolean).join(' and ');
    out.push({
      check: 'cookie-id-constraint',
      severity: 'warning',
      message:
        `The users table lacks the ${lacking} constraint on cookie_id, so nothing stops empty or shared login ids. ` +
        'The table was probably rebuilt by hand or created by a hub older than 0.8.',
      detail: { notNull: c.notNull, unique: c.unique },
    });
  }

  const bySlug = new Map<string, string[]>();
  for (const u of s.users) {
    const slug = lossySlug(u.name);
    bySlug.set(slug, [...(bySlug.get(slug) ?? []), u.name]);
  }
  const lookalikes = [...bySlug.values()].filter((names) => names.length > 1);
  if (lookalikes.length > 0) {
    out.push({
      check: 'lookalike-names',
      severity: 'warning',
      message:
        `Some user names differ only in punctuation or case: ${lookalikes.slice(0, 5).map((n) => n.join(' / ')).join('; ')}` +
        `${lookalikes.length > 5 ? `; and ${lookalikes.length - 5} more` : ''}. Older Kubernetes spawners give them the ` +
        'same volume, and one of them may be a copy made when the database was rebuilt from volume names.',
      detail: { groups: lookalikes },
    });
  }

  if (s.integrity !== undefined && s.integrity !== 'ok') {
    out.push({
      check: 'integrity',
      severity: 'critical',
      message:
        `SQLite reports the hub database file is damaged (${JSON.stringify(firstProblem(s.integrity))}). ` +
        'Stop the hub and restore the file from a backup before trusting anything in it.',
      detail: { integrity: s.integrity },
    });
  }
  return out;
}

/**
 * The baseline after a snapshot the caller judged healthy: high-water mark only rises, ids are updated, and names
 * that vanished keep their last id (a user re-created later under a new id is still reported). Pass a null
 * baseline to start afresh once an operator has accepted the database as it is.
 */
export function nextBaseline(s: HubSnapshot, baseline: Baseline | null): Baseline {
  const users = recordOf([...Object.entries(baseline?.users ?? {}), ...s.users.map((u) => [u.name, u.id] as const)]);
  return { highWater: Math.max(baseline?.highWater ?? 0, s.users.length), users, updatedAt: s.takenAt };
}
