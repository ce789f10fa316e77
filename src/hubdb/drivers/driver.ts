import { snapshotDigest } from '../digest.js';
import { readFingerprint, readSnapshot } from '../read.js';
import type { SqlSession } from '../session.js';
import type { HubSnapshot } from '../snapshot.js';
import { toHubDbError } from '../errors.js';

/**
 * A pooled connection the server dropped while idle (restart, failover, idle kill) is only noticed on use, so a
 * read that fails that way is tried once more on a fresh connection.
 */
export async function retryLostConnection<T>(attempt: () => Promise<T>, isLost: (err: unknown) => boolean, description: string): Promise<T> {
  try {
    return await attempt();
  } catch (err) {
    if (!isLost(err)) throw toHubDbError(err, description);
    return attempt().catch((again: unknown) => { throw toHubDbError(again, description); });
  }
}

/** One engine's reader. open.ts adds the sharing of concurrent reads and the closed state on top. */
export interface Driver {
  /** Never called again before the previous call (of either kind) settles. */
  read(): Promise<HubSnapshot>;
  /** null: the same content as the last snapshot this driver returned. */
  readIfChanged(): Promise<HubSnapshot | null>;
  close(): Promise<void>;
  /** Reads of the whole database so far; a check that found nothing changed without reading does not count. */
  readonly fullReads: number;
}

/** Runs `body` inside one read-only transaction on the server. */
export type InTransaction = <T>(body: (s: SqlSession) => Promise<T>) => Promise<T>;

/**
 * A database server's reader. Every call first asks the server for a fingerprint of what the snapshot would hold
 * (see readFingerprint); readIfChanged() stops there when it equals the one of the last snapshot returned, and
 * otherwise reads the snapshot in the same transaction, so the fingerprint describes exactly that snapshot. When
 * the server cannot give a fingerprint, the snapshot's digest still spares the caller's work on equal content.
 */
export function fingerprinted(inTransaction: InTransaction, close: () => Promise<void>): Driver {
  // Both describe the last snapshot returned; cleared by a failure, after which a snapshot is owed.
  let lastFingerprint: string | null = null;
  let lastDigest: string | null = null;
  let fullReads = 0;

  async function ask(ifChanged: boolean): Promise<HubSnapshot | null> {
    try {
      const { fingerprint, snapshot } = await inTransaction(async (s) => {
        const fingerprint = await readFingerprint(s);
        if (ifChanged && fingerprint !== null && fingerprint === lastFingerprint) return { fingerprint, snapshot: null };
        return { fingerprint, snapshot: await readSnapshot(s, Date.now()) };
      });
      if (!snapshot) return null;
      fullReads++;
      const digest = snapshotDigest(snapshot);
      const same = ifChanged && digest === lastDigest;
      lastFingerprint = fingerprint;
      lastDigest = digest;
      return same ? null : snapshot;
    } catch (err) {
      lastFingerprint = null;
      lastDigest = null;
      throw err;
    }
  }

  return {
    read: () => ask(false) as Promise<HubSnapshot>,
    readIfChanged: () => ask(true),
    close,
    get fullReads() { return fullReads; },
  };
}
