// --workers N: N processes share the listening ports (node:cluster); each is a full replica, and they agree through
// the shared state store exactly as separate replicas do.
import cluster from 'node:cluster';
import { unlinkSync, writeFileSync } from 'node:fs';
import { log } from './log.js';

/** A worker that dies this soon after its start is failing to start, not crashing: stop instead of looping. */
const EARLY_DEATH_MS = 5000;

export function runPrimary(workers: number, pidFile: string | undefined): void {
  let stopping = false;
  const started = new Map<number, number>();
  const fork = () => {
    const w = cluster.fork();
    started.set(w.id, Date.now());
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
    if (lived < EARLY_DEATH_MS) {
      log.error('a worker failed at start; stopping', { worker: w.id, code, signal });
      stop();
      process.exitCode = code || 1;
      return;
    }
    log.error('worker died; starting another', { worker: w.id, code, signal });
    fork();
  });
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (pidFile) writeFileSync(pidFile, String(process.pid));
  for (let i = 0; i < workers; i++) fork();
  log.info('hub-guard primary started', { workers });
}
