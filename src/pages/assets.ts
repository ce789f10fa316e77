// The inline style and script every page carries, and their CSP hashes, computed once at load.
import { createHash } from 'node:crypto';

/** Names the page that answered; the poll script looks for it, and operators and tests can too. */
export const PAGE_HEADER = 'x-hub-guard-page';

/** CSP source for an inline block: the exact text between the tags. */
export function cspHash(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

export const PAGE_CSS = [
  ':root{color-scheme:light dark;--bg:#f3f4f6;--fg:#1c2230;--card:#fff;--muted:#586174;--line:#d8dce3;--accent:#1f5fbf;--mark:#1f5fbf}',
  '@media (prefers-color-scheme:dark){:root{--bg:#13161b;--fg:#e6e9ef;--card:#1c2028;--muted:#a2aab7;--line:#2f3541;--accent:#86b4ff;--mark:#86b4ff}}',
  '.k-blocked{--mark:#c0392b}.k-conflict{--mark:#b35c00}.k-maintenance{--mark:#1f5fbf}.k-error{--mark:#6b7280}',
  '*{box-sizing:border-box}',
  'html{-webkit-text-size-adjust:100%;text-size-adjust:100%}',
  'body{margin:0;padding:0 1rem;background:var(--bg);color:var(--fg);font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;overflow-wrap:anywhere}',
  'main{max-width:40rem;margin:8vh auto 2rem;padding:1.5rem;background:var(--card);border:1px solid var(--line);border-top:6px solid var(--mark);border-radius:12px}',
  'h1{font-size:1.5rem;line-height:1.25;margin:0 0 1rem}',
  'p,ul{margin:0 0 1rem}ul{padding-left:1.25rem}li{margin:.25rem 0}',
  '.msg{white-space:pre-line;padding:.75rem 1rem;border-left:4px solid var(--mark);background:var(--bg);border-radius:4px}',
  '.btn{display:inline-block;margin:.25rem 0 1rem;padding:.6rem 1.1rem;border-radius:8px;background:var(--accent);color:var(--card);font-weight:600;text-decoration:none}',
  '.btn:focus-visible{outline:3px solid var(--fg);outline-offset:2px}',
  '.ref{margin:1.5rem 0 0;padding-top:1rem;border-top:1px solid var(--line);color:var(--muted);font-size:.9rem}',
  '.ref p{margin:0 0 .4rem}',
  'code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.95em;background:var(--bg);color:var(--fg);padding:.1rem .35rem;border-radius:4px}',
].join('\n');

/**
 * Runs on maintenance pages: shows times in the reader's zone, then asks the same URL again every data-poll-ms
 * (with jitter, so pages left open do not return all at once) and navigates back once the answer is no longer
 * the maintenance page. 502/504 and network errors mean "still down" (the guard or a proxy in front restarting);
 * a redirect (manual mode: the hub may send to a login on another origin) means "back". location.replace
 * re-fetches with GET, so a page that answered a form POST does not resubmit; with a fragment only reload()
 * loads the document again.
 */
export const POLL_SCRIPT = `(function () {
  var me = document.currentScript;
  var ms = Number(me && me.getAttribute('data-poll-ms')) || 15000;
  var times = document.querySelectorAll('time[data-local]');
  for (var i = 0; i < times.length; i++) {
    var d = new Date(times[i].getAttribute('datetime'));
    if (!isNaN(d.getTime())) times[i].textContent = d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  }
  var auto = document.getElementById('hg-auto');
  if (auto) auto.hidden = false;
  if (!window.fetch) return;
  function stillDown(r) {
    if (r.type === 'opaqueredirect') return false;
    if (r.status === 502 || r.status === 504) return true;
    return r.status === 503 && r.headers.get('${PAGE_HEADER}') === 'maintenance';
  }
  function back() {
    if (location.hash) location.reload();
    else location.replace(location.href);
  }
  function later() {
    setTimeout(poll, ms * (0.75 + Math.random() * 0.5));
  }
  function poll() {
    fetch(location.href, { headers: { Accept: 'text/html' }, cache: 'no-store', credentials: 'same-origin', redirect: 'manual' })
      .then(function (r) {
        if (r.body) r.body.cancel().catch(function () {});
        if (stillDown(r)) later();
        else back();
      }, later);
  }
  later();
})();`;

/** The script as placed in a page; the interval sits in an attribute so the hashed text never changes. */
export function pollScriptTag(pollMs: number): string {
  return `<script data-poll-ms="${pollMs}">${POLL_SCRIPT}</script>`;
}

export const PAGE_CSS_HASH = cspHash(PAGE_CSS);
export const POLL_SCRIPT_HASH = cspHash(POLL_SCRIPT);

export interface CspSources {
  styles: string[];
  scripts: string[];
  /** The page's scripts fetch from its own origin (default: whenever it has scripts). */
  connect?: boolean;
  /** The page has forms that post to its own origin (the operator console). */
  forms?: boolean;
}

/** Nothing loads from anywhere but the page itself; only the hashed inline blocks run. */
export function pageCsp({ styles, scripts, connect = scripts.length > 0, forms = false }: CspSources): string {
  const parts = ["default-src 'none'", 'img-src data:', 'font-src data:'];
  if (styles.length) parts.push(`style-src ${styles.join(' ')}`);
  if (scripts.length) parts.push(`script-src ${scripts.join(' ')}`);
  if (connect) parts.push("connect-src 'self'");
  parts.push("base-uri 'none'", `form-action ${forms ? "'self'" : "'none'"}`, "frame-ancestors 'none'");
  return parts.join('; ');
}

export const JSON_CSP = "default-src 'none'; frame-ancestors 'none'";
