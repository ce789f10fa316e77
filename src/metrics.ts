// The one prom-client registry; every hub_guard_* metric is declared here so names stay in one place.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'hub_guard_' });

const registers = [registry];

export const metrics = {
  requests: new Counter({ name: 'hub_guard_requests_total', help: 'Proxied requests by outcome', labelNames: ['outcome'] as const, registers }),
  blocked: new Counter({ name: 'hub_guard_blocked_total', help: 'Refused requests by reason', labelNames: ['reason'] as const, registers }),
  upstreamErrors: new Counter({ name: 'hub_guard_upstream_errors_total', help: 'Upstream connection failures', labelNames: ['code'] as const, registers }),
  routes: new Gauge({ name: 'hub_guard_routes', help: 'Routes in the routing table', registers }),
  apiRequests: new Counter({ name: 'hub_guard_api_requests_total', help: 'REST API requests by method and status', labelNames: ['method', 'status'] as const, registers }),
  proxyDuration: new Histogram({
    name: 'hub_guard_proxy_duration_seconds',
    help: 'Time from request to the end of the response, for forwarded requests',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers,
  }),
};
