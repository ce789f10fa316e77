// The operator console's other pages: sign-in, the confirmation before clearing automatic maintenance, and the
// short answers to a refused post. They share the status page's stylesheet and CSP (status.ts), so one policy
// covers everything under /guard/.
import { escapeHtml } from './escape.js';
import { ago, csrfField, findingsList, pageHead, time, type StatusFinding } from './status.js';

export interface SignInView {
  /** Why the form is shown again: a wrong token, too many tries, a token in the URL. */
  message?: string;
}

export function renderSignInPage(v: SignInView = {}): string {
  const message = v.message ? `<p class="alert" role="alert">${escapeHtml(v.message)}</p>` : '';
  return (
    pageHead('hub-guard console: sign in', v.message ? 'k-blocked' : 'k-maintenance', 'narrow') +
    '<h1>hub-guard console</h1>' +
    message +
    '<form method="post" action="/guard/sign-in">' +
    '<label for="token">Operator token</label>' +
    '<input type="password" id="token" name="token" required autocomplete="current-password" autofocus>' +
    '<p class="muted">hub-guard’s <code>--operator-token</code>, <code>HUB_GUARD_OPERATOR_TOKEN</code> or, without those, ' +
    '<code>CONFIGPROXY_AUTH_TOKEN</code>. The session lasts 8 hours and ends when the token changes.</p>' +
    '<div class="buttons"><button type="submit">Sign in</button></div></form>' +
    '<p class="muted">From a shell: <code>curl -H \'Authorization: token &lt;operator token&gt;\' &lt;this URL&gt;</code>. ' +
    'Never put the token in the URL.</p>' +
    '</main></body></html>\n'
  );
}

export interface ConfirmClearView {
  now: number;
  csrf: string;
  /** The automatic maintenance being cleared. */
  maintenance: { reason: string; since: number; by: string; findings?: string[] };
  /** What the watchdog finds critical right now. */
  critical: StatusFinding[];
  /** The reason the operator typed, carried over to the confirmed post. */
  reason: string;
  /** Why it is asked again (the maintenance changed meanwhile, the box was not ticked). */
  message?: string;
}

/**
 * The second step of clearing automatic maintenance: it names what is still wrong, and the post only counts with
 * the box ticked and for the maintenance shown here (its start time travels along).
 */
export function renderConfirmClear(v: ConfirmClearView): string {
  const m = v.maintenance;
  const message = v.message ? `<p class="alert" role="alert">${escapeHtml(v.message)}</p>` : '';
  const latched = Array.isArray(m.findings) && m.findings.length
    ? ` for ${m.findings.map((f) => `<code>${escapeHtml(f)}</code>`).join(', ')}`
    : '';
  const still = v.critical.length
    ? `<p><strong>The watchdog still finds ${v.critical.length === 1 ? 'this critical problem' : `these ${v.critical.length} critical problems`}:</strong></p>` +
      findingsList(v.critical) +
      '<p>While they remain, the watchdog switches maintenance back on at its next check, and users meanwhile reach a hub on a database that looks wrong.</p>'
    : '<p>The watchdog finds nothing critical now. It does not clear maintenance itself because only a person can tell that the database is the right one (a restore from the right backup, say).</p>';
  const label = v.critical.length
    ? 'I know these problems are not fixed; clear maintenance anyway'
    : 'I have checked the hub database and it is the right one';
  return (
    pageHead('hub-guard: clear automatic maintenance?', v.critical.length ? 'k-blocked' : 'k-maintenance') +
    '<h1>Clear automatic maintenance?</h1>' +
    message +
    `<p>The database watchdog switched maintenance on ${time(m.since)} (${ago(v.now, m.since)})${latched}.</p>` +
    `<p class="msg">${escapeHtml(m.reason)}</p>` +
    still +
    `<form method="post" action="/guard/maintenance" class="panel">${csrfField(v.csrf)}` +
    `<input type="hidden" name="since" value="${escapeHtml(m.since)}">` +
    `<input type="hidden" name="reason" value="${escapeHtml(v.reason)}">` +
    `<label class="check"><input type="checkbox" name="confirm" value="yes" required> <span>${label}</span></label>` +
    '<div class="buttons"><button type="submit" name="action" value="off">Clear maintenance</button>' +
    '<a class="btn" href="/guard/status">Cancel</a></div></form>' +
    '</main></body></html>\n'
  );
}

/** A refused post that is not about the token: a stale or forged form, an unknown action. */
export function renderConsoleMessage(title: string, text: string): string {
  return (
    pageHead(`hub-guard: ${title}`, 'k-blocked', 'narrow') +
    `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>` +
    '<p><a class="btn" href="/guard/status">Back to the status page</a></p>' +
    '</main></body></html>\n'
  );
}
