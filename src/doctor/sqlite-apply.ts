// Applying a plan to a sqlite hub database: all of it in one transaction, or none of it.
import Database from 'better-sqlite3';
import { HubGuardError } from '../errors.js';
import type { Plan, SqliteUsersSchema } from './plan.js';

export class ApplyError extends HubGuardError {
  readonly code = 'apply-failed';
}

/** The users table's CREATE statement and its indexes and triggers, for the plan's NOT NULL rebuild. */
export function readSqliteUsersSchema(file: string): SqliteUsersSchema | null {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const createSql = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'").pluck().get() as string | undefined;
    if (!createSql) return null;
    const dependentSql = db
      .prepare("SELECT sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND tbl_name = 'users' AND sql IS NOT NULL ORDER BY type, name")
      .pluck()
      .all() as string[];
    return { createSql, dependentSql };
  } finally {
    db.close();
  }
}

const violationKey = (v: unknown) => JSON.stringify(v);

/**
 * Runs the plan inside one IMMEDIATE transaction with foreign keys off (SQLite cannot switch them inside one, and
 * ids move before their references follow). Rolls back and throws ApplyError when a statement fails or changes
 * another number of rows than planned (the database moved since it was read), when the references no longer
 * add up (a foreign_key_check problem that was not there before), or when quick_check complains afterwards.
 * Error messages name the step, never the SQL (it holds new login ids).
 */
export function applyPlanToSqlite(file: string, plan: Plan, busyTimeoutMs = 5000): { statements: number } {
  let db: Database.Database;
  try {
    db = new Database(file, { fileMustExist: true, timeout: busyTimeoutMs });
  } catch (e) {
    throw new ApplyError(`cannot open ${file} for writing: ${(e as Error).message}`);
  }
  let count = 0;
  try {
    db.pragma('foreign_keys = OFF');
    const before = new Set((db.pragma('foreign_key_check') as unknown[]).map(violationKey));
    try {
      db.exec('BEGIN IMMEDIATE');
    } catch (e) {
      throw new ApplyError(`cannot lock ${file} for writing (${(e as Error).message}); is the hub still running?`);
    }
    try {
      for (const [n, step] of plan.steps.entries()) {
        for (const [k, st] of step.statements.entries()) {
          const where = `step ${n + 1} ("${step.title}"), statement ${k + 1}`;
          let changes: number;
          try {
            changes = db.prepare(st.sql).run().changes;
          } catch (e) {
            throw new ApplyError(`${where} failed: ${(e as Error).message}`);
          }
          if (st.expect !== undefined && changes !== st.expect) {
            throw new ApplyError(`${where} changed ${changes} rows instead of ${st.expect}: the database changed since doctor read it. Run doctor again.`);
          }
          count++;
        }
      }
      const fresh = (db.pragma('foreign_key_check') as unknown[]).filter((v) => !before.has(violationKey(v)));
      if (fresh.length) {
        const tables = [...new Set(fresh.map((v) => String((v as { table?: unknown }).table)))].join(', ');
        throw new ApplyError(`after the plan, rows in ${tables} would refer to users that do not exist`);
      }
      const check = (db.pragma('quick_check') as Array<Record<string, unknown>>).map((r) => String(Object.values(r)[0]));
      if (check.join() !== 'ok') throw new ApplyError(`quick_check complains after the plan: ${check.slice(0, 3).join('; ')}`);
      db.exec('COMMIT');
    } catch (e) {
      // SQLite rolls back by itself after some errors (a full disk); then there is nothing left to undo.
      if (db.inTransaction) db.exec('ROLLBACK');
      throw e;
    }
  } finally {
    db.close();
  }
  return { statements: count };
}
