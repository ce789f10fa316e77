// The operator console under /guard/ on the API port: the status page, a sign-in for browsers (which cannot send
// the Authorization header), and maintenance switched by a form. curl keeps using the header on the same URLs.
//
// Requests that change something (sign-out, maintenance) need the console session *and* its CSRF token: the public
// port is the same site as the API port (browsers ignore ports there), so SameSite=Strict alone would let a page
// served through the public port, a user's notebook say, post here with the operator's cookie.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { hostname } from 'node:os';
import { Router, type Request, type Response } from 'express';
import { parseCookies } from '../identity/cookies.js';
import { log } from '../log.js';
import { metrics } from '../metrics.js';
import { PAGE_HEADER } from '../pages/assets.js';
import { renderConfirmClear, renderConsoleMessage, renderSignInPage } from '../pages/console.js';
import { renderStatusPage, STATUS_CSP } from '../pages/status.js';
import { tokenFrom } from './auth.js';
import { CONSOLE_COOKIE, CONSOLE_PATH, ConsoleSessions, SESSION_TTL_MS, type ConsoleSession } from './console-session.js';
import { FailureLimiter } from './rate-limit.js';
import { RefusalHistory, statusView, type StatusPageDeps } from './status-page.js';

export interface ConsoleDeps extends StatusPageDeps {
  /** Defaults to sessions under a salt of this router's own (they then verify in this process only). */
  sessions?: ConsoleSessions;
  limiter?: FailureLimiter;
  /** The API port speaks TLS: the cookie gets Secure. A X-Forwarded-Proto is not taken for it (nothing to trust). */
  secure?: boolean;
}

const FORM_LIMIT = 8 * 1024;
const REASON_MAX = 2000;

type Caller = { via: 'open' | 'header' } | { via: 'session'; session: ConsoleSession };

export function consolePage(d: ConsoleDeps): Router {
  const router = Router();
  const refusals = d.refusals ?? new RefusalHistory().start();
  const instance = d.instance ?? hostname();
  const sessions = d.sessions ?? new ConsoleSessions(d.tokens, randomBytes(32));
  const limiter = d.limiter ?? new FailureLimiter();
  const cookie = (value: string, maxAgeSec: number) =>
    `${CONSOLE_COOKIE}=${value}; Path=${CONSOLE_PATH}; Max-Age=${maxAgeSec}; HttpOnly; SameSite=Strict${d.secure ? '; Secure' : ''}`;

  function caller(req: Request): Caller | undefined {
    const expected = d.tokens().filter((t): t is string => !!t);
    // no token configured: the API port is open, as configurable-http-proxy's is (and the console read-only)
    if (expected.length === 0) return { via: 'open' };
    const given = tokenFrom(req.headers.authorization);
    if (given !== undefined && sessions.tokenMatches(given)) return { via: 'header' };
    const session = sessions.verify(parseCookies(req.headers.cookie).get(CONSOLE_COOKIE));
    return session ? { via: 'session', session } : undefined;
  }

  // A token in a URL lands in browser history, shell history and access logs: refused on every path, whatever else
  // the request carries, and never answered with a cookie.
  router.use((req, res, next) => {
    if (!queryHasToken(req.url)) return next();
    log.warn('console: refused a token in the URL', { from: address(req) });
    sendPage(res, 403, renderSignInPage({
      message: 'A token in the URL is refused: it would stay in browser history, shell history and access logs. Sign in with this form, ' +
        'or send it in the Authorization header. A token that was sent in a URL is better rotated.',
    }));
  });

  router.get(['/', '/status'], guarded(async (req, res) => {
    const who = caller(req);
    // the cookie's path is /guard/: at /guard a browser would not send it, and the form would seem to fail
    if (req.originalUrl.split('?')[0] === '/guard' && who?.via !== 'header' && who?.via !== 'open') {
      res.writeHead(303, { location: CONSOLE_PATH, 'cache-control': 'no-store' });
      res.end();
      return;
    }
    if (!who) {
      sendPage(res, 403, renderSignInPage());
      return;
    }
    await sendStatus(res, 200, who);
  }));

  router.post('/sign-in', guarded(async (req, res) => {
    if (!sessions.enabled) return redirect(res);
    const from = address(req);
    const wait = limiter.retryAfter(from);
    if (wait > 0) {
      metrics.consoleSigninFailures.labels('rate-limited').inc();
      log.warn('console sign-in refused: too many failures', { from });
      sendPage(res, 429, renderSignInPage({ message: `Too many wrong tokens from ${from}. Try again in ${wait} s.` }), { 'retry-after': String(wait) });
      return;
    }
    const form = await readForm(req);
    if (typeof form === 'number') return sendPage(res, form, renderSignInPage({ message: 'That was not a sign-in form.' }));
    if (!sessions.tokenMatches(form.get('token') ?? '')) {
      limiter.fail(from);
      metrics.consoleSigninFailures.labels('wrong-token').inc();
      log.warn('console sign-in refused: wrong token', { from });
      sendPage(res, 403, renderSignInPage({ message: 'That is not the operator token.' }));
      return;
    }
    const { value } = sessions.issue();
    log.info('console sign-in', { from });
    redirect(res, cookie(value, Math.floor(SESSION_TTL_MS / 1000)));
  }));

  router.post('/sign-out', guarded(async (req, res) => {
    const who = caller(req);
    if (who?.via !== 'session') return redirect(res, cookie('', 0));
    const form = await readForm(req);
    if (typeof form === 'number' || crossSite(req, d.secure) || !sessions.csrfMatches(who.session, form.get('csrf'))) return refuseForm(req, res);
    log.info('console sign-out', { from: address(req) });
    redirect(res, cookie('', 0));
  }));

  router.post('/maintenance', guarded(async (req, res) => {
    const who = caller(req);
    if (who?.via !== 'session') {
      sendPage(res, 403, renderSignInPage({ message: 'Sign in to switch maintenance (scripts use PUT and DELETE on /api/guard/maintenance).' }));
      return;
    }
    const form = await readForm(req);
    if (typeof form === 'number' || crossSite(req, d.secure) || !sessions.csrfMatches(who.session, form.get('csrf'))) return refuseForm(req, res);
    const by = `console from ${address(req)}`;
    const reason = (form.get('reason') ?? '').trim();
    const action = form.get('action');
    if (action === 'on') {
      if (!reason || reason.length > REASON_MAX) {
        await sendStatus(res, 400, who, `Say why, in at most ${REASON_MAX} characters: users read the reason on the maintenance page.`);
        return;
      }
      await d.maintenance.on('manual', reason, by);
      return redirect(res);
    }
    if (action === 'off') {
      const m = d.maintenance.current;
      if (!m) return redirect(res);
      if (m.mode === 'auto') {
        const since = form.get('since');
        const confirmed = form.get('confirm') === 'yes' && since === String(m.since);
        if (!confirmed) {
          const view = await statusView(d, refusals, instance);
          const message = since !== null && since !== String(m.since)
            ? 'The maintenance changed while you were confirming: check what holds it now.'
            : since !== null ? 'Tick the box to confirm.' : undefined;
          sendPage(res, 200, renderConfirmClear({
            now: view.now, csrf: sessions.csrf(who.session), reason: reason.slice(0, REASON_MAX), message,
            maintenance: { reason: m.reason, since: m.since, by: m.by, findings: m.findings },
            critical: (view.db?.findings ?? []).filter((f) => f.severity === 'critical'),
          }));
          return;
        }
      }
      await d.maintenance.off(by, reason.slice(0, REASON_MAX) || 'cleared from the console');
      return redirect(res);
    }
    sendPage(res, 400, renderConsoleMessage('Unknown action', 'The form asked for something the console does not do.'));
  }));

  async function sendStatus(res: Response, status: number, who: Caller, error?: string): Promise<void> {
    const view = await statusView(d, refusals, instance);
    if (who.via === 'session') view.console = { csrf: sessions.csrf(who.session), error };
    sendPage(res, status, renderStatusPage(view));
  }

  /** A store that fails answers one request with a plain 500; the log says why, the page says nothing of it. */
  function guarded(handler: (req: Request, res: Response) => Promise<void>) {
    return (req: Request, res: Response) => {
      handler(req, res).catch((e: unknown) => {
        log.error('console: could not read or change the state', { error: String(e) });
        if (res.headersSent) return res.end();
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
        res.end("could not read hub-guard's state; its log says why\n");
      });
    };
  }

  return router;
}

function refuseForm(req: Request, res: Response): void {
  log.warn('console: refused a form without its session\'s CSRF token', { from: address(req), path: req.path });
  sendPage(res, 403, renderConsoleMessage('Form refused',
    'This form did not come from your console session (its CSRF token is missing or wrong, or it was sent from another site). Reload the status page and try again.'));
}

/** After a change: 303 to the page, so a reload does not post again. */
function redirect(res: Response, setCookie?: string): void {
  res.writeHead(303, { location: `${CONSOLE_PATH}status`, 'cache-control': 'no-store', ...(setCookie ? { 'set-cookie': setCookie } : {}) });
  res.end();
}

function sendPage(res: Response, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'content-security-policy': STATUS_CSP,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    [PAGE_HEADER]: 'status',
    ...headers,
  });
  res.end(body);
}

function address(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}

function queryHasToken(url: string): boolean {
  const q = url.indexOf('?');
  if (q < 0) return false;
  for (const name of new URLSearchParams(url.slice(q + 1)).keys()) if (/^(?:access_)?token$/i.test(name)) return true;
  return false;
}

/**
 * A post from another origin. Browsers say so in Sec-Fetch-Site, or in an Origin that differs from this host. An
 * Origin of "null" is what a page with Referrer-Policy no-referrer (these pages) sends for its own forms, so it is
 * no evidence either way; the CSRF token decides.
 */
function crossSite(req: IncomingMessage, secure: boolean | undefined): boolean {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin') return true;
  const origin = req.headers.origin;
  if (typeof origin !== 'string' || origin === 'null') return false;
  return origin !== `${secure ? 'https' : 'http'}://${req.headers.host ?? ''}`;
}

/** The body of an HTML form as URL-encoded fields; a status code for anything else. */
async function readForm(req: IncomingMessage): Promise<URLSearchParams | number> {
  const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return 415;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > FORM_LIMIT) return 413;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
