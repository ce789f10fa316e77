import { Worker } from 'node:worker_threads';
import { HubDbError, toHubDbError } from '../errors.js';
import type { HubSnapshot } from '../snapshot.js';
import type { Driver } from './driver.js';
import type { SqliteWorkerData, SqliteWorkerReply } from './sqlite-worker.js';

/**
 * A sqlite hub DB read in a worker thread, one read at a time. Each read opens the file anew (read-only, must
 * exist), so the caller never needs to reopen after the file is replaced; a missing file rejects with 'ENOENT'.
 */
export function openSqlite(file: string, timeoutMs: number, description: string): Driver {
  let worker: Worker | null = null;
  let nextId = 1;
  let current: { id: number; worker: Worker; resolve: (s: HubSnapshot) => void; reject: (e: Error) => void } | null = null;

  // Only the thread serving the current read may fail it: an old thread exiting after a timeout must not.
  const fail = (err: Error, from?: Worker) => {
    if (!current || (from && current.worker !== from)) return;
    current.reject(err);
    current = null;
  };

  function spawn(): Worker {
    // Half the deadline for lock waits, so a hub holding a write lock shows up as SQLITE_BUSY, not as a timeout.
    const data: SqliteWorkerData = { file, busyTimeoutMs: Math.max(1, Math.floor(timeoutMs / 2)) };
    const w = new Worker(new URL('./sqlite-worker.js', import.meta.url), { workerData: data });
    w.unref();
    w.on('message', (reply: SqliteWorkerReply) => {
      if (!current || current.worker !== w || reply.id !== current.id) return;
      if (reply.ok) current.resolve(reply.snapshot);
      else current.reject(toHubDbError(Object.assign(new Error(reply.message), { code: reply.code }), description));
      current = null;
    });
    w.on('error', (err) => fail(toHubDbError(err, description), w));
    w.on('exit', (code) => {
      if (worker === w) worker = null;
      fail(new HubDbError(`hub database ${description}: reader thread stopped (exit code ${code})`, 'EHUBDB'), w);
    });
    return w;
  }

  function read(): Promise<HubSnapshot> {
    const w = (worker ??= spawn());
    const id = nextId++;
    return new Promise<HubSnapshot>((resolve, reject) => {
      const timer = setTimeout(() => {
        fail(new HubDbError(`hub database ${description}: no answer within ${timeoutMs} ms`, 'ETIMEDOUT'), w);
        // A thread stuck in a read cannot be interrupted otherwise; the next read starts a fresh one.
        if (worker === w) worker = null;
        void w.terminate();
      }, timeoutMs);
      current = {
        id,
        worker: w,
        resolve: (s) => { clearTimeout(timer); resolve(s); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      w.postMessage({ id });
    });
  }

  return {
    read,
    async close() {
      const w = worker;
      worker = null;
      fail(new HubDbError(`hub database ${description}: closed during a read`, 'ECLOSED'));
      if (!w) return;
      // A thread blocked in the file system may never stop; closing must not wait for it forever.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([w.terminate(), new Promise((r) => { timer = setTimeout(r, timeoutMs).unref(); })]);
      clearTimeout(timer);
    },
  };
}
