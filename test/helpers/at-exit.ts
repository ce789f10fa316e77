// Clean-up that must happen even when a test file ends without its after() hooks: a failure, or the runner killing
// it on a timeout (SIGTERM) or an impatient user (SIGINT). Child processes and scratch directories register here.
const tasks = new Set<() => void>();
let installed = false;

function runAll(): void {
  for (const task of [...tasks]) {
    try {
      task();
    } catch {
      // best effort: the process is going away
    }
  }
  tasks.clear();
}

/** Runs `task` when this process exits or is killed by SIGTERM or SIGINT; the returned function unregisters it. */
export function atExit(task: () => void): () => void {
  if (!installed) {
    installed = true;
    process.once('exit', runAll);
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        runAll();
        process.kill(process.pid, signal);
      });
    }
  }
  tasks.add(task);
  return () => { tasks.delete(task); };
}
