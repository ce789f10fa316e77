// Wiring and lifecycle: builds the parts from the config, listens, and stops gracefully.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Config, Listen, TlsConfig } from './config.js';
import { log, setLogLevel } from './log.js';
import { metrics, serveMetrics } from './metrics.js';
import { createApiApp } from './api/app.js';
import { Forwarder } from './proxy/forward.js';
import { ErrorPages } from './proxy/error-pages.js';
import { RouteTable } from './proxy/route-table.js';
import { TargetConflicts } from './proxy/target-conflicts.js';
import { UpstreamRoutes } from './proxy/upstream-routes.js';
import type { StateStore } from './state/store.js';
import { openStore } from './state/open.js';
import { syncRoutes } from './monitor/route-sync.js';
import { Maintenance } from './monitor/maintenance.js';
import { operatorApi } from './api/operator.js';
import { RefusalHistory } from './api/status-page.js';
import { consolePage } from './api/console.js';
import { ConsoleSessions } from './api/console-session.js';
import { Replicas } from './monitor/replicas.js';
import { ConfigError } from './errors.js';
import { openHubDb } from './hubdb/open.js';
import type { HubDb } from './hubdb/snapshot.js';
import { Watchdog, watchdogSettings } from './monitor/watchdog.js';
import { WatcherFeed } from './monitor/watcher-feed.js';
import type { HubWatch } from './monitor/hub-watch.js';
import { UsersIndex, indexKey } from './identity/users-index.js';
import { loadCookieSecret } from './identity/secret.js';
import { Sessions } from './identity/sessions.js';
import { Assertions } from './identity/assertions.js';
import { IdpVerifier } from './identity/idp.js';
import { loadMaintenanceTemplate } from './pages/index.js';
import { createRequestPath, responseHook } from './pipeline/request-path.js';
import type { PipelineDeps } from './pipeline/deps.js';
import { GrantRefresh } from './pipeline/grant-refresh.js';
import { Visits } from './pipeline/visits.js';
import { WsActivity } from './pipeline/ws-activity.js';
import { parseCidrs } from './policy/operator.js';

export interface Running {
  cfg: Config;
  routes: RouteTable;
  store: StateStore;
  maintenance: Maintenance;
  /** The watchdog in this process, or the feed from a `hub-guard watch` process (--watcher). */
  watch?: HubWatch;
  publicServer: http.Server;
  apiServer: http.Server;
  /** Bound addresses (port 0 in the config becomes the real port here). */
  ports: { public?: number; api?: number; metrics?: number };
  stop(): Promise<void>;
}

function tlsOptions(t: TlsConfig): https.ServerOptions {
  return {
    key: t.key, cert: t.cert, ca: t.ca, dhparam: t.dhparam,
    requestCert: t.requestCert, rejectUnauthorized: t.rejectUnauthorized,
    secureProtocol: t.secureProtocol, ciphers: t.ciphers,
  };
}

function createServer(tls: TlsConfig | undefined, handler: http.RequestListener, opts: http.ServerOptions = {}): http.Server {
  return tls ? https.createServer({ ...opts, ...tlsOptions(tls) }, handler) : http.createServer(opts, handler);
}

export function listen(server: http.Server, where: Listen, flag: string): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new ConfigError(`${flag}: cannot listen on ${where.path ?? `${where.host ?? '*'}:${where.port}`}: ${e.code ?? e.message}`, flag)));
    const done = () => resolve(where.path ? undefined : (server.address() as AddressInfo).port);
    if (where.path) server.listen(where.path, done);
    else server.listen(where.port, where.host, done);
  });
}

/**
 * Turns a bad value found while building the parts into a start-up error naming its flag: a ConfigError that names
 * one already stays as it is; any other error (from Node or a library) gets `flag` in front of its message.
 */
export function configured<T>(flag: string, make: () => T): T {
  try {
    return make();
  } catch (e) {
    if (e instanceof ConfigError && e.flag !== undefined) throw e;
    throw new ConfigError(`${flag}: ${e instanceof Error ? e.message : String(e)}`, flag);
  }
}

/** The hub database --hub-db names, with the flag in front of any error. */
export function openConfiguredHubDb(cfg: Config): HubDb {
  return configured('--hub-db', () => openHubDb(cfg.hubDb!, { timeoutMs: cfg.dbTimeoutMs }));
}

/** The hub's cookie secret, read as the hub reads it. */
export function configuredCookieSecret(cfg: Config): Buffer {
  return configured('--cookie-secret-file', () => loadCookieSecret({ file: cfg.cookieSecretFile, envHex: cfg.cookieSecretHex }));
}

/** This package's version, for --version and the replicas' heartbeats; dist/src/server.js → the package root. */
export const VERSION = (() => {
  try {
    return String((JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }).version ?? 'unknown');
  } catch {
    return 'unknown';
  }
})();

/** How long start-up waits for a shared state store (Redis) before going on with the local state. */
export const STORE_WAIT_MS = 2000;

export async function startServer(cfg: Config): Promise<Running> {
  setLogLevel(cfg.logLevel);
  const routes = new RouteTable();
  const store = await openStore(cfg);
  // everything that reads the store registers before it connects, so the first reconciliation covers all of it.
  // In front mode the upstream proxy owns the routes; they are mirrored from it, not stored.
  const routeSync = cfg.front ? undefined : await syncRoutes(store, routes, cfg.activityIntervalMs);
  const maintenance = new Maintenance(store);
  await maintenance.load();
  const guardKeys = await Assertions.open(store);
  // the hub's login cookie is checked against the hub DB, read here or by a watcher
  const hubUsers = !!cfg.hubDb || cfg.watcher;
  const sessions = hubUsers || cfg.idp ? await Sessions.open(store, cfg.sessionTtlSec) : undefined;
  const operatorTokens = () => [cfg.operatorToken ?? cfg.authToken].filter((t): t is string => !!t);
  const consoleSessions = await ConsoleSessions.open(store, operatorTokens);
  metrics.stateStoreUp.set(store.up ? 1 : 0);
  store.onStatus((up) => metrics.stateStoreUp.set(up ? 1 : 0));
  await store.connect(STORE_WAIT_MS);
  const restored = routes.size;
  // the --default-target route is each replica's own fallback, never shared: it must not replace the hub's '/'
  const addDefault = () => routes.add('/', { target: cfg.defaultTarget! });
  if (cfg.defaultTarget && !routes.get('/')) {
    if (routeSync) routeSync.locally(addDefault);
    else addDefault();
  }
  const upstreamRoutes = cfg.front ? new UpstreamRoutes(routes, { api: cfg.front.api, token: cfg.front.token, pollMs: cfg.front.pollMs }) : undefined;
  metrics.routes.set(routes.size);
  routes.onChange(() => metrics.routes.set(routes.size));

  const conflicts = new TargetConflicts(routes);
  const db = cfg.hubDb ? openConfiguredHubDb(cfg) : undefined;
  const secret = hubUsers ? configuredCookieSecret(cfg) : undefined;
  // without the hub's secret no hub cookie is read, so the index stays empty and its key is never used
  const users = new UsersIndex(secret ? indexKey(secret) : randomBytes(32));
  const idp = cfg.idp ? configured('--identity-header', () => new IdpVerifier(cfg.idp!)) : undefined;
  const template = cfg.maintenancePage ? configured('--maintenance-page', () => loadMaintenanceTemplate(cfg.maintenancePage!)) : undefined;
  for (const warning of template?.warnings ?? []) log.warn('maintenance page template', { warning });
  const operatorCidrs = cfg.operatorCidrs.length ? configured('--operator-cidr', () => parseCidrs(cfg.operatorCidrs)) : undefined;
  const watch: HubWatch | undefined = db
    ? new Watchdog({ db, store, maintenance, users, ...watchdogSettings(cfg) })
    : cfg.watcher ? new WatcherFeed({ store, users, maintenance }) : undefined;
  // JupyterHub and zero-to-jupyterhub point --default-target and --error-target at the hub; any other default target
  // is some other service, and gets no credentials
  const defaultIsHub = !!cfg.defaultTarget && !!cfg.errorTarget && new URL(cfg.defaultTarget).origin === new URL(cfg.errorTarget).origin;
  const deps: PipelineDeps = {
    cfg, routes, conflicts, maintenance,
    errors: new ErrorPages(cfg),
    identity: { users, secret, maxAgeDays: cfg.cookieMaxAgeDays, idp, sessions },
    assertions: guardKeys,
    operators: { tokens: operatorTokens(), cidrs: operatorCidrs },
    pages: { template, contact: cfg.maintenanceContact },
    report: (problem) => watch?.report(problem),
    refresh: () => watch?.refreshOnMiss(),
    grants: new GrantRefresh(watch && (() => watch.freshCheck())),
    visits: new Visits(users, cfg.adminAccess),
    wsActivity: new WsActivity(),
    isHub: (route) => route.data.hub === true || (defaultIsHub && route.data.target === cfg.defaultTarget && route.owner === undefined),
  };
  const forwarder = new Forwarder(cfg, responseHook(deps));
  const handlers = createRequestPath(deps, forwarder);
  // Node enforces headersTimeout only when it sweeps connections (every 30 s by default): sweep often enough
  const publicServer = createServer(cfg.ssl, handlers.request, { connectionsCheckingInterval: Math.min(1000, cfg.headersTimeout) });
  publicServer.on('upgrade', handlers.upgrade);
  publicServer.keepAliveTimeout = cfg.keepAliveTimeout;
  // slow-header clients (slowloris) are cut off; bodies may stream as long as they move (uploads, websockets)
  publicServer.headersTimeout = cfg.headersTimeout;
  publicServer.requestTimeout = 0;
  const upgraded = new Set<Duplex>();
  publicServer.on('upgrade', (_req, socket) => {
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
  });
  publicServer.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // malformed requests get a status line, never a crash; HPE_HEADER_OVERFLOW is the oversized-header case
    if (!socket.writable) return socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });

  let listening = false;
  const refusals = new RefusalHistory().start();
  // pid too: --workers runs several replicas on one host
  const instance = `${hostname()}:${process.pid}`;
  const replicas = new Replicas(store, instance, () => ({
    version: VERSION,
    maintenance: maintenance.mode,
    db: watch ? watch.state : 'not watched',
  }));
  const api = createApiApp({
    cfg,
    routes,
    readiness: () => ({
      // ready while serving, maintenance included: a failing probe would swap the maintenance page for an error
      ready: listening && watch?.state !== 'starting',
      checks: {
        routes: routes.size,
        state: store.description,
        // degraded, not unready: replicas keep serving on their last known state while the shared store is away
        state_store: store.up ? 'up' : 'degraded',
        db: watch ? watch.state : 'not configured',
        findings: watch ? watch.current().map((f) => `${f.severity}:${f.check}`) : [],
        maintenance: maintenance.mode,
        ...watch?.readiness(),
      },
    }),
    routeHooks: watch && { holdDelete: () => watch.holdDelete([...routes.all()].filter((r) => r.owner !== undefined).length) },
    extend: (app) => {
      app.get('/.well-known/jwks.json', (_req, res) => {
        res.json(guardKeys.jwks());
      });
      const operatorDeps = { maintenance, watch, routes, conflicts, tokens: operatorTokens, store };
      app.use('/api/guard', operatorApi(operatorDeps));
      app.use('/guard', consolePage({
        ...operatorDeps, refusals, replicas, instance, sessions: consoleSessions, secure: !!cfg.apiSsl,
        commands: { db: cfg.hubDb, backupDir: cfg.backup?.dir },
      }));
    },
  });
  const apiServer = createServer(cfg.apiSsl, api);

  const metricsServer = cfg.metricsListen ? http.createServer(serveMetrics) : undefined;

  let redirectServer: http.Server | undefined;
  const ports: Running['ports'] = {};
  // the first DB read and route poll come before the public port opens: until then nothing could be checked
  await watch?.start();
  await upstreamRoutes?.start();
  ports.public = await listen(publicServer, cfg.listen, '--port');
  ports.api = await listen(apiServer, cfg.apiListen, '--api-port');
  if (metricsServer) ports.metrics = await listen(metricsServer, cfg.metricsListen!, '--metrics-port');
  if (cfg.redirectPort !== undefined) {
    const to = cfg.redirectTo ?? ports.public;
    redirectServer = http.createServer((req, res) => {
      const host = (req.headers.host ?? 'localhost').replace(/:\d+$/, '');
      res.writeHead(301, { Location: `https://${host}${to === 443 ? '' : `:${to}`}${req.url}` });
      res.end();
    });
    await listen(redirectServer, { host: cfg.listen.host, port: cfg.redirectPort }, '--redirect-port');
  }
  if (cfg.pidFile) writeFileSync(cfg.pidFile, String(process.pid));
  listening = true;
  replicas.start();
  log.info('hub-guard listening', {
    public: `${cfg.ssl ? 'https' : 'http'}://${cfg.listen.path ?? `${cfg.listen.host ?? '*'}:${ports.public}`}`,
    api: cfg.apiListen.path ?? `${cfg.apiListen.host}:${ports.api}`,
    metrics: metricsServer ? (cfg.metricsListen!.path ?? `${cfg.metricsListen!.host ?? '*'}:${ports.metrics}`) : undefined,
    routes_restored: restored,
    state: store.description,
  });
  if (!cfg.authToken) log.warn('REST API is not authenticated: set CONFIGPROXY_AUTH_TOKEN');

  /** Graceful: stop accepting, let requests in flight finish, close what is left after --shutdown-timeout. */
  const stop = async () => {
    listening = false;
    watch?.stop();
    upstreamRoutes?.stop();
    refusals.stop();
    deps.wsActivity.stop();
    await replicas.stop();
    routeSync?.stop();
    const servers = [publicServer, apiServer, metricsServer, redirectServer].filter((s): s is http.Server => !!s);
    const closed = Promise.all(servers.map((s) => new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeIdleConnections();
    })));
    const deadline = setTimeout(() => {
      for (const s of servers) s.closeAllConnections();
      for (const socket of upgraded) socket.destroy();
    }, cfg.shutdownTimeout);
    // websockets never finish by themselves: they get the timeout to end, then are closed
    await closed;
    clearTimeout(deadline);
    await forwarder.close();
    await db?.close();
    await routeSync?.flush();
    await store.close();
    if (cfg.pidFile) {
      try { unlinkSync(cfg.pidFile); } catch { /* already gone */ }
    }
  };
  return { cfg, routes, store, maintenance, watch, publicServer, apiServer, ports, stop };
}
