// `hub-guard watch`: the database watchdog without the proxy, for running beside the hub (on zero-to-jupyterhub, in
// the hub pod, where the sqlite database lives) while the proxies run elsewhere with --watcher.
import http from 'node:http';
import { hostname } from 'node:os';
import type { Config } from './config.js';
import { log, setLogLevel } from './log.js';
import { serveMetrics } from './metrics.js';
import { openStore } from './state/open.js';
import { Maintenance } from './monitor/maintenance.js';
import { Watchdog, watchdogSettings } from './monitor/watchdog.js';
import { WatcherPublisher } from './monitor/watcher-report.js';
import { indexKey } from './identity/users-index.js';
import { Replicas } from './monitor/replicas.js';
import { configuredCookieSecret, listen, openConfiguredHubDb, STORE_WAIT_MS, VERSION } from './server.js';

export interface RunningWatcher {
  watchdog: Watchdog;
  ports: { metrics?: number };
  stop(): Promise<void>;
}

export async function startWatcher(cfg: Config): Promise<RunningWatcher> {
  setLogLevel(cfg.logLevel);
  const db = openConfiguredHubDb(cfg);
  const secret = configuredCookieSecret(cfg);
  const store = await openStore(cfg);
  const maintenance = new Maintenance(store);
  await maintenance.load();
  await store.connect(STORE_WAIT_MS);
  const publisher = new WatcherPublisher(store, indexKey(secret), cfg.dbCheckIntervalMs);
  const watchdog: Watchdog = new Watchdog({
    db, store, maintenance,
    users: publisher,
    onCheck: () => publisher.report(watchdog),
    ...watchdogSettings(cfg),
  });
  publisher.serve(watchdog);
  await watchdog.start();
  // listed in the console's replicas beside the proxies, so an operator sees the watcher is there and what it sees
  const replicas = new Replicas(store, `${hostname()}:${process.pid} (watch)`, () => ({
    version: VERSION,
    maintenance: maintenance.mode,
    db: watchdog.state,
  })).start();
  const metricsServer = cfg.metricsListen ? http.createServer(serveMetrics) : undefined;
  const ports: RunningWatcher['ports'] = {};
  if (metricsServer) ports.metrics = await listen(metricsServer, cfg.metricsListen!, '--metrics-port');
  log.info('hub-guard watching', { db: db.description, state: store.description, metrics: ports.metrics });

  const stop = async () => {
    watchdog.stop();
    await replicas.stop();
    await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
    await db.close();
    await store.close();
  };
  return { watchdog, ports, stop };
}
