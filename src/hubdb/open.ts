import { openMysql } from './drivers/mysql.js';
import { openPostgres } from './drivers/postgres.js';
import { openSqlite } from './drivers/sqlite.js';
import type { Driver } from './drivers/driver.js';
import { HubDbError } from './errors.js';
import type { HubDb, HubSnapshot } from './snapshot.js';
import { parseHubDbUrl, redactDbUrl } from './url.js';

export interface OpenHubDbOptions {
  /** Deadline for connecting and for each statement; a sqlite read as a whole. */
  timeoutMs: number;
  /** The flag the URL came from, for error messages. */
  flag?: string;
}

/**
 * Opens the hub database read-only without touching it yet: connection errors surface from read().
 * Throws only for a bad URL, a bad timeout or an unreadable TLS file named in the URL.
 * A sqlite file is opened anew by every read, so callers need not reopen it after it is replaced.
 */
export function openHubDb(url: string, opts: OpenHubDbOptions): HubDb {
  const flag = opts.flag ?? '--hub-db';
  const target = parseHubDbUrl(url, flag);
  if (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs <= 0) {
    throw new Error(`${flag}: the database timeout must be a positive number of milliseconds`);
  }
  const description = target.engine === 'sqlite' ? `sqlite ${target.file}` : redactDbUrl(url);
  const driver: Driver =
    target.engine === 'sqlite'
      ? openSqlite(target.file, opts.timeoutMs, description)
      : target.engine === 'postgres'
        ? openPostgres(target, opts.timeoutMs, description)
        : openMysql(target, opts.timeoutMs, description);

  let inflight: Promise<HubSnapshot> | null = null;
  let closing: Promise<void> | null = null;
  return {
    description,
    engine: target.engine,
    file: target.engine === 'sqlite' ? target.file : null,
    read() {
      if (closing) return Promise.reject(new HubDbError(`hub database ${description}: already closed`, 'ECLOSED'));
      // Reads overlap when a slow database meets a short interval; they share one instead of piling up.
      inflight ??= driver.read().finally(() => { inflight = null; });
      return inflight;
    },
    close() {
      closing ??= driver.close();
      return closing;
    },
  };
}
