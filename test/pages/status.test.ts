// The operators' status page: the per-minute refusal history, the rendering (escaping, CSP), the router as the
// API app mounts it (token, headers), and the page in headless Chromium on desktop and phone widths. The guard's
// parts are real: a JupyterHub-made sqlite DB rebuilt the 2017 way, the watchdog reading it, a route table.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildConfig } from '../../src/config.js';
import { metrics } from '../../src/metrics.js';
import { createApiApp } from '../../src/api/app.js';
import { operatorApi, type OperatorDeps } from '../../src/api/operator.js';
import { RefusalHistory, readBlockedTotals } from '../../src/api/status-page.js';
import { consolePage } from '../../src/api/console.js';
import { ago, chartReasons, FILTER_SCRIPT, renderStatusPage, STATUS_CSP, STATUS_CSS, type StatusView } from '../../src/pages/status.js';
import { openHubDb } from '../../src/hubdb/open.js';
import { DEFAULT_CHECK_OPTIONS } from '../../src/hubdb/checks.js';
import { Watchdog } from '../../src/monitor/watchdog.js';
import type { HubDb } from '../../src/hubdb/snapshot.js';
import { UsersIndex } from '../../src/identity/users-index.js';
import { RouteTable } from '../../src/proxy/route-table.js';
import { TargetConflicts } from '../../src/proxy/target-conflicts.js';
import { Maintenance } from '../../src/monitor/maintenance.js';
import { MemoryStore } from '../../src/state/store.js';
import { createHubDatabases, insertUsers, scratchDir, type HubFixture } from '../hubdb/fixtures.js';

const MINUTE = 60_000;
const TOKEN = 'operator-token-for-status-tests';
const XSS = '<img src=x onerror="window.__pwned=1">';
const XSS_USER = `eve${XSS}`;
const XSS_REASON = `odd-reason<script>window.__pwned=2</script>`;
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = '/tmp/hub-guard-pages';

/** A counter's totals that a test moves by hand, read the way the page reads hub_guard_blocked_total. */
function counter(): { totals: Map<string, number>; read: () => Promise<Map<string, number>>; add(reason: string, n: number): void } {
  const totals = new Map<string, number>();
  return {
    totals,
    read: async () => new Map(totals),
    add(reason, n) {
      totals.set(reason, (totals.get(reason) ?? 0) + n);
    },
  };
}

const minuteOf = (t: number) => Math.floor(t / MINUTE);

/** The page without its own routes-filter script, the one script it may carry. */
const withoutFilter = (html: string) => html.replace(`<script>${FILTER_SCRIPT}</script>`, '');

/** assert.match, without dumping a whole page into the failure. */
function has(html: string, re: RegExp): void {
  assert.ok(re.test(html), `the page does not match ${re}`);
}

describe('RefusalHistory', () => {
  // a fixed hour, 5 s after a minute boundary, as the aligned timer reads
  const T0 = Date.UTC(2026, 0, 2, 10, 0, 5);

  test('a reading counts for the minute of the reading before it; the page peeks at the current minute', async () => {
    const c = counter();
    const h = new RefusalHistory(c.read, T0);
    c.add('other-user-server', 3);
    await h.sample(T0 + MINUTE);
    c.add('other-user-server', 2);
    c.add('cookie-id-empty', 1);
    const s = await h.series(T0 + MINUTE + 30_000);
    assert.equal(s.start, (minuteOf(T0 + MINUTE) - 59) * MINUTE);
    const row = (reason: string) => s.reasons.find((r) => r.reason === reason)?.counts;
    assert.equal(row('other-user-server')!.length, 60);
    assert.equal(row('other-user-server')![58], 3, 'the sampled minute');
    assert.equal(row('other-user-server')![59], 2, 'the current minute, peeked');
    assert.equal(row('cookie-id-empty')![59], 1);
    // peeking changed nothing: the next reading still counts those three
    await h.sample(T0 + 2 * MINUTE);
    const s2 = await h.series(T0 + 2 * MINUTE + 1000);
    assert.deepEqual(s2.reasons.map((r) => [r.reason, r.counts.slice(57)]).sort(), [
      ['cookie-id-empty', [0, 1, 0]],
      ['other-user-server', [3, 2, 0]],
    ]);
  });

  test('what counted before the history began is not a refusal of its first minute', async () => {
    const c = counter();
    c.add('maintenance-auto', 500);
    const h = new RefusalHistory(c.read, T0);
    c.add('maintenance-auto', 4);
    await h.sample(T0 + MINUTE);
    const s = await h.series(T0 + MINUTE);
    assert.equal(s.reasons[0]!.counts.reduce((a, b) => a + b), 4);
    assert.equal(s.since, T0);
  });

  test('a counter that went down was reset: all it holds is new', async () => {
    const c = counter();
    const h = new RefusalHistory(c.read, T0);
    c.add('identity-conflict', 5);
    await h.sample(T0 + MINUTE);
    c.totals.set('identity-conflict', 2);
    await h.sample(T0 + 2 * MINUTE);
    const s = await h.series(T0 + 2 * MINUTE);
    assert.deepEqual(s.reasons[0]!.counts.slice(-3), [5, 2, 0]);
  });

  test('minutes older than an hour fall out', async () => {
    const c = counter();
    const h = new RefusalHistory(c.read, T0);
    c.add('other-user-server', 7);
    await h.sample(T0 + MINUTE);
    assert.deepEqual((await h.series(T0 + 59 * MINUTE)).reasons.map((r) => r.counts[0]), [7], 'still inside the hour');
    assert.deepEqual((await h.series(T0 + 60 * MINUTE)).reasons, [], 'an hour later');
    await h.sample(T0 + 61 * MINUTE);
    assert.deepEqual((await h.series(T0 + 59 * MINUTE)).reasons, [], 'and the reading after drops it');
  });

  test('a failing reading loses nothing: the next one covers the gap', async () => {
    const c = counter();
    let fail = false;
    const h = new RefusalHistory(async () => {
      if (fail) throw new Error('registry unavailable');
      return c.read();
    }, T0);
    c.add('other-user-server', 1);
    fail = true;
    await h.sample(T0 + MINUTE);
    assert.deepEqual((await h.series(T0 + MINUTE)).reasons, []);
    fail = false;
    await h.sample(T0 + 2 * MINUTE);
    const s = await h.series(T0 + 2 * MINUTE);
    assert.equal(s.reasons[0]!.counts.reduce((a, b) => a + b), 1);
  });

  test('by default it reads hub_guard_blocked_total from the registry', async () => {
    const before = (await readBlockedTotals()).get('route-target-shared') ?? 0;
    const h = new RefusalHistory();
    metrics.blocked.labels('route-target-shared').inc(2);
    assert.equal((await readBlockedTotals()).get('route-target-shared'), before + 2);
    const s = await h.series();
    assert.equal(s.reasons.find((r) => r.reason === 'route-target-shared')?.counts[59], 2);
  });
});

describe('status page rendering', () => {
  const now = Date.UTC(2026, 0, 2, 12, 0, 0);
  const hostile: StatusView = {
    now,
    instance: `hub-0${XSS}`,
    maintenance: { mode: 'manual', reason: `Restoring${XSS}`, since: now - 5 * MINUTE, by: `ops${XSS}`, findings: [XSS] },
    history: [
      { time: new Date(now - 5 * MINUTE).toISOString(), action: 'on', mode: 'manual', by: `ops${XSS}`, reason: `why${XSS}`, findings: [XSS] },
      { time: XSS, action: XSS, mode: XSS, by: 42, reason: null },
    ],
    db: { state: 'unhealthy', lastCheck: { at: now - 3000, ms: 4, error: `boom${XSS}` }, findings: [{ check: `x${XSS}`, severity: XSS, message: `m${XSS}` }] },
    baseline: { highWater: 1000, users: 998, updatedAt: now - MINUTE },
    routes: [
      { prefix: `/user/${XSS_USER}`, kind: 'user', name: XSS_USER, target: `http://10.0.0.9:8888/${XSS}`, lastActivity: now, refused: true },
      { prefix: '/services/announce', kind: 'service', name: `announce${XSS}`, target: 'http://10.0.0.2:80', lastActivity: now, refused: false },
    ],
    conflicts: [{ target: `http://10.0.0.9:8888/${XSS}`, routes: [`/user/${XSS_USER}`, '/user/alice'] }],
    refusals: { start: now - 59 * MINUTE, since: 0, reasons: [{ reason: XSS_REASON, counts: Array.from({ length: 60 }, (_, i) => i % 7) }] },
  };

  test('every value is shown as text: nothing from routes, the store or the DB becomes markup', () => {
    const html = renderStatusPage(hostile);
    assert.ok(!/<img|<script/i.test(withoutFilter(html)), 'no markup from values');
    assert.ok(!html.includes('onerror="'), 'no attribute from values');
    has(html, /eve&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;/);
    has(html, /odd-reason&lt;script&gt;/);
    // a severity outside the known ones gets the neutral badge, never a class made from the value
    has(html, /class="sev sev-other"/);
  });

  test('one inline style and one inline script (the routes filter), each allowed by its hash, forms to itself only', () => {
    const html = renderStatusPage(hostile);
    const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]);
    assert.deepEqual(styles, [STATUS_CSS]);
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
    assert.deepEqual(scripts, [FILTER_SCRIPT]);
    const hash = (text: string) => createHash('sha256').update(text, 'utf8').digest('base64');
    assert.ok(STATUS_CSP.includes(`style-src 'sha256-${hash(STATUS_CSS)}'`), STATUS_CSP);
    assert.ok(STATUS_CSP.includes(`script-src 'sha256-${hash(FILTER_SCRIPT)}'`), STATUS_CSP);
    assert.ok(STATUS_CSP.startsWith("default-src 'none'"));
    assert.ok(STATUS_CSP.includes("form-action 'self'"), STATUS_CSP);
    assert.doesNotMatch(STATUS_CSP, /connect-src|unsafe|https?:|\*/);
    assert.ok(!/<[^>]*\s(?:style|on[a-z]+)\s*=/i.test(html), 'no style or event-handler attributes in any tag');
  });

  test('the chart stacks one bar per minute and reason, tallest minute on top of the scale', () => {
    const html = renderStatusPage(hostile);
    const rects = [...html.matchAll(/<rect class="c0"/g)].length;
    assert.equal(rects, 60 - Math.ceil(60 / 7), 'one rect per non-empty minute');
    has(html, />6 per minute at most</);
    assert.ok(html.includes("<title>11:02 UTC · odd-reason&lt;script&gt;window.__pwned=2&lt;/script&gt;: 1</title>"));
  });

  test('past nine reasons the rest share one colour', () => {
    const reasons = Array.from({ length: 12 }, (_, i) => ({ reason: `r${i}`, counts: [i + 1, 0, 1] }));
    reasons.push({ reason: 'never', counts: [0, 0, 0] });
    const shown = chartReasons(reasons);
    assert.equal(shown.length, 10);
    assert.deepEqual(shown.slice(0, 3).map((r) => r.reason), ['r11', 'r10', 'r9']);
    assert.deepEqual(shown[9], { reason: '3 other reasons', counts: [1 + 2 + 3, 0, 3], total: 9 });
  });

  test('quiet states say so', () => {
    const html = renderStatusPage({
      now, instance: 'hub-0', history: [], routes: [], conflicts: [],
      refusals: { start: now - 59 * MINUTE, since: now - 10 * MINUTE, reasons: [] },
    });
    for (const text of ['Off: requests are routed normally.', 'Not watched', 'No refusals in the last hour.', 'Counting since this instance started', 'No routes', 'never been switched']) {
      assert.ok(html.includes(text), text);
    }
    assert.ok(!html.includes('State store'), 'no store line when the caller has none');
    has(html, /<body class="k-ok">/);
  });

  test('a shared state store that is down is said plainly', () => {
    const html = renderStatusPage({ ...hostile, store: { where: `redis://redis:6379/0 ${XSS}`, up: false } });
    has(html, /<dt>State store<\/dt><dd><strong>unreachable<\/strong><\/dd>/);
    has(html, /redis:\/\/redis:6379\/0 &lt;img/);
    has(html, /replicas may disagree/);
  });

  test('relative times', () => {
    assert.equal(ago(now, now - 2000), 'just now');
    assert.equal(ago(now, now - 90_000), '90 s ago');
    assert.equal(ago(now, now - 30 * MINUTE), '30 min ago');
    assert.equal(ago(now, now - 5 * 60 * MINUTE), '5 h ago');
    assert.equal(ago(now, now - 3 * 86_400_000), '3 days ago');
    assert.equal(ago(now, 0), 'never');
  });
});

// ------------------------------------------------------------------ the page as the API app serves it

let scratch: ReturnType<typeof scratchDir>;
let fx: HubFixture;
let db: HubDb;
let watchdog: Watchdog;
let deps: OperatorDeps;
let history: RefusalHistory;
let tokens: string[] = [TOKEN];

before(async () => {
  scratch = scratchDir();
  [fx] = await createHubDatabases('sqlite', 1, scratch.dir);
  // the 2017 rebuild: constraints gone, empty cookie_ids, john.doe back as john-doe
  await fx.dropCookieIdConstraints();
  await fx.exec(insertUsers([
    { id: 1, name: 'alice' },
    { id: 2, name: XSS_USER },
    { id: 3, name: 'john.doe', cookieId: '' },
    { id: 4, name: 'john-doe', cookieId: '' },
  ]));
  const store = new MemoryStore();
  const maintenance = new Maintenance(store);
  await maintenance.load();
  await maintenance.on('manual', `Upgrading the hub ${XSS}`, `ops${XSS} via API from 127.0.0.1`);
  await maintenance.off('ops via API from 127.0.0.1', 'upgrade done');
  db = openHubDb(fx.url, { timeoutMs: 5000 });
  watchdog = new Watchdog({
    db, store, maintenance, users: new UsersIndex(Buffer.alloc(32)),
    intervalMs: 3_600_000, unreachableChecks: 3, checks: DEFAULT_CHECK_OPTIONS,
  });
  await watchdog.start();

  const routes = new RouteTable();
  routes.add('/', { target: 'http://127.0.0.1:8081', hub: true, jupyterhub: true });
  routes.add('/user/alice', { target: 'http://10.0.0.5:8888', user: 'alice', server_name: '', jupyterhub: true }, Date.now() - 20 * MINUTE, Date.now() - 60 * MINUTE);
  routes.add(`/user/${XSS_USER}`, { target: 'http://10.0.0.5:8888', user: XSS_USER, server_name: '', jupyterhub: true });
  routes.add('/services/announce', { target: 'http://10.0.0.2:8000', service: 'announce', jupyterhub: true });
  deps = { maintenance, watch: watchdog, routes, conflicts: new TargetConflicts(routes), tokens: () => tokens, store };

  // an hour of refusals, sampled minute by minute
  const c = counter();
  const start = Date.now() - 59 * MINUTE;
  history = new RefusalHistory(c.read, start);
  for (let i = 1; i < 60; i++) {
    c.add('other-user-server', i % 4);
    if (i % 9 === 0) c.add('cookie-id-empty', 3);
    if (i > 40) c.add('maintenance-auto', 12);
    if (i === 30) c.add(XSS_REASON, 1);
    await history.sample(start + i * MINUTE);
  }
});

after(async () => {
  watchdog?.stop();
  await db?.close();
  scratch?.remove();
});

function apiApp() {
  const cfg = buildConfig([], { CONFIGPROXY_AUTH_TOKEN: 'chp-token' });
  return createApiApp({
    cfg,
    routes: deps.routes,
    readiness: () => ({ ready: true, checks: {} }),
    // what the lead's server.ts does: the JSON API and the page side by side
    extend: (app) => {
      app.use('/api/guard', operatorApi(deps));
      app.use('/guard', consolePage({ ...deps, refusals: history, instance: 'hub-7d9f-test' }));
    },
  });
}

describe('status page over HTTP', () => {
  test('the operator token in the Authorization header opens it; nothing else does', async () => {
    const app = apiApp();
    for (const headers of [{}, { authorization: 'token wrong' }, { authorization: `Bearer ${TOKEN}` }, { authorization: 'token chp-token' }]) {
      const r = await request(app).get('/guard/status').set(headers);
      assert.equal(r.status, 403, JSON.stringify(headers));
      assert.match(r.text, /Authorization: token/);
      assert.doesNotMatch(r.text, new RegExp(TOKEN));
    }
    const q = await request(app).get(`/guard/status?token=${TOKEN}`);
    assert.equal(q.status, 403, 'a token in the URL is not accepted');
    assert.equal(q.headers['set-cookie'], undefined);
    for (const path of ['/guard/status', '/guard/', '/guard']) {
      const r = await request(app).get(path).set('authorization', `token ${TOKEN}`);
      assert.equal(r.status, 200, path);
    }
  });

  test('headers: HTML, its own CSP, never cached', async () => {
    const r = await request(apiApp()).get('/guard/status').set('authorization', `token ${TOKEN}`);
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(r.headers['content-security-policy'], STATUS_CSP);
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['referrer-policy'], 'no-referrer');
    assert.equal(r.headers['x-hub-guard-page'], 'status');
  });

  test('shows the watchdog findings, the maintenance it latched, the history, routes and conflicts', async () => {
    const app = apiApp();
    const html = (await request(app).get('/guard/status').set('authorization', `token ${TOKEN}`)).text;
    const json = (await request(app).get('/api/guard/status').set('authorization', `token ${TOKEN}`)).body;
    assert.equal(json.maintenance.mode, 'auto');
    has(html, /<dd>on \(auto\)<\/dd>/);
    has(html, /<body class="k-maintenance">/);
    for (const f of json.db.findings as { check: string; message: string }[]) {
      assert.ok(html.includes(`<code>${f.check}</code>`), f.check);
      assert.ok(html.includes(f.message.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')), f.message);
    }
    assert.ok((json.db.findings as { check: string }[]).some((f) => f.check === 'cookie-id-empty'));
    has(html, /Upgrading the hub &lt;img/);
    has(html, /upgrade done/);
    has(html, /<h2>Routes \(4\)<\/h2>/);
    // the newer route to 10.0.0.5:8888 is the refused one, and it is listed first
    has(html, /<tbody><tr class="refused"><td data-label="Path"><code>\/user\/eve&lt;img/);
    has(html, /user <strong>alice<\/strong>/);
    has(html, /service <strong>announce<\/strong>/);
    has(html, /<td data-label="Owner">the hub<\/td>/);
    has(html, /Instance <code>hub-7d9f-test<\/code>/);
    has(html, /<dt>State store<\/dt><dd>up<\/dd>/);
    assert.ok(!/<img|<script/.test(withoutFilter(html)), 'no markup from values');
  });

  test('with no token configured the API port is open, as CHP leaves it', async () => {
    tokens = [];
    try {
      assert.equal((await request(apiApp()).get('/guard/status')).status, 200);
    } finally {
      tokens = [TOKEN];
    }
  });

  test('a state store that fails gives a plain 500, not a crash', async () => {
    const broken = { ...deps, maintenance: Object.assign(Object.create(deps.maintenance), { history: async () => { throw new Error('state store unavailable'); } }) };
    const app = createApiApp({
      cfg: buildConfig([], {}),
      routes: deps.routes,
      readiness: () => ({ ready: true, checks: {} }),
      extend: (a) => a.use('/guard', consolePage({ ...broken, refusals: history })),
    });
    const r = await request(app).get('/guard/status').set('authorization', `token ${TOKEN}`);
    assert.equal(r.status, 500);
    assert.match(r.text, /could not read hub-guard's state/);
  });
});

// ------------------------------------------------------------------ in a real browser

const missing = existsSync(CHROMIUM) ? false : `chromium not found at ${CHROMIUM} (apt-get install chromium); browser checks skipped`;

describe('status page in headless chromium', { skip: missing, timeout: 180_000 }, () => {
  let server: Server;
  let origin: string;
  let browser: Browser | undefined;

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = apiApp().listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  after(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  /** The header a header-injecting extension (or curl) adds: the only way in. */
  async function open(width: number, height: number, dark = false, token: string | null = TOKEN) {
    const context = await browser!.newContext({
      viewport: { width, height },
      colorScheme: dark ? 'dark' : 'light',
      extraHTTPHeaders: token ? { authorization: `token ${token}` } : {},
    });
    const page = await context.newPage();
    const requests: string[] = [];
    const cspErrors: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
    });
    return { page, requests, cspErrors, close: () => context.close() };
  }

  const inPage = async <T>(page: Page, expression: string) => (await page.evaluate(expression)) as T;

  for (const [w, h, dark] of [[1280, 800, false], [375, 667, false], [375, 667, true]] as const) {
    test(`${w}x${h}${dark ? ' dark' : ''}: renders, fits, stays local, obeys its CSP, shows names as text`, async () => {
      const { page, requests, cspErrors, close } = await open(w, h, dark);
      try {
        const res = await page.goto(`${origin}/guard/status`);
        assert.equal(res?.status(), 200);
        assert.equal(await page.title(), 'hub-guard status');
        assert.ok(await page.locator('h1').isVisible());
        const [scrollWidth, innerWidth] = await inPage<[number, number]>(page, '[document.documentElement.scrollWidth, window.innerWidth]');
        assert.ok(scrollWidth <= innerWidth, `page is ${scrollWidth}px wide in a ${innerWidth}px viewport`);
        // the hashed stylesheet applied
        assert.equal(await inPage(page, "getComputedStyle(document.querySelector('main')).maxWidth"), '1152px');
        // the chart: bars drawn, with the page's colours
        assert.ok(await page.locator('.chart svg').isVisible());
        const bars = await page.locator('.chart svg rect').count();
        assert.ok(bars > 40, `${bars} bars`);
        assert.equal(await inPage(page, "getComputedStyle(document.querySelector('.chart svg rect.c0')).fill"), 'rgb(78, 121, 167)');
        // tables: columns on a desktop, labelled cards on a phone
        assert.equal(await inPage(page, "getComputedStyle(document.querySelector('thead')).display"), w < 640 ? 'none' : 'table-header-group');
        // names and reasons that look like markup are text
        assert.equal(await inPage(page, 'typeof window.__pwned'), 'undefined');
        assert.equal(await page.locator('main img, main script').count(), 0);
        assert.ok((await page.locator('table').first().innerText()).length > 0);
        assert.match(await page.locator('.legend').innerText(), /odd-reason<script>window.__pwned=2<\/script>/);
        assert.match(await page.locator('tr.refused').innerText(), /eve<img src=x onerror="window.__pwned=1">/);
        assert.match(await page.locator('body').innerText(), /john\.doe/);
        for (const u of requests) assert.ok(u.startsWith(`${origin}/`) || u.startsWith('data:'), `request left the origin: ${u}`);
        assert.deepEqual(cspErrors, []);
        await page.screenshot({ path: `${SHOTS}/status-${w}x${h}${dark ? '-dark' : ''}.png`, fullPage: true });
      } finally {
        await close();
      }
    });
  }

  test('without the header the browser gets the sign-in form, which also says how curl gets in', async () => {
    const { page, close } = await open(1280, 800, false, null);
    try {
      const res = await page.goto(`${origin}/guard/status`);
      assert.equal(res?.status(), 403);
      assert.equal(await page.locator('input[type=password][name=token]').count(), 1);
      assert.match(await page.locator('body').innerText(), /Authorization: token/);
    } finally {
      await close();
    }
  });
});
