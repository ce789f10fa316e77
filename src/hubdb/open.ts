import { openMysql } from './drivers/mysql.js';
import { openPostgres } from './drivers/postgres.js';
import { openSqlite } from './drivers/sqlite.js';
import type { Driver } from './drivers/driver.js';
import { HubDbError } from './errors.js';
import { ConfigError } from '../errors.js';
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
 * A sqlite file is opened anew by every full read, so callers need not reopen it after it is replaced.
 */
export function openHubDb(url: string, opts: OpenHubDbOptions): HubDb {
  const flag = opts.flag ?? '--hub-db';
  const target = parseHubDbUrl(url, flag);
  if (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs <= 0) {
    throw new ConfigError(`${flag}: the database timeout must be a positive number of milliseconds`, flag);
  }
  const description = target.engine === 'sqlite' ? `sqlite ${target.file}` : redactDbUrl(url);
  const driver: Driver =
    target.engine === 'sqlite'
      ? openSqlite(target.file, opts.timeoutMs, description)
      : target.engine === 'postgres'
        ? openPostgres(target, opts.timeoutMs, description)
        : openMysql(target, opts.timeoutMs, description);

  // One driver call at a time (the driver takes no more); callers arriving meanwhile share it where they can.
  let inflight: { full: boolean; done: Promise<HubSnapshot | null> } | null = null;
  // After a failed read the caller's view is the failure, not the last snapshot: "unchanged" would mean nothing.
  let owedSnapshot = true;
  let closing: Promise<void> | null = null;

  const start = (full: boolean): Promise<HubSnapshot | null> => {
    const call = full || owedSnapshot ? driver.read() : driver.readIfChanged();
    const done: Promise<HubSnapshot | null> = call.then(
      (s) => { owedSnapshot = false; return s; },
      (err: unknown) => { owedSnapshot = true; throw err; },
    ).finally(() => { if (inflight?.done === done) inflight = null; });
    inflight = { full, done };
    return done;
  };
  const closed = () => Promise.reject(new HubDbError(`hub database ${description}: already closed`, 'ECLOSED'));

  const db: HubDb = {
    description,
    engine: target.engine,
    file: target.engine === 'sqlite' ? target.file : null,
    get fullReads() { return driver.fullReads; },
    read() {
      if (closing) return closed();
      // Reads overlap when a slow database meets a short interval; they share one instead of piling up.
      if (!inflight) return start(true) as Promise<HubSnapshot>;
      if (inflight.full) return inflight.done as Promise<HubSnapshot>;
      // A readIfChanged() under way may answer null, which is no snapshot: wait for it, then read.
      return inflight.done.then(() => db.read(), () => db.read());
    },
    readIfChanged() {
      if (closing) return closed();
      // Any read under way will do: a full read's snapshot is a correct answer too, only not the cheapest.
      return inflight ? inflight.done : start(false);
    },
    close() {
      closing ??= driver.close();
      return closing;
    },
  };
  return db;
}
