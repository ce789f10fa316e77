// The small part of SQL that differs between the hub's three engines, for the statements doctor writes.
import { randomUUID } from 'node:crypto';
import type { HubDbEngine } from '../hubdb/url.js';

/** What the hub itself generates for users.cookie_id: uuid4().hex. */
export function freshCookieId(): string {
  return randomUUID().replace(/-/g, '');
}

/**
 * A string literal. MySQL reads backslashes as escapes by default (unless NO_BACKSLASH_ESCAPES), the others do
 * not; doubling them there keeps a name like `a\b` intact on every engine.
 */
export function literal(engine: HubDbEngine, value: string): string {
  const quoted = value.replace(/'/g, "''");
  return `'${engine === 'mysql' ? quoted.replace(/\\/g, '\\\\') : quoted}'`;
}

/**
 * Text as it stands inside a JSON string the hub wrote: its JSON columns (scopes) hold json.dumps() output, which
 * escapes every character outside printable ASCII as \uXXXX, so a name is matched and written in that form.
 */
export function hubJsonText(value: string): string {
  return JSON.stringify(value).slice(1, -1).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function beginStatement(engine: HubDbEngine): string {
  return engine === 'mysql' ? 'START TRANSACTION' : 'BEGIN';
}

/** A temporary table that lives until dropped; MySQL does not commit implicitly for TEMPORARY ones. */
export function createTempTable(engine: HubDbEngine, name: string, select: string): string {
  return engine === 'mysql' ? `CREATE TEMPORARY TABLE ${name} AS ${select}` : `CREATE TEMP TABLE ${name} AS ${select}`;
}

export function dropTempTable(engine: HubDbEngine, name: string): string {
  return engine === 'mysql' ? `DROP TEMPORARY TABLE ${name}` : `DROP TABLE ${name}`;
}

/**
 * Rows inserted with explicit ids leave PostgreSQL's serial sequence behind, and the hub's next new user would
 * collide with them. Only ever moves the sequence forward (nextval costs one unused number).
 */
export const PG_SEQUENCE_FORWARD =
  "SELECT setval(pg_get_serial_sequence('users', 'id'), GREATEST(nextval(pg_get_serial_sequence('users', 'id')), (SELECT COALESCE(MAX(id), 1) FROM users)))";

/** 'YYYY-MM-DD hh:mm:ss', the naive-UTC form the hub writes and all three engines read. */
export function sqlTimestamp(iso: string): string | null {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return null;
  return new Date(t).toISOString().slice(0, 19).replace('T', ' ');
}
