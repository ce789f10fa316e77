// Step 7a, refuse: the page for a refusal or maintenance, sent instead of forwarding, counted and logged once.
import http from 'node:http';
import { SESSION_COOKIES_TO_CLEAR } from '../../identity/sessions.js';
import { hubCookiesToClear } from '../../jupyterhub/conventions.js';
import { log } from '../../log.js';
import { metrics } from '../../metrics.js';
import { renderPage } from '../../pages/index.js';
import type { Decision } from '../../policy/decide.js';
import { REASONS } from '../../reasons.js';
import type { Answer, RequestContext } from '../context.js';
import type { PipelineDeps } from '../deps.js';
import { hubBaseOf } from './hub-base.js';

const refused = metrics.requests.labels('refused');

/** The answer for a decision that is not an allow; `clearLogin` when the hub would give this login to the wrong user. */
export function refusal(ctx: RequestContext, d: Exclude<Decision, { action: 'allow' }>, deps: PipelineDeps, clearLogin: boolean): Answer {
  const m = deps.maintenance.current;
  const identity = ctx.identity;
  const hubBase = hubBaseOf(ctx.route);
  const page = renderPage({
    kind: REASONS[d.reason].page,
    status: d.action === 'maintenance' ? 503 : d.status,
    reason: d.reason,
    // only an operator's own words are shown: automatic reasons name users, which pages never do
    message: d.action === 'maintenance' && m?.mode === 'manual' ? m.reason : undefined,
    since: d.action === 'maintenance' ? m?.since : undefined,
    contact: deps.pages.contact,
    requestId: ctx.requestId(),
    hubUrl: `${hubBase}hub/`,
  }, ctx.req.headers.accept, ctx.path.routePath, {
    maintenanceTemplate: deps.pages.template,
    clearCookies: clearLogin ? [...hubCookiesToClear(hubBase), ...SESSION_COOKIES_TO_CLEAR] : [],
  });
  return {
    ...page,
    reason: d.reason,
    log: {
      identity: identity.kind === 'user' ? identity.name : identity.kind === 'problem' ? identity.reason : 'anonymous',
      source: identity.kind === 'user' ? identity.source : undefined,
      maintenance: d.action === 'maintenance' ? m?.reason : undefined,
    },
  };
}

export function send(ctx: RequestContext, answer: Answer): void {
  refused.inc();
  metrics.blocked.labels(answer.reason).inc();
  log.warn('refused', {
    request_id: ctx.requestId(),
    reason: answer.reason,
    status: answer.status,
    method: ctx.req.method,
    path: ctx.path.routePath,
    route: ctx.route?.prefix,
    owner: ctx.route?.owner,
    ...answer.log,
  });
  const client = ctx.client;
  if (client instanceof http.ServerResponse) {
    client.writeHead(answer.status, answer.headers);
    client.end(answer.body);
  } else if (client.writable) {
    // the length is written below, for the body as sent
    const head = Object.entries(answer.headers)
      .filter(([k]) => k.toLowerCase() !== 'content-length')
      .flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => `${k}: ${x}`) : [`${k}: ${v}`]))
      .join('\r\n');
    const body = Buffer.from(answer.body);
    client.end(`HTTP/1.1 ${answer.status} ${http.STATUS_CODES[answer.status]}\r\n${head}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
  }
}
