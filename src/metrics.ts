// The one prom-client registry; every hub_guard_* metric is declared here so names stay in one place.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'hub_guard_' });

const registers = [registry];
const WATCHER_UP = 'hub_guard_watcher_up';
const WATCHER_LAST_REPORT = 'hub_guard_watcher_last_report_timestamp_seconds';

export const metrics = {
  requests: new Counter({ name: 'hub_guard_requests_total', help: 'Proxied requests by outcome', labelNames: ['outcome'] as const, registers }),
  blocked: new Counter({ name: 'hub_guard_blocked_total', help: 'Refused requests by reason', labelNames: ['reason'] as const, registers }),
  upstreamErrors: new Counter({ name: 'hub_guard_upstream_errors_total', help: 'Upstream connection failures', labelNames: ['code'] as const, registers }),
  routes: new Gauge({ name: 'hub_guard_routes', help: 'Routes in the routing table', registers }),
  apiRequests: new Counter({ name: 'hub_guard_api_requests_total', help: 'REST API requests by method and status', labelNames: ['method', 'status'] as const, registers }),
  maintenance: new Gauge({ name: 'hub_guard_maintenance', help: '1 while maintenance is on, by mode', labelNames: ['mode'] as const, registers }),
  dbHealthy: new Gauge({ name: 'hub_guard_db_healthy', help: '1 when the last hub DB check found nothing critical', registers }),
  dbCheckSeconds: new Histogram({ name: 'hub_guard_db_check_seconds', help: 'Duration of hub DB checks', buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers }),
  dbFindings: new Gauge({ name: 'hub_guard_db_findings', help: 'Findings of the last hub DB check', labelNames: ['check', 'severity'] as const, registers }),
  hubUsers: new Gauge({ name: 'hub_guard_hub_users', help: 'Users in the hub DB at the last check', registers }),
  stateStoreUp: new Gauge({ name: 'hub_guard_state_store_up', help: '1 while the shared state store answers', registers }),
  // registered by a proxy run with --watcher only (registerWatcherMetrics): elsewhere a 0 would read as "away"
  watcherUp: new Gauge({ name: WATCHER_UP, help: "1 while the hub-guard watch process's last report is fresh (proxies run with --watcher)", registers: [] }),
  watcherLastReport: new Gauge({ name: WATCHER_LAST_REPORT, help: 'When the watch process last reported (proxies run with --watcher)', registers: [] }),
  backupsSkipped: new Counter({ name: 'hub_guard_backups_skipped_total', help: 'Due copies of the hub DB not taken, by reason: free-space (it would leave the hub too little) or budget', labelNames: ['reason'] as const, registers }),
  consoleSigninFailures: new Counter({
    name: 'hub_guard_console_signin_failures_total',
    help: "Refused sign-ins on the operator console: wrong-token, or rate-limited (too many failures from one address)",
    labelNames: ['kind'] as const,
    registers,
  }),
  identityProblems: new Counter({ name: 'hub_guard_identity_problems_total', help: 'Hub cookies whose cookie_id is empty, malformed, shared or unknown', labelNames: ['problem'] as const, registers }),
  proxyDuration: new Histogram({
    name: 'hub_guard_proxy_duration_seconds',
    help: 'Time from request to the end of the response, for forwarded requests',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers,
  }),
};

export function registerWatcherMetrics(): void {
  for (const [m, name] of [[metrics.watcherUp, WATCHER_UP], [metrics.watcherLastReport, WATCHER_LAST_REPORT]] as const) {
    if (!registry.getSingleMetric(name)) registry.registerMetric(m);
  }
}

/** The metrics endpoint: GET /metrics, anything else 404. */
export function serveMetrics(req: IncomingMessage, res: ServerResponse): void {
  if (req.url !== '/metrics') {
    res.writeHead(404);
    res.end('Not Found');
    return;
  }
  registry.metrics().then((text) => {
    res.writeHead(200, { 'Content-Type': registry.contentType });
    res.end(text);
  }, () => {
    res.writeHead(500);
    res.end();
  });
}
