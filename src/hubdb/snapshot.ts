import type { HubDbEngine } from './url.js';

export interface HubUser {
  id: number;
  name: string;
  admin: boolean;
  /** The value the hub's login cookie carries; null when the row holds NULL or the column is missing. */
  cookieId: string | null;
  /** ISO 8601 UTC (the hub stores naive UTC), or the raw text when the DB holds something else. */
  created: string | null;
}

/**
 * Who else's servers a user may open: from the roles the user holds directly or through groups (their scopes
 * that are or include `access:servers`), and from 5.x shares to the user or their groups. A user's own servers
 * are always allowed and are not listed here.
 */
export interface AccessGrant {
  all: boolean;
  users: string[];
  groups: string[];
  /** 'owner/name'; the default server is 'owner/'. */
  servers: string[];
  /**
   * Servers shared until a time ('owner/name', ms epoch), sorted by server; only present when there are any. The
   * expiry is judged when a request is decided, so a share stops counting at its expiry, not at the next read.
   */
  expiring?: ExpiringShare[];
}

export interface ExpiringShare { server: string; expiresAt: number }

export interface HubSnapshot {
  /** ms epoch */
  takenAt: number;
  /** JupyterHub tables present */
  tables: string[];
  /** null when the table is missing or empty */
  alembicVersion: string | null;
  /** ordered by id */
  users: HubUser[];
  /** null when unknown (no users table) */
  cookieIdConstraint: { notNull: boolean; unique: boolean } | null;
  /** user name → grants (admins via the admin role or users.admin); only users with any grant */
  access: Map<string, AccessGrant>;
  /** user name → group names; only users in any group */
  groups: Map<string, string[]>;
  apiTokens: number;
  /** sqlite PRAGMA quick_check result: 'ok' or the problems found */
  integrity?: string;
}

export interface HubDb {
  /**
   * Reads the whole snapshot in one read-only transaction. Rejects with an Error whose `code` is
   * 'ENOENT' when a sqlite file does not exist (yet), 'ETIMEDOUT' when the database did not answer in time,
   * or the driver's code otherwise. Concurrent calls share one read.
   */
  read(): Promise<HubSnapshot>;
  /**
   * Like read(), but resolves to null when the content (everything but takenAt) is the same as in the snapshot
   * this reader last returned, from read() or readIfChanged(). After a rejection, or when this reader has not
   * returned a snapshot yet, it always resolves to a snapshot. For sqlite an unchanged file costs a stat and one
   * PRAGMA in the reader thread; the whole database is still read at least every minute. A database server is
   * first asked for a fingerprint of the rows, and the rows are fetched only when it changed. Concurrent calls
   * share one read, as read() does.
   */
  readIfChanged(): Promise<HubSnapshot | null>;
  /** How many times the whole database was read; an unchanged sqlite file found by its probe does not count. */
  readonly fullReads: number;
  close(): Promise<void>;
  /** For logs: engine and location, never the password. */
  readonly description: string;
  readonly engine: HubDbEngine;
  /** The sqlite file (absolute) to watch for replacement, or null for a database server. */
  readonly file: string | null;
}
