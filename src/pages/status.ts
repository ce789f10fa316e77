// The operators' status page, which is the operator console: one self-contained HTML document whose only script
// filters the routes table (the page works without it). Everything shown comes from routes, the state store or the
// hub DB, so every value is escaped and only fixed class names reach attributes. The forms post to the console's
// own paths on the API port; the CSRF token they carry is the only value of the caller's that goes into one.
import { PAGE_CSS, cspHash, pageCsp } from './assets.js';
import { asText, escapeHtml } from './escape.js';
import { formatSince } from './html.js';

export interface StatusFinding {
  check: string;
  severity: string;
  message: string;
  /** What an operator should do about it, in words. */
  advice?: string;
  /** The commands to run for it, in order, ready to paste. */
  commands?: string[];
}

/** One finished check of the hub database. */
export interface StatusCheck {
  at: number;
  ms: number;
  state: string;
  critical: number;
  warnings: number;
  error?: string;
}

/** A hub-guard process that wrote its heartbeat into the shared state lately. */
export interface StatusReplica {
  instance: string;
  version: string;
  maintenance: string;
  db: string;
  at: number;
}

/** What a signed-in console session may do; absent for a page opened with the Authorization header (read-only). */
export interface ConsoleControls {
  csrf: string;
  /** Why the last post was refused (a missing reason, say), shown above the form. */
  error?: string;
}

/** One line of the maintenance audit trail as the store holds it; read back from JSON, so anything may be off. */
export interface StatusAudit {
  time?: unknown;
  action?: unknown;
  mode?: unknown;
  by?: unknown;
  reason?: unknown;
  findings?: unknown;
}

export interface StatusRoute {
  prefix: string;
  /** Who the route serves: a hub user's server, the hub, a service, or something else the hub added. */
  kind: 'user' | 'hub' | 'service' | 'other';
  /** The user or service name. */
  name?: string;
  target: string;
  lastActivity: number;
  /** The newer of two user routes to one target, refused until the older one is gone. */
  refused: boolean;
}

/** Refusals per minute by reason; counts[i] belongs to the minute starting at start + i minutes. */
export interface RefusalSeries {
  start: number;
  reasons: { reason: string; counts: number[] }[];
  /** When counting began (the process start); minutes before it are unknown, not zero. */
  since: number;
}

export interface StatusView {
  now: number;
  /** Which replica answered: each one counts its own refusals. */
  instance: string;
  maintenance?: { mode: string; reason: string; since: number; by: string; findings?: string[] };
  history: StatusAudit[];
  db?: { state: string; lastCheck?: { at: number; ms: number; error?: string }; findings: StatusFinding[] };
  baseline?: { highWater: number; users: number; updatedAt: number };
  routes: StatusRoute[];
  conflicts: { target: string; routes: string[] }[];
  refusals: RefusalSeries;
  /** Where routes, maintenance and baselines live; a shared store may be down while this instance serves on. */
  store?: { where: string; up: boolean };
  /** The watchdog's last few checks, oldest first. */
  checks?: StatusCheck[];
  /** Replicas seen in the last minute (this one among them); absent when nobody keeps heartbeats. */
  replicas?: StatusReplica[];
  console?: ConsoleControls;
}

export const MAX_ROUTES_SHOWN = 2000;
const HISTORY_SHOWN = 50;
const CHART_REASONS = 9; // the tenth colour is "other"

export const STATUS_CSS = [
  PAGE_CSS,
  '.k-ok{--mark:#2e7d32}',
  'main{max-width:72rem;margin:1.5rem auto;padding:1.25rem}',
  'h2{font-size:1.15rem;margin:1.75rem 0 .6rem}',
  '.sum{display:grid;grid-template-columns:repeat(auto-fit,minmax(8.5rem,1fr));gap:.6rem;margin:0 0 1rem}',
  '.sum div{padding:.5rem .75rem;border:1px solid var(--line);border-radius:8px;background:var(--bg)}',
  '.sum dt{font-size:.8rem;color:var(--muted)}.sum dd{margin:0;font-weight:600}',
  'table{width:100%;border-collapse:collapse;font-size:.9rem}',
  'th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid var(--line)}',
  'th{color:var(--muted);font-weight:600}',
  // short columns keep to one line beside a long reason
  '@media (min-width:40.01rem){th,td[data-label=When],td[data-label=Switch],td[data-label=Mode],td[data-label=Took]{white-space:nowrap}td[data-label=By]{min-width:12rem}}',
  'tr.refused td,tr.bad td{background:rgba(192,57,43,.14)}',
  // on a phone each row becomes a small card, its cells labelled, instead of columns one letter wide
  '@media (max-width:40rem){thead{display:none}table,tbody,tr,td{display:block;width:100%}' +
    'tr{border-bottom:1px solid var(--line);padding:.4rem 0}td{border:0;padding:.1rem 0}' +
    'td::before{content:attr(data-label) ": ";color:var(--muted);font-size:.8rem}}',
  '.sev{display:inline-block;padding:0 .4rem;border-radius:4px;font-size:.8rem;font-weight:600;color:#fff;background:#6b7280}',
  '.sev-critical{background:#c0392b}.sev-warning{background:#a35200}',
  '.muted{color:var(--muted)}',
  '.chart{margin:0 0 .5rem}.chart svg{display:block;width:100%;height:9rem}',
  '.chart .grid{stroke:var(--line);stroke-width:1}',
  '.ticks{display:flex;justify-content:space-between;gap:1rem;font-size:.8rem;color:var(--muted)}',
  '.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.2rem 1.2rem}',
  '.sw{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.35rem;vertical-align:-.05rem}',
  // the console's forms and the routes filter
  '[hidden]{display:none!important}',
  '.top{display:flex;flex-wrap:wrap;align-items:baseline;justify-content:space-between;gap:.5rem 1rem}.top h1{margin:0 0 .5rem}',
  'label{display:block;font-weight:600;margin:0 0 .3rem}',
  'input[type=text],input[type=password],input[type=search]{font:inherit;width:100%;padding:.5rem .65rem;border:1px solid var(--line);border-radius:8px;background:var(--card);color:var(--fg)}',
  'input:focus-visible,button:focus-visible{outline:3px solid var(--accent);outline-offset:1px}',
  'button{font:inherit;font-weight:600;padding:.55rem 1.1rem;border-radius:8px;border:1px solid transparent;background:var(--accent);color:var(--card);cursor:pointer}',
  'button.hold{background:#c0392b;color:#fff}button.quiet{background:transparent;color:var(--fg);border-color:var(--line)}',
  'button:disabled{opacity:.4;cursor:not-allowed}',
  '.buttons{display:flex;flex-wrap:wrap;align-items:center;gap:.6rem;margin:.75rem 0 0}',
  '.buttons .btn{margin:0;padding:.55rem 1.1rem;background:transparent;color:var(--fg);border:1px solid var(--line)}',
  '.panel{padding:1rem;border:1px solid var(--line);border-radius:10px;background:var(--bg);margin:0 0 1rem}',
  '.alert{padding:.6rem .85rem;border-radius:8px;border-left:4px solid #c0392b;background:rgba(192,57,43,.12);margin:0 0 1rem}',
  '.check{display:flex;gap:.5rem;align-items:flex-start;font-weight:400}.check input{margin-top:.35rem}',
  '.findings{list-style:none;padding:0}.findings>li{padding:.75rem 0;border-bottom:1px solid var(--line)}',
  '.advice{margin:.4rem 0}',
  'pre.cmd{margin:.4rem 0 0;padding:.6rem .8rem;overflow-x:auto;border-radius:8px;background:var(--bg);border:1px solid var(--line);font-size:.85rem}',
  'pre.cmd code{padding:0;background:none}',
  '.filter{display:flex;align-items:center;gap:.75rem;margin:0 0 .6rem}.filter input{max-width:22rem}',
  'main.narrow{max-width:28rem;margin-top:12vh}',
  ...['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'].map(
    (colour, i) => `.c${i}{fill:${colour};background:${colour}}`,
  ),
].join('\n');

/** Hides the routes that do not contain the filter's text; without it every route is simply listed. */
export const FILTER_SCRIPT = `(function () {
  var box = document.getElementById('route-filter');
  var table = document.getElementById('routes');
  if (!box || !table) return;
  var rows = table.tBodies[0].rows;
  var count = document.getElementById('route-count');
  box.closest('.filter').hidden = false;
  function apply() {
    var q = box.value.trim().toLowerCase();
    var shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var hit = !q || rows[i].textContent.toLowerCase().indexOf(q) !== -1;
      rows[i].hidden = !hit;
      if (hit) shown++;
    }
    count.textContent = q ? shown + ' of ' + rows.length + ' shown' : '';
  }
  box.addEventListener('input', apply);
  apply();
})();`;

/** Every console page: the one stylesheet and script by their hashes, forms only to the API port itself. */
export const STATUS_CSP = pageCsp({ styles: [cspHash(STATUS_CSS)], scripts: [cspHash(FILTER_SCRIPT)], connect: false, forms: true });

/** The head of every console page, up to and including the opening <main>. */
export function pageHead(title: string, tone: string, mainClass = ''): string {
  return (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    '<meta name="robots" content="noindex"><meta name="referrer" content="no-referrer"><link rel="icon" href="data:,">' +
    `<title>${escapeHtml(title)}</title><style>${STATUS_CSS}</style></head>` +
    `<body class="${tone}"><main${mainClass ? ` class="${mainClass}"` : ''}>`
  );
}

/** The session's CSRF token as a form field. */
export function csrfField(csrf: string): string {
  return `<input type="hidden" name="csrf" value="${escapeHtml(csrf)}">`;
}

export function renderStatusPage(v: StatusView): string {
  const critical = (v.db?.findings ?? []).filter((f) => f.severity === 'critical').length;
  const tone = v.maintenance ? 'k-maintenance' : critical > 0 ? 'k-blocked' : 'k-ok';
  const signOut = v.console
    ? `<form method="post" action="/guard/sign-out">${csrfField(v.console.csrf)}<button class="quiet" type="submit">Sign out</button></form>`
    : '';
  return (
    pageHead('hub-guard status', tone) +
    `<div class="top"><h1>hub-guard status</h1>${signOut}</div>` +
    `<p class="muted">Instance <code>${escapeHtml(v.instance)}</code> · ${time(v.now)} · reload for fresh numbers; ` +
    'the same data as JSON: <code>GET /api/guard/status</code></p>' +
    summary(v, critical) +
    maintenanceSection(v) +
    storeSection(v.store) +
    findingsSection(v) +
    refusalsSection(v.refusals, v.now) +
    replicasSection(v) +
    routesSection(v) +
    historySection(v.history) +
    `</main><script>${FILTER_SCRIPT}</script></body></html>\n`
  );
}

function summary(v: StatusView, critical: number): string {
  const findings = v.db?.findings ?? [];
  const refusals = v.refusals.reasons.reduce((sum, r) => sum + r.counts.reduce((a, b) => a + b, 0), 0);
  const items: [string, string][] = [
    ['Maintenance', v.maintenance ? `on (${escapeHtml(v.maintenance.mode)})` : 'off'],
    ['Hub database', v.db ? escapeHtml(v.db.state) : 'not watched'],
    ['Findings', `${critical} critical, ${findings.length - critical} other`],
    ['Routes', `${v.routes.length}${v.conflicts.length ? `, ${v.conflicts.length} shared target${v.conflicts.length > 1 ? 's' : ''}` : ''}`],
    ['Refusals, last hour', String(refusals)],
  ];
  if (v.store) items.push(['State store', v.store.up ? 'up' : '<strong>unreachable</strong>']);
  return `<dl class="sum">${items.map(([k, val]) => `<div><dt>${k}</dt><dd>${val}</dd></div>`).join('')}</dl>`;
}

function maintenanceSection(v: StatusView): string {
  const m = v.maintenance;
  if (!m) return `<h2>Maintenance</h2><p>Off: requests are routed normally.</p>${controls(v)}`;
  const findings = Array.isArray(m.findings) && m.findings.length ? `<p>Findings: ${m.findings.map((f) => `<code>${escapeHtml(f)}</code>`).join(' ')}</p>` : '';
  const how = m.mode === 'auto'
    ? 'Switched on by the database watchdog; it stays on until an operator switches it off here or runs <code>hub-guard maintenance off</code> (or, with <code>--auto-recover</code>, after enough healthy checks). The findings below say what to do first.'
    : 'Switched on by an operator.';
  return (
    '<h2>Maintenance</h2>' +
    `<p><strong>On (${escapeHtml(m.mode)})</strong> since ${time(m.since)} (${ago(v.now, m.since)}), by ${escapeHtml(m.by)}. ${how}</p>` +
    `<p class="msg">${escapeHtml(m.reason)}</p>${findings}${controls(v)}`
  );
}

/** The switch: one reason field, the buttons that apply now enabled; "off" needs no reason (formnovalidate). */
function controls(v: StatusView): string {
  const c = v.console;
  if (!c) {
    return '<p class="muted">Opened with the <code>Authorization</code> header: read-only. Sign in on this page in a browser to switch maintenance, or run <code>hub-guard maintenance on --reason …</code> / <code>off</code>.</p>';
  }
  const m = v.maintenance;
  const error = c.error ? `<p class="alert" role="alert">${escapeHtml(c.error)}</p>` : '';
  const onLabel = m?.mode === 'auto' ? 'Keep it on as manual maintenance' : 'Switch maintenance on';
  const hint = !m
    ? 'Every proxied request gets the maintenance page with this reason until it is switched off.'
    : m.mode === 'auto'
      ? 'Switching off asks you to confirm first. Keeping it on as manual replaces the watchdog’s text with your reason, and the watchdog will not clear it.'
      : 'The reason for switching off is optional and goes into the audit trail only.';
  return (
    `<form method="post" action="/guard/maintenance" class="panel">${csrfField(c.csrf)}${error}` +
    `<label for="reason">Reason</label>` +
    `<input type="text" id="reason" name="reason" maxlength="2000" autocomplete="off"${m ? '' : ' required'} ` +
    `placeholder="${m ? 'why it is over (optional)' : 'what users will read, e.g. Restoring the hub database; back by 14:00'}">` +
    `<p class="muted">${hint}</p>` +
    '<div class="buttons">' +
    `<button type="submit" name="action" value="on" class="hold"${m?.mode === 'manual' ? ' disabled' : ''}>${onLabel}</button>` +
    `<button type="submit" name="action" value="off" formnovalidate${m ? '' : ' disabled'}>Switch maintenance off</button>` +
    '</div></form>'
  );
}

function storeSection(store: StatusView['store']): string {
  if (!store) return '';
  const state = store.up
    ? 'reachable'
    : '<strong>unreachable</strong>: this instance serves from its last known state, and replicas may disagree until it is back';
  return `<p>State (routes, maintenance, baselines): ${escapeHtml(store.where)}, ${state}.</p>`;
}

function findingsSection(v: StatusView): string {
  if (!v.db) return '<h2>Hub database</h2><p>Not watched: hub-guard runs without <code>--hub-db</code>.</p>';
  const c = v.db.lastCheck;
  const last = c
    ? `Last check ${time(c.at)} (${ago(v.now, c.at)}), ${Math.round(c.ms)} ms${c.error ? `, failed: ${escapeHtml(c.error)}` : '.'}`
    : 'No check has finished yet.';
  const b = v.baseline;
  const baseline = b
    ? `<p>Baseline (learnt from healthy reads only): at most <strong>${escapeHtml(b.highWater)}</strong> users seen, ` +
      `${escapeHtml(b.users)} known names with their ids, updated ${time(b.updatedAt)} (${ago(v.now, b.updatedAt)}).</p>`
    : '<p>No baseline yet: it is learnt from the first healthy read.</p>';
  const none = v.db.state === 'healthy' ? '<p>No findings: the last read looked healthy.</p>' : '<p>No findings.</p>';
  const findings = v.db.findings.length ? findingsList(v.db.findings) : none;
  return `<h2>Hub database: ${escapeHtml(v.db.state)}</h2><p>${last}</p>${baseline}${findings}${checksSection(v)}`;
}

/** Each finding with what to do about it and the commands for that, most severe first. */
export function findingsList(findings: StatusFinding[]): string {
  const rank = (f: StatusFinding) => (f.severity === 'critical' ? 0 : f.severity === 'warning' ? 1 : 2);
  const items = [...findings].sort((a, b) => rank(a) - rank(b)).map((f) => {
    const sev = f.severity === 'critical' || f.severity === 'warning' ? f.severity : 'other';
    const advice = f.advice ? `<p class="advice"><strong>What to do:</strong> ${escapeHtml(f.advice)}</p>` : '';
    const commands = f.commands?.length ? `<pre class="cmd"><code>${f.commands.map((c) => escapeHtml(c)).join('\n')}</code></pre>` : '';
    return `<li><span class="sev sev-${sev}">${escapeHtml(f.severity)}</span> <code>${escapeHtml(f.check)}</code> ${escapeHtml(f.message)}${advice}${commands}</li>`;
  });
  return `<ul class="findings">${items.join('')}</ul>`;
}

function checksSection(v: StatusView): string {
  if (!v.checks) return '';
  const head = '<h3>Recent checks</h3>';
  if (v.checks.length === 0) return `${head}<p>No check has finished yet.</p>`;
  const rows: Row[] = [...v.checks].reverse().map((c) => {
    const found = [c.critical ? `${c.critical} critical` : '', c.warnings ? `${c.warnings} warning${c.warnings > 1 ? 's' : ''}` : ''].filter(Boolean).join(', ');
    const result = c.error ? `failed: ${escapeHtml(c.error)}` : `${escapeHtml(c.state)}${found ? ` (${found})` : ''}`;
    return { bad: !!c.error || c.critical > 0, cells: [time(c.at, true), `${Math.round(c.ms)} ms`, result] };
  });
  return `${head}${table(['When', 'Took', 'Result'], rows)}`;
}

function replicasSection(v: StatusView): string {
  if (!v.replicas) return '';
  const head = `<h2>Replicas seen in the last minute (${v.replicas.length})</h2>`;
  if (v.replicas.length === 0) return `${head}<p>None, not even this one: its heartbeat has not reached the state store.</p>`;
  const rows: Row[] = v.replicas.map((r) => ({
    cells: [
      `<code>${escapeHtml(r.instance)}</code>${r.instance === v.instance ? ' <span class="muted">(this one)</span>' : ''}`,
      escapeHtml(r.version), escapeHtml(r.maintenance), escapeHtml(r.db), ago(v.now, r.at),
    ],
  }));
  const note = v.replicas.length === 1 && !v.store?.where.startsWith('redis')
    ? '<p class="muted">Without a shared state store (Redis) each process only knows itself.</p>'
    : '';
  return `${head}${table(['Instance', 'Version', 'Maintenance', 'Hub database', 'Last heard'], rows)}${note}`;
}

function refusalsSection(s: RefusalSeries, now: number): string {
  const head = '<h2>Refusals per minute, last hour</h2>';
  const from = s.since > s.start ? `<p class="muted">Counting since this instance started, ${time(s.since)}.</p>` : '';
  const reasons = chartReasons(s.reasons);
  if (reasons.length === 0) return `${head}${from}<p>No refusals in the last hour.</p>`;
  const legend = reasons.map((r, i) => `<li><span class="sw c${i}"></span><code>${escapeHtml(r.reason)}</code> <strong>${r.total}</strong></li>`);
  return `${head}${from}${chart(s.start, reasons, now)}<ul class="legend">${legend.join('')}</ul>`;
}

interface ChartReason { reason: string; counts: number[]; total: number }

/** Busiest reasons first; past the ninth they share one "other" colour, so colours stay tellable apart. */
export function chartReasons(reasons: RefusalSeries['reasons']): ChartReason[] {
  const withTotals = reasons
    .map((r) => ({ reason: r.reason, counts: r.counts, total: r.counts.reduce((a, b) => a + b, 0) }))
    .filter((r) => r.total > 0)
    .sort((a, b) => b.total - a.total || a.reason.localeCompare(b.reason));
  if (withTotals.length <= CHART_REASONS + 1) return withTotals;
  const rest = withTotals.slice(CHART_REASONS);
  const counts = rest[0]!.counts.map((_, i) => rest.reduce((sum, r) => sum + (r.counts[i] ?? 0), 0));
  return [...withTotals.slice(0, CHART_REASONS), { reason: `${rest.length} other reasons`, counts, total: rest.reduce((a, r) => a + r.total, 0) }];
}

const W = 600;
const H = 100;

/** Bars in an SVG stretched to the width; the labels are HTML, so they stay readable on a phone. */
function chart(start: number, reasons: ChartReason[], now: number): string {
  const minutes = reasons[0]!.counts.length;
  const totals = Array.from({ length: minutes }, (_, i) => reasons.reduce((sum, r) => sum + (r.counts[i] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const step = W / minutes;
  const bars: string[] = [];
  for (let i = 0; i < minutes; i++) {
    let y = H;
    const label = clock(start + i * 60_000);
    reasons.forEach((r, k) => {
      const n = r.counts[i] ?? 0;
      if (n <= 0) return;
      const h = (n / max) * H;
      y -= h;
      bars.push(
        `<rect class="c${k}" x="${(i * step + 1).toFixed(1)}" y="${y.toFixed(2)}" width="${(step - 2).toFixed(1)}" height="${h.toFixed(2)}">` +
          `<title>${label} UTC · ${escapeHtml(r.reason)}: ${n}</title></rect>`,
      );
    });
  }
  const span = Math.round((now - start) / 60_000);
  return (
    `<figure class="chart"><div class="ticks"><span>${max} per minute at most</span></div>` +
    `<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="Refusals per minute over the last hour, at most ${max} in one minute">` +
    `<line class="grid" x1="0" y1="0.5" x2="${W}" y2="0.5" vector-effect="non-scaling-stroke"/>` +
    `<line class="grid" x1="0" y1="${H - 0.5}" x2="${W}" y2="${H - 0.5}" vector-effect="non-scaling-stroke"/>` +
    bars.join('') +
    `</svg><div class="ticks"><span>${span} min ago (${clock(start)} UTC)</span><span>now</span></div></figure>`
  );
}

function routesSection(v: StatusView): string {
  const head = `<h2>Routes (${v.routes.length})</h2>`;
  const conflicts = v.conflicts.length
    ? '<p>User routes that share a target (a reused pod IP can send one user into another’s server; the newer route is refused until the older one is gone):</p><ul>' +
      v.conflicts.map((c) => `<li><code>${escapeHtml(c.target)}</code>: ${c.routes.map((r) => `<code>${escapeHtml(r)}</code>`).join(', ')}</li>`).join('') +
      '</ul>'
    : '';
  if (v.routes.length === 0) return `${head}${conflicts}<p>No routes: the hub has not added any yet.</p>`;
  const shared = new Set(v.conflicts.map((c) => c.target));
  // what needs attention first: refused routes, then others on a shared target, then by path
  const rank = (r: StatusRoute) => (r.refused ? 0 : shared.has(r.target) ? 1 : 2);
  const sorted = [...v.routes].sort((a, b) => rank(a) - rank(b) || (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
  const rows: Row[] = sorted.slice(0, MAX_ROUTES_SHOWN).map((r) => {
    const who = r.kind === 'hub' ? 'the hub' : r.kind === 'other' ? '<span class="muted">–</span>' : `${r.kind} <strong>${escapeHtml(r.name)}</strong>`;
    const state = r.refused ? 'refused: shares its target with an older route' : shared.has(r.target) ? 'shares its target' : 'none';
    return { refused: r.refused, cells: [`<code>${escapeHtml(r.prefix)}</code>`, who, `<code>${escapeHtml(r.target)}</code>`, ago(v.now, r.lastActivity), state] };
  });
  const more = v.routes.length > MAX_ROUTES_SHOWN
    ? `<p class="muted">Showing ${MAX_ROUTES_SHOWN} of ${v.routes.length}; <code>GET /api/routes</code> lists them all.</p>`
    : '';
  const filter = '<p class="filter" hidden><label for="route-filter">Filter</label>' +
    '<input type="search" id="route-filter" placeholder="path, user, service or target" autocomplete="off">' +
    '<span id="route-count" class="muted" aria-live="polite"></span></p>';
  return `${head}${conflicts}${filter}${table(['Path', 'Owner', 'Target', 'Last activity', 'Conflict'], rows, 'routes')}${more}`;
}

function historySection(history: StatusAudit[]): string {
  const head = '<h2>Maintenance history</h2>';
  if (history.length === 0) return `${head}<p>Maintenance has never been switched.</p>`;
  const rows: Row[] = history.slice(-HISTORY_SHOWN).reverse().map((e) => {
    const t = Date.parse(asText(e.time));
    const findings = Array.isArray(e.findings) && e.findings.length ? `<br><span class="muted">findings: ${e.findings.map((f) => escapeHtml(f)).join(', ')}</span>` : '';
    return { cells: [Number.isFinite(t) ? time(t) : escapeHtml(e.time), escapeHtml(e.action), escapeHtml(e.mode), escapeHtml(e.by), `${escapeHtml(e.reason)}${findings}`] };
  });
  const older = history.length > HISTORY_SHOWN ? `<p class="muted">The ${HISTORY_SHOWN} latest of ${history.length} changes.</p>` : '';
  return `${head}${table(['When', 'Switch', 'Mode', 'By', 'Why'], rows)}${older}`;
}

interface Row {
  /** HTML, already escaped. */
  cells: string[];
  /** A route refused for its shared target. */
  refused?: boolean;
  /** A check that failed or found something critical. */
  bad?: boolean;
}

/** Headers are fixed words; each cell repeats its header as a label for the phone layout. */
function table(headers: string[], rows: Row[], id?: string): string {
  const body = rows.map((r) => `<tr${r.refused ? ' class="refused"' : r.bad ? ' class="bad"' : ''}>${r.cells.map((c, i) => `<td data-label="${headers[i]}">${c}</td>`).join('')}</tr>`);
  return `<table${id ? ` id="${id}"` : ''}><thead><tr>${headers.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${body.join('')}</tbody></table>`;
}

export function time(ms: number, seconds = false): string {
  const s = formatSince(ms);
  if (!s) return '<span class="muted">unknown time</span>';
  return `<time datetime="${s.iso}">${seconds ? `${s.iso.slice(0, 10)} ${s.iso.slice(11, 19)} UTC` : s.text}</time>`;
}

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 16);
}

/** "12 min ago"; the page has no script, so the server says it once, relative to when the page was made. */
export function ago(now: number, then: number): string {
  if (!Number.isFinite(then) || then <= 0) return 'never';
  const s = Math.round((now - then) / 1000);
  if (s < 5) return 'just now';
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172_800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} days ago`;
}
