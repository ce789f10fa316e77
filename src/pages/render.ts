// One refusal or maintenance answer: status, headers and body, computed without I/O.
import { JSON_CSP, PAGE_HEADER, pollScriptTag } from './assets.js';
import { clearCookieHeaders } from './cookies.js';
import { asText, escapeHtml } from './escape.js';
import { BUILTIN_CSP, formatSince, renderBuiltin, summary } from './html.js';
import { wantsJson } from './negotiate.js';
import type { MaintenanceTemplate, TemplateKey } from './template.js';
import type { PageAnswer, PageContext, PageKind, PageOptions } from './types.js';

const DEFAULT_STATUS: Record<PageKind, number> = { blocked: 403, conflict: 409, maintenance: 503, error: 502 };
const DEFAULT_RETRY_AFTER_SEC = 30;
const DEFAULT_POLL_MS = 15_000;

export function renderPage(ctx: PageContext, accept: string | undefined, path: string, opts: PageOptions = {}): PageAnswer {
  const kind: PageKind = Object.hasOwn(DEFAULT_STATUS, ctx.kind) ? ctx.kind : 'error';
  const c: PageContext = kind === ctx.kind ? ctx : { ...ctx, kind };
  const status = Number.isInteger(c.status) && c.status >= 400 && c.status <= 599 ? c.status : DEFAULT_STATUS[kind];

  let body: string;
  const headers: Record<string, string | string[]> = {};
  if (wantsJson(accept, path)) {
    body = jsonBody(c, status);
    headers['content-type'] = 'application/json; charset=utf-8';
    headers['content-security-policy'] = JSON_CSP;
  } else {
    const pollMs = pollInterval(opts.pollIntervalMs);
    const template = kind === 'maintenance' ? opts.maintenanceTemplate : undefined;
    body = template ? fillTemplate(template, c, pollMs) : renderBuiltin(c, status, pollMs);
    headers['content-type'] = 'text/html; charset=utf-8';
    headers['content-security-policy'] = template ? template.csp : BUILTIN_CSP[kind];
  }
  headers['content-length'] = String(Buffer.byteLength(body));
  headers['cache-control'] = 'no-store';
  headers['x-content-type-options'] = 'nosniff';
  headers['referrer-policy'] = 'no-referrer';
  headers[PAGE_HEADER] = kind;
  if (status === 503) headers['retry-after'] = String(retryAfter(c.retryAfterSec));
  const cookies = clearCookieHeaders(opts.clearCookies);
  if (cookies.length) headers['set-cookie'] = cookies;
  return { status, headers, body };
}

function jsonBody(ctx: PageContext, status: number): string {
  const out: Record<string, string | number> = {
    status,
    kind: ctx.kind,
    reason: asText(ctx.reason),
    message: summary(ctx, status),
    request_id: asText(ctx.requestId),
  };
  if (ctx.kind === 'maintenance') {
    const since = formatSince(ctx.since);
    if (since) out.since = since.iso;
  }
  const contact = asText(ctx.contact).trim();
  if (contact) out.contact = contact;
  if (status === 503) out.retry_after = retryAfter(ctx.retryAfterSec);
  // '<' escaped too, so the body stays inert even if some client renders it as HTML
  return JSON.stringify(out).replace(/</g, '\\u003c');
}

function fillTemplate(t: MaintenanceTemplate, ctx: PageContext, pollMs: number): string {
  const since = formatSince(ctx.since);
  const values: Record<TemplateKey, string> = {
    reason: escapeHtml(summary(ctx, 503)),
    since: since ? since.text : '',
    contact: escapeHtml(asText(ctx.contact).trim()),
    request_id: escapeHtml(ctx.requestId),
  };
  let out = '';
  for (const part of t.parts) {
    if (typeof part === 'string') out += part;
    else if ('key' in part) out += values[part.key];
    else out += pollScriptTag(pollMs);
  }
  return out;
}

function retryAfter(sec: unknown): number {
  return typeof sec === 'number' && Number.isFinite(sec) && sec >= 0 ? Math.min(Math.round(sec), 86_400) : DEFAULT_RETRY_AFTER_SEC;
}

function pollInterval(ms: unknown): number {
  return typeof ms === 'number' && Number.isFinite(ms) ? Math.min(Math.max(Math.round(ms), 100), 300_000) : DEFAULT_POLL_MS;
}
