import { Worker } from 'node:worker_threads';
import { HubDbError, toHubDbError } from '../errors.js';
import type { HubSnapshot } from '../snapshot.js';
import type { Driver } from './driver.js';
import type { SqliteWorkerData, SqliteWorkerReply, SqliteWorkerRequest } from './sqlite-worker.js';

/** Reader threads left behind in a hung file system before reads stop starting new ones. */
const MAX_STUCK_THREADS = 2;

/** However quiet the change probe is, the whole database is read at least this often. */
const FULL_READ_EVERY_MS = 60_000;

/**
 * A sqlite hub DB read in a worker thread, one read at a time. Each full read opens the file anew (read-only, must
 * exist), so the caller never needs to reopen after the file is replaced; a missing file rejects with 'ENOENT'.
 * readIfChanged() first asks a change probe in the thread (a stat and one PRAGMA) and reads everything only when
 * the probe saw a change, the file is new, or the last full read is a minute old; see sqlite-worker.ts.
 *
 * A thread is never terminated while it may be inside SQLite: better-sqlite3 aborts the whole process when a
 * native call returns into a terminated thread. A read that overruns its deadline is rejected and its thread is
 * left to finish and is terminated when it next answers; the next read gets a fresh thread.
 */
export function openSqlite(file: string, timeoutMs: number, description: string): Driver {
  let idle: Worker | null = null;
  const stuck = new Set<Worker>();
  let nextId = 1;
  let current: { id: number; worker: Worker; resolve: (s: HubSnapshot | null) => void; reject: (e: Error) => void } | null = null;
  let closed = false;
  let fullReads = 0;

  // Only the thread serving the current read may settle it.
  const settle = (from: Worker, outcome: { snapshot: HubSnapshot | null } | { error: Error }) => {
    if (!current || current.worker !== from) return;
    const c = current;
    current = null;
    if ('snapshot' in outcome) c.resolve(outcome.snapshot);
    else c.reject(outcome.error);
  };

  function spawn(): Worker {
    // Half the deadline for lock waits, so a hub holding a write lock shows up as SQLITE_BUSY, not as a timeout.
    const data: SqliteWorkerData = { file, busyTimeoutMs: Math.max(1, Math.floor(timeoutMs / 2)), fullReadEveryMs: FULL_READ_EVERY_MS };
    const w = new Worker(new URL('./sqlite-worker.js', import.meta.url), { workerData: data });
    w.unref();
    w.on('message', (reply: SqliteWorkerReply) => {
      if (current?.worker === w && reply.id === current.id) {
        if (reply.ok && reply.fullRead) fullReads++;
        if (reply.ok) settle(w, { snapshot: reply.snapshot });
        else settle(w, { error: toHubDbError(Object.assign(new Error(reply.message), { code: reply.code }), description) });
      }
      // The thread is back in JavaScript and idle: now it can be stopped safely if it is no longer wanted.
      if (stuck.delete(w) || closed) void w.terminate();
      else idle = w;
    });
    w.on('error', (err) => settle(w, { error: toHubDbError(err, description) }));
    w.on('exit', (code) => {
      stuck.delete(w);
      if (idle === w) idle = null;
      settle(w, { error: new HubDbError(`hub database ${description}: reader thread stopped (exit code ${code})`, 'EHUBDB') });
    });
    return w;
  }

  // A fresh thread knows nothing of earlier reads, so its first answer is always a whole snapshot.
  function ask(ifChanged: boolean): Promise<HubSnapshot | null> {
    if (stuck.size >= MAX_STUCK_THREADS) {
      return Promise.reject(new HubDbError(`hub database ${description}: earlier reads are still stuck in the file system`, 'ETIMEDOUT'));
    }
    const w = idle ?? spawn();
    idle = null;
    const id = nextId++;
    return new Promise<HubSnapshot | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        stuck.add(w);
        settle(w, { error: new HubDbError(`hub database ${description}: no answer within ${timeoutMs} ms`, 'ETIMEDOUT') });
      }, timeoutMs);
      current = {
        id,
        worker: w,
        resolve: (s) => { clearTimeout(timer); resolve(s); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      w.postMessage({ id, ifChanged } satisfies SqliteWorkerRequest);
    });
  }

  return {
    // A plain read always answers with a snapshot.
    read: () => ask(false) as Promise<HubSnapshot>,
    readIfChanged: () => ask(true),
    get fullReads() { return fullReads; },
    async close() {
      closed = true;
      // A busy thread stops itself when it answers (see the message handler); an idle one can stop now.
      const w = idle;
      idle = null;
      await w?.terminate();
    },
  };
}
