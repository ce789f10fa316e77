// The pages in a real browser: they render, fit a phone, load nothing from elsewhere, obey their own CSP,
// and an open maintenance page returns by itself when maintenance ends.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort } from '../helpers/ports.js';
import { parseMaintenanceTemplate, renderPage, type PageContext } from '../../src/pages/index.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = '/tmp/hub-guard-pages';
const LONG = 'x'.repeat(180);
const XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';
const POLL_MS = 150;

const pages: Record<string, PageContext> = {
  blocked: { kind: 'blocked', status: 403, reason: 'other-user-server', requestId: `req-${LONG}`, hubUrl: '/hub/' },
  conflict: { kind: 'conflict', status: 409, reason: 'cookie-id-shared', requestId: 'req-7f3a9c', contact: 'support@example.org' },
  maintenance: {
    kind: 'maintenance',
    status: 503,
    reason: 'maintenance-manual',
    message: `Database upgrade until 14:00.\nYour files are safe. ${LONG} ${XSS}`,
    since: Date.now() - 12 * 60_000,
    contact: 'helpdesk@example.org, room 1.23',
    requestId: 'req-5e1d',
  },
  'error-404': { kind: 'error', status: 404, reason: 'no-route', requestId: 'req-404', hubUrl: '/hub/' },
  'error-503': { kind: 'error', status: 503, reason: 'upstream-unreachable', requestId: 'req-503', hubUrl: '/hub/' },
};
const template = parseMaintenanceTemplate(
  '<!doctype html><html><head><meta name="viewport" content="width=device-width"><title>Custom maintenance</title>' +
    '<style>body{font-family:sans-serif;margin:2rem;overflow-wrap:anywhere}h1{color:rgb(170, 0, 0)}</style></head>' +
    '<body><h1>Our own maintenance page</h1><p>{{reason}}</p><p>Since {{since}}. Ask {{contact}}, quoting {{request_id}}.</p></body></html>',
);

type Mode = 'maintenance' | 'gateway' | 'normal';
let mode: Mode = 'maintenance';
let polls = 0;
let server: http.Server;
let origin: string;
let browser: Browser | undefined;

function serve(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', origin);
  const name = url.pathname.slice(1);
  if (name.startsWith('live/')) {
    // the page under test: maintenance, then a gateway error while things restart, then the normal page
    polls++;
    if (mode === 'normal') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>Home</title><h1>Normal page</h1>');
      return;
    }
    if (mode === 'gateway') {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('Bad Gateway');
      return;
    }
    const tpl = name === 'live/template' ? { maintenanceTemplate: template } : {};
    send(res, renderPage(pages.maintenance!, req.headers.accept, url.pathname, { pollIntervalMs: POLL_MS, ...tpl }));
    return;
  }
  if (name === 'form') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><form method="post" action="/live/builtin"><button>go</button></form>');
    return;
  }
  if (name === 'template') return send(res, renderPage(pages.maintenance!, req.headers.accept, url.pathname, { maintenanceTemplate: template, pollIntervalMs: 60_000 }));
  const ctx = pages[name];
  if (!ctx) {
    res.writeHead(404).end();
    return;
  }
  send(res, renderPage(ctx, req.headers.accept, url.pathname, { pollIntervalMs: 60_000 }));
}

function send(res: http.ServerResponse, a: ReturnType<typeof renderPage>): void {
  res.writeHead(a.status, a.headers);
  res.end(a.body);
}

interface Watch {
  requests: string[];
  cspErrors: string[];
}

async function openPage(width: number, height: number, dark = false): Promise<{ page: Page; watch: Watch; close: () => Promise<void> }> {
  // no isMobile: mobile emulation zooms out to fit wide content, which would hide the overflow this looks for
  const context = await browser!.newContext({ viewport: { width, height }, colorScheme: dark ? 'dark' : 'light' });
  const page = await context.newPage();
  const watch: Watch = { requests: [], cspErrors: [] };
  page.on('request', (r) => watch.requests.push(r.url()));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) watch.cspErrors.push(m.text());
  });
  return { page, watch, close: () => context.close() };
}

function assertLocal(watch: Watch): void {
  for (const u of watch.requests) assert.ok(u.startsWith(`${origin}/`) || u.startsWith('data:'), `request left the origin: ${u}`);
}

// Browser-side code goes in as strings: this project compiles without the DOM library.
async function inPage<T>(page: Page, expression: string): Promise<T> {
  return (await page.evaluate(expression)) as T;
}

async function assertFits(page: Page, width: number, label: string): Promise<void> {
  const [scrollWidth, innerWidth] = await inPage<[number, number]>(page, '[document.documentElement.scrollWidth, window.innerWidth]');
  assert.ok(scrollWidth <= innerWidth && innerWidth <= width, `${label}: scrollWidth ${scrollWidth}, innerWidth ${innerWidth}, viewport ${width}`);
}

const shots: string[] = [];
const missing = existsSync(CHROMIUM) ? false : `chromium not found at ${CHROMIUM} (apt-get install chromium); browser checks skipped`;

describe('pages in headless chromium', { skip: missing, timeout: 180_000 }, () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    server = http.createServer(serve);
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  after(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    if (shots.length) console.log(`screenshots:\n${shots.join('\n')}`);
  });

  const headings: Record<string, RegExp> = {
    blocked: /This server belongs to another account/,
    conflict: /We stopped your login to protect your files/,
    maintenance: /The hub is down for maintenance/,
    'error-404': /Nothing is running at this address/,
    'error-503': /The server is not answering/,
    template: /Our own maintenance page/,
  };

  for (const [w, h] of [[1280, 800], [375, 667]] as const) {
    for (const name of Object.keys(headings)) {
      test(`${name} at ${w}x${h}: renders, fits, stays local, obeys its CSP`, async () => {
        const { page, watch, close } = await openPage(w, h);
        try {
          const res = await page.goto(`${origin}/${name}`);
          assert.ok(res);
          assert.equal(res.headers()['cache-control'], 'no-store');
          assert.match(await page.title(), name === 'template' ? /Custom maintenance/ : headings[name]!);
          assert.match(await page.locator('h1').innerText(), headings[name]!);
          assert.ok(await page.locator('h1').isVisible());
          await assertFits(page, w, `${name} ${w}x${h}`);
          if (name !== 'template') {
            assert.match(await page.locator('footer').innerText(), /Request id: req-/);
            // the hashed <style> applied: the card is at most 40rem wide
            assert.equal(await inPage(page, "getComputedStyle(document.querySelector('main')).maxWidth"), '640px');
          } else {
            assert.equal(await inPage(page, "getComputedStyle(document.querySelector('h1')).color"), 'rgb(170, 0, 0)');
          }
          if (name === 'maintenance') {
            // the hashed poll script ran: it unhides the "you can leave this page open" line and localises the time
            assert.ok(await page.locator('#hg-auto').isVisible());
            assert.doesNotMatch(await page.locator('time').innerText(), /UTC$/);
            assert.match(await page.locator('.msg').innerText(), /<img src=x onerror=/);
            assert.equal(await inPage(page, 'typeof window.__pwned'), 'undefined');
          }
          assertLocal(watch);
          assert.deepEqual(watch.cspErrors, []);
          const path = `${SHOTS}/${name}-${w}x${h}.png`;
          await page.screenshot({ path, fullPage: true });
          shots.push(path);
        } finally {
          await close();
        }
      });
    }
  }

  test('maintenance page in dark mode on a phone', async () => {
    const { page, watch, close } = await openPage(375, 667, true);
    try {
      await page.goto(`${origin}/maintenance`);
      assert.equal(await inPage(page, "matchMedia('(prefers-color-scheme: dark)').matches"), true);
      await assertFits(page, 375, 'maintenance dark');
      assertLocal(watch);
      const path = `${SHOTS}/maintenance-375x667-dark.png`;
      await page.screenshot({ path, fullPage: true });
      shots.push(path);
    } finally {
      await close();
    }
  });

  test('without JavaScript the maintenance page is a readable static page', async () => {
    const context = await browser!.newContext({ viewport: { width: 375, height: 667 }, javaScriptEnabled: false });
    try {
      const page = await context.newPage();
      await page.goto(`${origin}/maintenance`);
      assert.match(await page.locator('h1').innerText(), /The hub is down for maintenance/);
      assert.match(await page.locator('body').innerText(), /Reload this page later/);
      assert.equal(await page.locator('#hg-auto').isVisible(), false);
    } finally {
      await context.close();
    }
  });

  for (const variant of ['builtin', 'template'] as const) {
    test(`an open ${variant} maintenance page waits through 502s and returns when maintenance ends`, async () => {
      mode = 'maintenance';
      const { page, watch, close } = await openPage(375, 667);
      try {
        await page.goto(`${origin}/live/${variant}#/notebooks/x.ipynb`);
        const heading = variant === 'builtin' ? /The hub is down for maintenance/ : /Our own maintenance page/;
        assert.match(await page.locator('h1').innerText(), heading);
        await waitForPolls(3);
        assert.match(await page.locator('h1').innerText(), heading, 'still there while the answer is the maintenance page');

        mode = 'gateway';
        await waitForPolls(3);
        assert.match(await page.locator('h1').innerText(), heading, 'a gateway error means "still down", not "back"');

        mode = 'normal';
        await page.locator('h1', { hasText: 'Normal page' }).waitFor({ timeout: 30_000 }); // waitForFunction would need eval, which the CSP forbids
        assert.equal(new URL(page.url()).hash, '#/notebooks/x.ipynb');
        const path = `${SHOTS}/returned-${variant}.png`;
        await page.screenshot({ path });
        shots.push(path);
        assertLocal(watch);
        assert.deepEqual(watch.cspErrors, []);
        const pollRequests = watch.requests.filter((u) => u.startsWith(`${origin}/live/${variant}`));
        assert.ok(pollRequests.length >= 7, `page load + polls + reload, saw ${pollRequests.length}`);
      } finally {
        await close();
        mode = 'maintenance';
      }
    });
  }

  test('a page that answered a POST returns with a GET', async () => {
    mode = 'maintenance';
    const { page, close } = await openPage(1280, 800);
    try {
      // the maintenance page is the answer to a form POST
      await page.goto(`${origin}/form`);
      await Promise.all([page.waitForURL(`${origin}/live/builtin`), page.click('button')]);
      assert.match(await page.locator('h1').innerText(), /The hub is down for maintenance/);
      const methods: string[] = [];
      page.on('request', (r) => methods.push(r.method()));
      mode = 'normal';
      await page.locator('h1', { hasText: 'Normal page' }).waitFor({ timeout: 30_000 }); // waitForFunction would need eval, which the CSP forbids
      assert.ok(!methods.includes('POST'), `no resubmission, saw ${methods.join(',')}`);
    } finally {
      await close();
      mode = 'maintenance';
    }
  });
});

async function waitForPolls(n: number): Promise<void> {
  const target = polls + n;
  const deadline = Date.now() + 30_000;
  while (polls < target) {
    if (Date.now() > deadline) throw new Error(`expected ${n} more polls, saw ${n - (target - polls)}`);
    await sleep(20);
  }
}
