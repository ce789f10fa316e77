// The operators' status page: one self-contained HTML document without any script. Everything shown comes from
// routes, the state store or the hub DB, so every value is escaped and only fixed class names reach attributes.
import { PAGE_CSS, cspHash, pageCsp } from './assets.js';
import { asText, escapeHtml } from './escape.js';
import { formatSince } from './html.js';

export interface StatusFinding {
  check: string;
  severity: string;
  message: string;
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
  'tr.refused td{background:rgba(192,57,43,.14)}',
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
  ...['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'].map(
    (colour, i) => `.c${i}{fill:${colour};background:${colour}}`,
  ),
].join('\n');

export const STATUS_CSP = pageCsp({ styles: [cspHash(STATUS_CSS)], scripts: [] });

export function renderStatusPage(v: StatusView): string {
  const critical = (v.db?.findings ?? []).filter((f) => f.severity === 'critical').length;
  const tone = v.maintenance ? 'k-maintenance' : critical > 0 ? 'k-blocked' : 'k-ok';
  return (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    '<meta name="robots" content="noindex"><link rel="icon" href="data:,">' +
    `<title>hub-guard status</title><style>${STATUS_CSS}</style></head>` +
    `<body class="${tone}"><main><h1>hub-guard status</h1>` +
    `<p class="muted">Instance <code>${escapeHtml(v.instance)}</code> · ${time(v.now)} · reload for fresh numbers; ` +
    'the same data as JSON: <code>GET /api/guard/status</code></p>' +
    summary(v, critical) +
    maintenanceSection(v) +
    storeSection(v.store) +
    findingsSection(v) +
    refusalsSection(v.refusals, v.now) +
    routesSection(v) +
    historySection(v.history) +
    '</main></body></html>\n'
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
  if (!m) return '<h2>Maintenance</h2><p>Off: requests are routed normally.</p>';
  const findings = Array.isArray(m.findings) && m.findings.length ? `<p>Findings: ${m.findings.map((f) => `<code>${escapeHtml(f)}</code>`).join(' ')}</p>` : '';
  const how = m.mode === 'auto'
    ? 'Switched on by the database watchdog; it stays on until an operator runs <code>hub-guard maintenance off</code> (or, with <code>--auto-recover</code>, after enough healthy checks).'
    : 'Switched on by an operator.';
  return (
    '<h2>Maintenance</h2>' +
    `<p><strong>On (${escapeHtml(m.mode)})</strong> since ${time(m.since)} (${ago(v.now, m.since)}), by ${escapeHtml(m.by)}. ${how}</p>` +
    `<p class="msg">${escapeHtml(m.reason)}</p>${findings}`
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
  const rows: Row[] = v.db.findings.map((f) => {
    const sev = f.severity === 'critical' || f.severity === 'warning' ? f.severity : 'other';
    return { cells: [`<span class="sev sev-${sev}">${escapeHtml(f.severity)}</span>`, `<code>${escapeHtml(f.check)}</code>`, escapeHtml(f.message)] };
  });
  const none = v.db.state === 'healthy' ? '<p>No findings: the last read looked healthy.</p>' : '<p>No findings.</p>';
  const findings = rows.length ? table(['Severity', 'Check', 'Message'], rows) : none;
  return `<h2>Hub database: ${escapeHtml(v.db.state)}</h2><p>${last}</p>${baseline}${findings}`;
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
  return `${head}${conflicts}${table(['Path', 'Owner', 'Target', 'Last activity', 'Conflict'], rows)}${more}`;
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
  refused?: boolean;
}

/** Headers are fixed words; each cell repeats its header as a label for the phone layout. */
function table(headers: string[], rows: Row[]): string {
  const body = rows.map((r) => `<tr${r.refused ? ' class="refused"' : ''}>${r.cells.map((c, i) => `<td data-label="${headers[i]}">${c}</td>`).join('')}</tr>`);
  return `<table><thead><tr>${headers.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${body.join('')}</tbody></table>`;
}

function time(ms: number): string {
  const s = formatSince(ms);
  return s ? `<time datetime="${s.iso}">${s.text}</time>` : '<span class="muted">unknown time</span>';
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
