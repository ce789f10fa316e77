#!/usr/bin/env node
// hub-guard's command line: the proxy (with configurable-http-proxy's flags) and the operators' subcommands.
import { WATCH_FLAGS, WATCH_USAGE, buildConfig, buildWatchConfig, helpLines, helpText } from './config.js';
import { log } from './log.js';
import cluster from 'node:cluster';
import { VERSION, startServer } from './server.js';
import { runPrimary } from './cluster.js';
import { runMaintenance } from './commands/maintenance.js';
import { runDoctor } from './commands/doctor.js';
import { runBackup } from './commands/backup.js';
import { startWatcher } from './watcher.js';

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  maintenance: runMaintenance,
  doctor: runDoctor,
  backup: runBackup,
};

async function main(argv: string[]): Promise<void> {
  const command = COMMANDS[argv[0]];
  if (command) {
    process.exitCode = await command(argv.slice(1));
    return;
  }
  if (argv[0] === 'watch') {
    if (argv.includes('--help') || argv.includes('-h')) {
      process.stdout.write(`${WATCH_USAGE}\n${helpLines(WATCH_FLAGS, 36).join('\n')}\n`);
      return;
    }
    return untilSignal(await startWatcher(buildWatchConfig(argv.slice(1))));
  }
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${helpText()}\n`);
    return;
  }
  if (argv.includes('--version') || argv.includes('-V')) {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  const cfg = buildConfig(argv);
  if (cfg.workers > 1 && cluster.isPrimary) return runPrimary(cfg.workers, cfg.pidFile);
  // workers leave the pid file to the primary
  untilSignal(await startServer(cluster.isWorker ? { ...cfg, pidFile: undefined } : cfg));
}

/** Runs until SIGTERM or SIGINT, then stops gracefully. */
function untilSignal(running: { stop(): Promise<void> }): void {
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    running.stop().then(() => process.exit(0), (e) => {
      log.error('stop failed', { error: String(e) });
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main(process.argv.slice(2)).catch((e: unknown) => {
  // a ConfigError names its flag; anything else that stops the start is reported the same way
  process.stderr.write(`hub-guard: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(2);
});
