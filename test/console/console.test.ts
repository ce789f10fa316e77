// The operator console in headless Chromium against a real hub-guard process: a hub DB JupyterHub made, routes the
// hub added, the public port serving them. What an operator does during an incident, click by click, and what an
// attacker might try against the forms, by hand.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startBackend, type Backend } from '../helpers/backend.js';
import { eventually } from '../helpers/eventually.js';
import { startGuard, type Guard } from '../helpers/guard.js';
import { makeHubDb, type HubDbFixture } from '../helpers/hub-db.js';
import { get, send } from '../helpers/http.js';
import { writeSecret } from '../helpers/secret.js';
import { dropPrefix, SHARED_PORT, uniquePrefix } from '../state/redis.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const OPERATOR_TOKEN = 'console-test-operator-token-0123456789';
const REASON = 'Restoring the hub database; back by 14:00';
const FORM = 'application/x-www-form-urlencoded';

const missing = existsSync(CHROMIUM) ? false : `chromium not found at ${CHROMIUM} (apt-get install chromium); console browser tests skipped`;

interface Reply { status: number; headers: IncomingHttpHeaders; text: string }

/** One request from a chosen loopback address, so a test can be "another client" to the per-address limiter. */
function from(localAddress: string, port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, localAddress, agent: false, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

describe('operator console in headless chromium', { skip: missing, timeout: 240_000 }, () => {
  let fx: HubDbFixture;
  let hub: Backend;
  let alice: Backend;
  let guard: Guard;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  /** Every request the console's pages made, for the same-origin check. */
  const requested: string[] = [];
  const cspErrors: string[] = [];
  let origin: string;

  before(async () => {
    fx = await makeHubDb({ users: ['alice', 'bob', 'carol'] });
    fx.save();
    hub = await startBackend({ name: 'hub' });
    alice = await startBackend({ name: 'alice-server' });
    guard = await startGuard({ db: fx, secret: writeSecret(fx.dir), operatorToken: OPERATOR_TOKEN, metrics: true, flags: ['--db-check-interval', '1'] });
    origin = guard.apiUrl;
    await guard.addRoute('/', { hub: true, target: hub.url });
    await guard.addRoute('/user/alice', { user: 'alice', server_name: '', target: alice.url });
    await guard.addRoute('/services/announce', { service: 'announce', target: hub.url });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on('request', (r) => requested.push(r.url()));
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
    });
  });

  after(async () => {
    await browser?.close();
    await guard?.stop();
    await hub?.stop();
    await alice?.stop();
    fx?.remove();
  });

  const consoleCookie = async () => (await context.cookies(`${origin}/guard/`)).find((c) => c.name === 'hub-guard-console');
  const csrfOnPage = async () => (await page.locator('input[name=csrf]').first().getAttribute('value'))!;
  const maintenance = async () => (await guard.operator('GET', '/api/guard/maintenance')).json<{ on: boolean; mode?: string; reason?: string; by?: string }>();
  const signInFailures = async (kind: string) => {
    const text = (await get(guard.metricsPort!, '/metrics')).text;
    return Number(new RegExp(`^hub_guard_console_signin_failures_total\\{kind="${kind}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  };

  test('without credentials both URLs show a sign-in form; a wrong token gets it again with a message, and is counted', async () => {
    for (const path of ['/guard/', '/guard/status']) {
      const res = await page.goto(`${origin}${path}`);
      assert.equal(res?.status(), 403, path);
      assert.equal(await page.locator('form[action="/guard/sign-in"] input[type=password][name=token]').count(), 1, path);
    }
    const before = await signInFailures('wrong-token');
    await page.fill('input[name=token]', 'not-the-token');
    const [res] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    assert.equal(res?.status(), 403);
    assert.match(await page.locator('.alert').innerText(), /not the operator token/);
    assert.equal(await page.locator('input[name=token]').count(), 1, 'the form again');
    assert.equal(await consoleCookie(), undefined, 'no session for a wrong token');
    assert.equal(await signInFailures('wrong-token'), before + 1);
    assert.ok(!guard.stderr().includes('not-the-token'), 'a tried token is never logged');
  });

  test('sign in; maintenance on with a reason holds the public port with it; off, and it serves again; the audit says "console from"', async () => {
    assert.equal((await get(guard.port, '/')).status, 200, 'the public port serves before');
    await page.goto(`${origin}/guard/status`);
    await page.fill('input[name=token]', OPERATOR_TOKEN);
    const [signedIn] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    assert.equal(signedIn?.status(), 200);
    assert.equal(new URL(page.url()).pathname, '/guard/status', 'POST-redirect-GET');
    const cookie = await consoleCookie();
    assert.ok(cookie, 'a console session cookie');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(cookie.path, '/guard/');
    assert.equal(cookie.secure, false, 'plain HTTP API port: no Secure');
    const hours = (cookie.expires * 1000 - Date.now()) / 3600_000;
    assert.ok(hours > 7.9 && hours <= 8, `expires in ${hours} h`);
    assert.ok(!cookie.value.includes(OPERATOR_TOKEN), 'the cookie is not the token');
    assert.ok(!guard.stderr().includes(cookie.value), 'the session is never logged');

    assert.equal(await page.locator('button[name=action][value=off]').isDisabled(), true, 'nothing to switch off yet');
    await page.fill('input[name=reason]', REASON);
    const [on] = await Promise.all([page.waitForNavigation(), page.click('button[name=action][value=on]')]);
    assert.equal(on?.status(), 200);
    assert.equal(new URL(page.url()).pathname, '/guard/status');
    const held = await get(guard.port, '/hub/home', { accept: 'text/html' });
    assert.equal(held.status, 503);
    assert.ok(held.text.includes('Restoring the hub database; back by 14:00'), 'the maintenance page gives the reason');
    const api = await get(guard.port, '/hub/api/users');
    assert.equal(api.json().message, REASON);
    const m = await maintenance();
    assert.equal(m.mode, 'manual');
    assert.equal(m.by, 'console from 127.0.0.1');
    const audit = await guard.audit((a) => a.action === 'on' && a.mode === 'manual', 'console switched it on');
    assert.equal(audit.by, 'console from 127.0.0.1');
    assert.equal(audit.reason, REASON);
    assert.match(await page.locator('main').innerText(), /On \(manual\)[\s\S]*console from 127\.0\.0\.1/);

    await page.fill('input[name=reason]', 'restore verified');
    await Promise.all([page.waitForNavigation(), page.click('button[name=action][value=off]')]);
    assert.equal((await maintenance()).on, false);
    assert.equal((await get(guard.port, '/')).status, 200, 'the public port serves again');
    const offAudit = await guard.audit((a) => a.action === 'off', 'console switched it off');
    assert.equal(offAudit.by, 'console from 127.0.0.1');
    assert.equal(offAudit.reason, 'restore verified');
    const history = await page.locator('table').filter({ hasText: 'restore verified' }).innerText();
    assert.match(history, /console from 127\.0\.0\.1/);
  });

  test('the incident view: refusals chart, recent checks, routes with a working filter', async () => {
    await page.goto(`${origin}/guard/status`);
    // the 503s above were refusals; the current minute is peeked at
    assert.ok(await page.locator('.chart svg rect').count() >= 1, 'bars');
    assert.match(await page.locator('.legend').innerText(), /maintenance-manual/);
    const checks = page.locator('h3', { hasText: 'Recent checks' }).locator('xpath=following-sibling::table[1]');
    assert.ok(await checks.locator('tbody tr').count() >= 1);
    assert.match(await checks.locator('tbody tr').first().innerText(), /\d+ ms[\s\S]*healthy/);
    const rows = page.locator('#routes tbody tr');
    assert.equal(await rows.count(), 3);
    assert.equal(await page.locator('#route-filter').isVisible(), true, 'the filter shows once its script ran');
    await page.fill('#route-filter', 'alice');
    assert.equal(await page.locator('#routes tbody tr:visible').count(), 1);
    assert.match(await page.locator('#routes tbody tr:visible').innerText(), /\/user\/alice/);
    assert.match(await page.locator('#route-count').innerText(), /1 of 3 shown/);
    await page.fill('#route-filter', '');
    assert.equal(await page.locator('#routes tbody tr:visible').count(), 3);
    assert.match(await page.locator('main').innerText(), /Replicas seen in the last minute \(1\)[\s\S]*\(this one\)/);
  });

  test('nothing loads from elsewhere, and the CSP would not let it', async () => {
    requested.length = 0;
    const res = await page.goto(`${origin}/guard/status`);
    await page.fill('#route-filter', 'hub');
    const csp = res!.headers()['content-security-policy']!;
    const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k!, v]));
    assert.deepEqual(directives.get('default-src'), ["'none'"]);
    assert.deepEqual(directives.get('form-action'), ["'self'"]);
    assert.deepEqual(directives.get('frame-ancestors'), ["'none'"]);
    assert.ok(directives.get('script-src')!.every((s) => /^'sha256-[A-Za-z0-9+/=]+'$/.test(s)), 'scripts by hash only');
    assert.ok(directives.get('style-src')!.every((s) => /^'sha256-[A-Za-z0-9+/=]+'$/.test(s)), 'styles by hash only');
    assert.doesNotMatch(csp, /https?:|\*|unsafe|connect-src/);
    assert.ok(requested.length >= 1);
    for (const url of requested) assert.ok(url.startsWith(`${origin}/`) || url.startsWith('data:'), `left the origin: ${url}`);
    assert.deepEqual(cspErrors, [], 'nothing on the page was blocked either');
  });

  test('a forged or missing CSRF token is refused, and so is a post from another origin', async () => {
    await page.goto(`${origin}/guard/status`);
    const cookie = `hub-guard-console=${(await consoleCookie())!.value}`;
    const csrf = await csrfOnPage();
    const post = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
      send(guard.apiPort, 'POST', '/guard/maintenance', { headers: { cookie, 'content-type': FORM, ...headers }, body: form(fields) });
    for (const [what, fields, headers] of [
      ['no csrf', { action: 'on', reason: 'forged' }, {}],
      ['empty csrf', { action: 'on', reason: 'forged', csrf: '' }, {}],
      ['forged csrf', { action: 'on', reason: 'forged', csrf: `${csrf.slice(0, -2)}xx` }, {}],
      ['another origin', { action: 'on', reason: 'forged', csrf }, { origin: 'http://evil.example' }],
      ['another site per Sec-Fetch-Site', { action: 'on', reason: 'forged', csrf }, { 'sec-fetch-site': 'same-site' }],
    ] as const) {
      const r = await post(fields, headers);
      assert.equal(r.status, 403, what);
      assert.match(r.text, /Form refused/, what);
      assert.equal((await maintenance()).on, false, what);
    }
    const noSession = await send(guard.apiPort, 'POST', '/guard/maintenance', { headers: { 'content-type': FORM }, body: form({ action: 'on', reason: 'forged', csrf }) });
    assert.equal(noSession.status, 403, 'a CSRF token without its session');
    const other = await send(guard.apiPort, 'POST', '/guard/maintenance', { headers: { authorization: `token ${OPERATOR_TOKEN}`, 'content-type': FORM }, body: form({ action: 'on', reason: 'forged' }) });
    assert.equal(other.status, 403, 'the forms are for the console session; scripts have the JSON API');
    assert.equal((await maintenance()).on, false);
    // the same post with the session's own token goes through: the refusals above were about the token
    const ok = await post({ action: 'on', reason: 'csrf control', csrf });
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.location, '/guard/status');
    assert.equal((await maintenance()).reason, 'csrf control');
    assert.equal((await post({ action: 'off', csrf })).status, 303);
    assert.equal((await maintenance()).on, false);
  });

  test('Authorization: token still opens the same URLs for curl, read-only; a token in the URL is refused', async () => {
    for (const path of ['/guard/status', '/guard/', '/guard']) {
      const r = await get(guard.apiPort, path, { authorization: `token ${OPERATOR_TOKEN}` });
      assert.equal(r.status, 200, path);
      assert.match(r.text, /read-only/);
      assert.doesNotMatch(r.text, /name="csrf"/);
    }
    const cookie = `hub-guard-console=${(await consoleCookie())!.value}`;
    for (const [path, headers] of [
      [`/guard/status?token=${OPERATOR_TOKEN}`, {}],
      [`/guard/?token=${OPERATOR_TOKEN}`, {}],
      [`/guard/status?token=${OPERATOR_TOKEN}`, { cookie }],
      [`/guard/status?access_token=${OPERATOR_TOKEN}`, { authorization: `token ${OPERATOR_TOKEN}` }],
    ] as const) {
      const r = await get(guard.apiPort, path, headers);
      assert.equal(r.status, 403, path);
      assert.match(r.text, /token in the URL is refused/);
      assert.equal(r.headers['set-cookie'], undefined);
    }
    const q = await send(guard.apiPort, 'POST', `/guard/sign-in?token=${OPERATOR_TOKEN}`, { headers: { 'content-type': FORM }, body: '' });
    assert.equal(q.status, 403);
    assert.equal(q.headers['set-cookie'], undefined);
    assert.ok(!guard.stderr().includes(OPERATOR_TOKEN), 'the token is never logged');
  });

  test('automatic maintenance: findings with advice and commands; clearing asks to confirm, naming what is still wrong', async () => {
    fx.wipe();
    const auto = await eventually('automatic maintenance', async () => ((await maintenance()).mode === 'auto' ? true : undefined));
    assert.ok(auto);
    assert.equal((await get(guard.port, '/')).status, 503);
    await page.goto(`${origin}/guard/status`);
    const findings = page.locator('ul.findings > li');
    const text = await page.locator('ul.findings').innerText();
    assert.ok(await findings.count() >= 1);
    assert.match(text, /critical\s+tables-missing/);
    assert.match(text, /What to do: Keep the hub stopped/);
    assert.match(await findings.filter({ hasText: 'tables-missing' }).locator('pre.cmd').innerText(), new RegExp(`hub-guard doctor --db sqlite:///${fx.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));

    // the first "off" only asks
    await Promise.all([page.waitForNavigation(), page.click('button[name=action][value=off]')]);
    assert.equal(await page.title(), 'hub-guard: clear automatic maintenance?');
    const confirm = await page.locator('main').innerText();
    assert.match(confirm, /still finds these \d+ critical problems|still finds this critical problem/);
    assert.match(confirm, /tables-missing/);
    assert.match(confirm, /switches maintenance back on at its next check/);
    assert.equal((await maintenance()).mode, 'auto', 'asking changed nothing');

    // an unticked box does not submit (required), and the server would ask again anyway
    await page.click('button[name=action][value=off]');
    assert.equal(await page.title(), 'hub-guard: clear automatic maintenance?');
    assert.equal((await maintenance()).mode, 'auto');

    // the operator restores the database, then confirms
    fx.restore();
    await eventually('a healthy read of the restored database', async () => ((await get(guard.apiPort, '/readyz')).json().db === 'healthy' ? true : undefined));
    assert.equal((await maintenance()).mode, 'auto', 'latched: the watchdog does not clear it');
    await page.check('input[name=confirm]');
    await Promise.all([page.waitForNavigation(), page.click('button[name=action][value=off]')]);
    assert.equal(new URL(page.url()).pathname, '/guard/status');
    assert.equal((await maintenance()).on, false);
    assert.equal((await get(guard.port, '/')).status, 200, 'the public port serves again');
    const audit = await guard.audit((a) => a.action === 'off' && a.mode === 'auto', 'console cleared automatic maintenance');
    assert.equal(audit.by, 'console from 127.0.0.1');
  });

  test('a confirmation for a maintenance that has since changed asks again', async () => {
    const cookie = `hub-guard-console=${(await consoleCookie())!.value}`;
    await page.goto(`${origin}/guard/status`);
    const csrf = await csrfOnPage();
    fx.save();
    fx.wipe();
    await eventually('automatic maintenance again', async () => ((await maintenance()).mode === 'auto' ? true : undefined));
    const stale = await send(guard.apiPort, 'POST', '/guard/maintenance', {
      headers: { cookie, 'content-type': FORM },
      body: form({ action: 'off', csrf, confirm: 'yes', since: '1' }),
    });
    assert.equal(stale.status, 200);
    assert.match(stale.text, /changed while you were confirming/);
    assert.equal((await maintenance()).mode, 'auto');
    fx.restore();
    await eventually('healthy again', async () => ((await get(guard.apiPort, '/readyz')).json().db === 'healthy' ? true : undefined));
    const since = String((await guard.operator('GET', '/api/guard/maintenance')).json<{ since: string }>().since);
    const ok = await send(guard.apiPort, 'POST', '/guard/maintenance', {
      headers: { cookie, 'content-type': FORM },
      body: form({ action: 'off', csrf, confirm: 'yes', since: String(Date.parse(since)) }),
    });
    assert.equal(ok.status, 303);
    assert.equal((await maintenance()).on, false);
  });

  test('sign-out needs the CSRF token, then ends the session in the browser', async () => {
    await page.goto(`${origin}/guard/status`);
    const cookie = `hub-guard-console=${(await consoleCookie())!.value}`;
    const forged = await send(guard.apiPort, 'POST', '/guard/sign-out', { headers: { cookie, 'content-type': FORM }, body: form({ csrf: 'forged' }) });
    assert.equal(forged.status, 403);
    assert.equal(forged.headers['set-cookie'], undefined);
    await Promise.all([page.waitForNavigation(), page.click('form[action="/guard/sign-out"] button')]);
    assert.equal(await consoleCookie(), undefined, 'cookie cleared');
    assert.equal(await page.locator('input[name=token]').count(), 1, 'back to the sign-in form');
    const res = await page.goto(`${origin}/guard/status`);
    assert.equal(res?.status(), 403);
  });

  test('repeated wrong tokens from one address: 429 with Retry-After, even for the right token; other addresses sign in', async () => {
    const before = await signInFailures('rate-limited');
    const signIn = (address: string, token: string) => from(address, guard.apiPort, 'POST', '/guard/sign-in', { 'content-type': FORM }, form({ token }));
    for (let i = 1; i <= 5; i++) assert.equal((await signIn('127.0.0.7', `guess-${i}`)).status, 403, `guess ${i}`);
    const limited = await signIn('127.0.0.7', 'guess-6');
    assert.equal(limited.status, 429);
    const wait = Number(limited.headers['retry-after']);
    assert.ok(wait >= 1 && wait <= 60, `Retry-After: ${limited.headers['retry-after']}`);
    assert.match(limited.text, /Too many wrong tokens from 127\.0\.0\.7/);
    assert.match(limited.text, /name="token"/, 'still the form');
    const right = await signIn('127.0.0.7', OPERATOR_TOKEN);
    assert.equal(right.status, 429, 'no token is tried while limited');
    assert.equal(right.headers['set-cookie'], undefined);
    const elsewhere = await signIn('127.0.0.8', OPERATOR_TOKEN);
    assert.equal(elsewhere.status, 303);
    assert.match(String(elsewhere.headers['set-cookie']), /^hub-guard-console=[^;]+; Path=\/guard\/; Max-Age=28800; HttpOnly; SameSite=Strict$/);
    assert.equal(await signInFailures('rate-limited'), before + 2);
  });
});

describe('operator console with Redis: every replica in the last minute', { timeout: 120_000 }, () => {
  const prefix = uniquePrefix('console-replicas');
  const guards: Guard[] = [];

  after(async () => {
    for (const g of guards) await g.stop();
    await dropPrefix(SHARED_PORT, prefix);
  });

  test('two processes sharing a Redis each list both, with version and state; a stopped one leaves the list', async () => {
    for (let i = 0; i < 2; i++) {
      guards.push(await startGuard({ operatorToken: OPERATOR_TOKEN, flags: ['--redis-url', `redis://127.0.0.1:${SHARED_PORT}`, '--redis-prefix', prefix] }));
    }
    const [a, b] = guards as [Guard, Guard];
    const page = async (g: Guard) => (await get(g.apiPort, '/guard/status', { authorization: `token ${OPERATOR_TOKEN}` })).text;
    const html = await eventually('both replicas listed', async () => {
      const text = await page(a);
      return text.includes(`:${a.pid}</code>`) && text.includes(`:${b.pid}</code>`) ? text : undefined;
    });
    assert.match(html, /Replicas seen in the last minute \(2\)/);
    assert.match(html, /<td data-label="Version">0\.1\.0<\/td><td data-label="Maintenance">off<\/td><td data-label="Hub database">not watched<\/td>/);
    await a.operator('PUT', '/api/guard/maintenance', { reason: 'replica check' });
    // the maintenance switch reaches b at once; b's own heartbeat says so at its next beat (15 s)
    assert.match(await eventually('maintenance on both', async () => {
      const text = await page(b);
      return /<dd>on \(manual\)<\/dd>/.test(text) ? text : undefined;
    }), /replica check/);
    await b.stop();
    guards.pop();
    const after = await eventually('b gone from the list', async () => {
      const text = await page(a);
      return text.includes(`:${b.pid}</code>`) ? undefined : text;
    });
    assert.match(after, /Replicas seen in the last minute \(1\)/);
    await a.operator('DELETE', '/api/guard/maintenance');
  });
});
