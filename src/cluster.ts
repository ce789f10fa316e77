// --workers N: N processes share the listening ports (node:cluster); each is a full replica, and they agree through
// the shared state store exactly as separate replicas do.
import cluster, { type Worker } from 'node:cluster';
import { unlinkSync, writeFileSync } from 'node:fs';
import { log } from './log.js';

/** A worker that lived at least this long had a healthy run: the next death restarts it without delay. */
const HEALTHY_RUN_MS = 30_000;
const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 30_000;

/**
 * One dying worker never stops the others, and a dead worker is replaced, at growing delays while replacements
 * keep dying young (a crash every request must not become a fork loop). Only a start-up in which no worker ever
 * listened ends the primary: that is a configuration or a port problem, and restarting cannot fix it.
 */
export function runPrimary(workers: number, pidFile: string | undefined): void {
  let stopping = false;
  let everListened = false;
  let youngDeaths = 0;
  const started = new Map<number, number>();
  const pending = new Set<NodeJS.Timeout>();

  const fork = (): Worker => {
    const w = cluster.fork();
    started.set(w.id, Date.now());
    w.once('listening', () => {
      everListened = true;
    });
    return w;
  };

  cluster.on('exit', (w, code, signal) => {
    const lived = Date.now() - (started.get(w.id) ?? 0);
    started.delete(w.id);
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        if (pidFile) try { unlinkSync(pidFile); } catch { /* already gone */ }
        process.exit(0);
      }
      return;
    }
    if (!everListened) {
      log.error('a worker failed at start; stopping', { worker: w.id, code, signal });
      process.exitCode = code || 1;
      stop();
      return;
    }
    youngDeaths = lived >= HEALTHY_RUN_MS ? 0 : youngDeaths + 1;
    const delay = youngDeaths === 0 ? 0 : Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (youngDeaths - 1));
    log.error('worker died; starting another', { worker: w.id, code, signal, lived_ms: lived, restart_in_ms: delay });
    const timer = setTimeout(() => {
      pending.delete(timer);
      if (!stopping) fork();
    }, delay);
    pending.add(timer);
  });

  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const t of pending) clearTimeout(t);
    const alive = Object.values(cluster.workers ?? {});
    if (alive.length === 0) {
      if (pidFile) try { unlinkSync(pidFile); } catch { /* already gone */ }
      process.exit(process.exitCode ?? 0);
    }
    for (const w of alive) w?.process.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (pidFile) writeFileSync(pidFile, String(process.pid));
  for (let i = 0; i < workers; i++) fork();
  log.info('hub-guard primary started', { workers });
}
