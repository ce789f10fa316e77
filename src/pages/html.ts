// The built-in pages: what happened in plain words, what to do, and the request id to quote to support.
import { PAGE_CSS, PAGE_CSS_HASH, POLL_SCRIPT_HASH, pageCsp, pollScriptTag } from './assets.js';
import { escapeHtml, asText } from './escape.js';
import type { PageContext, PageKind } from './types.js';

export const BUILTIN_CSP: Readonly<Record<PageKind, string>> = {
  blocked: pageCsp({ styles: [PAGE_CSS_HASH], scripts: [] }),
  conflict: pageCsp({ styles: [PAGE_CSS_HASH], scripts: [] }),
  error: pageCsp({ styles: [PAGE_CSS_HASH], scripts: [] }),
  maintenance: pageCsp({ styles: [PAGE_CSS_HASH], scripts: [POLL_SCRIPT_HASH] }),
};

/** One sentence per answer, for JSON clients and page titles. */
export function summary(ctx: PageContext, status: number): string {
  switch (ctx.kind) {
    case 'blocked':
      return 'This server belongs to another account.';
    case 'conflict':
      return "The hub's user records are inconsistent, so this login was stopped to protect your files. Please contact support; logging out and in again will not fix it.";
    case 'maintenance':
      return asText(ctx.message).trim() || maintenanceDefault(ctx.reason);
    case 'error':
      return errorTexts(status).title + '.';
  }
}

function maintenanceDefault(reason: unknown): string {
  return reason === 'maintenance-manual'
    ? 'The hub is paused for maintenance by its administrators.'
    : 'The hub paused access while its user records are checked, to protect your files.';
}

function errorTexts(status: number): { title: string; what: string; todo: string[] } {
  if (status === 404) {
    return {
      title: 'Nothing is running at this address',
      what: 'There is no server at this address right now. If it is your own server, it may have been stopped.',
      todo: ['Go to your home page and start your server from there.'],
    };
  }
  if (status === 502 || status === 503 || status === 504) {
    return {
      title: 'The server is not answering',
      what: 'The server at this address did not answer. If it is your own server, it may be starting, stopping or stopped.',
      todo: ['Wait a minute and reload this page.', 'If that does not help, go to your home page and start your server from there.'],
    };
  }
  return {
    title: 'Something went wrong',
    what: 'This request could not be completed.',
    todo: ['Wait a minute and reload this page.'],
  };
}

export interface Since {
  iso: string;
  text: string;
}

/** ms epoch → ISO and a UTC text; nothing for values that are not a plausible time. */
export function formatSince(since: unknown): Since | null {
  if (typeof since !== 'number' || !Number.isFinite(since) || since <= 0 || since > 8.64e15) return null;
  const iso = new Date(since).toISOString();
  return { iso, text: `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` };
}

/** Only a same-origin path becomes a link: no scheme, no '//' host, no backslashes or spaces. */
export function safeHubUrl(url: unknown): string | null {
  return typeof url === 'string' && /^\/(?![/\\])[^\\\x00-\x20\x7f]*$/.test(url) ? url : null;
}

export function renderBuiltin(ctx: PageContext, status: number, pollMs: number): string {
  const home = safeHubUrl(ctx.hubUrl);
  const homeLink = home ? `<p><a class="btn" href="${escapeHtml(home)}">Go to your home page</a></p>` : '';
  let title: string;
  let body: string;
  switch (ctx.kind) {
    case 'blocked':
      title = 'This server belongs to another account';
      body =
        '<p>The address you opened leads to a server that belongs to another account, not to the one you are using. ' +
        'The request was stopped before it reached that server.</p>' +
        homeLink +
        '<ul><li>Links to someone else’s server only work for them. If someone sent you this link, ask them to share the files another way.</li>' +
        '<li>If you believe this is your own server, contact support and quote the request id below.</li></ul>';
      break;
    case 'conflict':
      title = 'We stopped your login to protect your files';
      body =
        '<p>The hub’s user records are inconsistent: your login cannot be matched safely to one account. ' +
        'So that nobody sees or changes files that are not theirs, your login was stopped.</p>' +
        '<p><strong>Logging out and in again will not fix this.</strong> Please contact support and quote the request id below; ' +
        'the hub’s records have to be repaired first.</p>';
      break;
    case 'maintenance': {
      title = 'The hub is down for maintenance';
      const message = asText(ctx.message).trim();
      const since = formatSince(ctx.since);
      const seconds = Math.max(1, Math.round(pollMs / 1000));
      body =
        (message ? `<p class="msg">${escapeHtml(message)}</p>` : `<p>${escapeHtml(maintenanceDefault(ctx.reason))}</p>`) +
        (since ? `<p>Since <time datetime="${since.iso}" data-local>${since.text}</time>.</p>` : '') +
        `<p id="hg-auto" hidden>You can leave this page open: it checks every ${seconds} seconds and takes you back by itself when the hub is available again.</p>` +
        '<noscript><p>Reload this page later to try again.</p></noscript>';
      break;
    }
    case 'error': {
      const t = errorTexts(status);
      title = t.title;
      body = `<p>${t.what}</p>${homeLink}<ul>${t.todo.map((x) => `<li>${x}</li>`).join('')}</ul>`;
      break;
    }
  }
  const contact = asText(ctx.contact).trim();
  const ref =
    '<footer class="ref">' +
    `<p>Request id: <code>${escapeHtml(ctx.requestId)}</code> (quote it when you contact support)</p>` +
    (contact ? `<p>Contact: ${escapeHtml(contact)}</p>` : '') +
    `<p>Details: ${status} · ${escapeHtml(ctx.reason)}</p>` +
    '</footer>';
  const script = ctx.kind === 'maintenance' ? pollScriptTag(pollMs) : '';
  return (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    '<meta name="robots" content="noindex"><link rel="icon" href="data:,">' +
    `<title>${title}</title><style>${PAGE_CSS}</style></head>` +
    `<body class="k-${ctx.kind}"><main><h1>${title}</h1>${body}${ref}</main>${script}</body></html>\n`
  );
}
