import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { renderPage, wantsJson, clearCookieHeader, type PageContext, type PageKind } from '../../src/pages/index.js';

const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const JSON_ACCEPT = 'application/json';
const XSS = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'`&';

const contexts: Record<PageKind, PageContext> = {
  blocked: { kind: 'blocked', status: 403, reason: 'other-user-server', requestId: 'req-b1', hubUrl: '/hub/' },
  conflict: { kind: 'conflict', status: 409, reason: 'cookie-id-shared', requestId: 'req-c1', hubUrl: '/hub/' },
  maintenance: { kind: 'maintenance', status: 503, reason: 'maintenance-manual', requestId: 'req-m1', message: 'Database upgrade', since: Date.UTC(2026, 10, 24, 19, 57), contact: 'help@example.org', retryAfterSec: 60 },
  error: { kind: 'error', status: 404, reason: 'no-route', requestId: 'req-e1', hubUrl: '/hub/' },
};

function text(body: string | Buffer): string {
  return typeof body === 'string' ? body : body.toString('utf8');
}

/** The hashes a browser would compute for each inline <style>/<script> block. */
function inlineHashes(html: string): { styles: string[]; scripts: string[] } {
  const h = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;
  return {
    styles: [...html.matchAll(/<style[^>]*>([\s\S]*?)<\/style>/g)].map((m) => h(m[1]!)),
    scripts: [...html.matchAll(/<script[^>]*>([\s\S]*?)<\/script>/g)].map((m) => h(m[1]!)),
  };
}

describe('wantsJson', () => {
  const cases: Array<[string | undefined, string, boolean]> = [
    [undefined, '/user/alice/tree', false],
    ['', '/user/alice/tree', false],
    [HTML, '/user/alice/tree', false],
    ['*/*', '/user/alice/tree', false],
    ['application/json', '/user/alice/tree', true],
    ['application/json, text/html', '/x', true],
    ['text/html, application/json', '/x', false],
    ['text/html;q=0.5, application/json', '/x', true],
    ['application/json;q=0.4, text/html;q=0.9', '/x', false], // the hub 3.0 ascending-q sort would say JSON here
    ['application/vnd.github.v3+json', '/x', true],
    ['application/json;q=0', '/x', false],
    ['application/json;q=abc, text/html;q=0.5', '/x', true],
    ['garbage,,;;;q=', '/x', false],
    [HTML, '/user/alice/api/contents', true],
    [HTML, '/hub/api/users', true],
    [HTML, '/prefix/user/alice/api/kernels?x=1', true],
    [HTML, '/user/alice/%61pi/sessions', true],
    [HTML, '/user/api/tree', false], // a user named "api"
    [HTML, '/services/api/', false],
    [HTML, '/user/user/api/x', true],
    [HTML, '/user/alice/tree?next=/api/', false],
    [HTML, '/user/alice/tree#/api/', false],
    [HTML, '/user/alice/apis/', false],
    [HTML, '/user/alice/%E0%A4%A/api', true],
  ];
  for (const [accept, path, expected] of cases) {
    test(`${JSON.stringify(accept)} ${path} → ${expected ? 'JSON' : 'HTML'}`, () => {
      assert.equal(wantsJson(accept, path), expected);
    });
  }
  test('bad input types never throw', () => {
    assert.equal(wantsJson(42 as unknown as string, 17 as unknown as string), false);
  });
});

describe('HTML pages', () => {
  for (const kind of Object.keys(contexts) as PageKind[]) {
    test(`${kind}: status, headers, CSP covers exactly the inline blocks`, () => {
      const ctx = contexts[kind];
      const a = renderPage(ctx, HTML, '/user/bob/tree');
      const body = text(a.body);
      assert.equal(a.status, ctx.status);
      assert.equal(a.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(a.headers['cache-control'], 'no-store');
      assert.equal(a.headers['x-content-type-options'], 'nosniff');
      assert.equal(a.headers['x-hub-guard-page'], kind);
      assert.equal(a.headers['content-length'], String(Buffer.byteLength(body)));
      assert.equal(a.headers['retry-after'], kind === 'maintenance' ? '60' : undefined);
      assert.equal(a.headers['set-cookie'], undefined);
      assert.match(body, /^<!doctype html>/);
      assert.match(body, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
      assert.ok(body.includes(ctx.requestId), 'request id shown');
      assert.doesNotMatch(body, /https?:\/\/|\/\/[a-z]/i, 'no external URL');
      assert.doesNotMatch(body, /\sstyle=|\son[a-z]+=/i, 'no inline attributes a strict CSP would block');

      const csp = String(a.headers['content-security-policy']);
      assert.match(csp, /^default-src 'none'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
      const { styles, scripts } = inlineHashes(body);
      assert.equal(styles.length, 1);
      for (const h of styles) assert.ok(csp.includes(`style-src ${h}`), `style hash in ${csp}`);
      if (kind === 'maintenance') {
        assert.equal(scripts.length, 1);
        assert.ok(csp.includes(`script-src ${scripts[0]}`));
        assert.ok(csp.includes("connect-src 'self'"));
      } else {
        assert.equal(scripts.length, 0);
        assert.doesNotMatch(csp, /script-src|connect-src/);
      }
    });
  }

  test('blocked page says whose server it is not, and links home', () => {
    const body = text(renderPage(contexts.blocked, HTML, '/user/bob/').body);
    assert.match(body, /<h1>This server belongs to another account<\/h1>/);
    assert.match(body, /<a class="btn" href="\/hub\/">Go to your home page<\/a>/);
    assert.doesNotMatch(body, /bob/, 'the route owner is never named');
  });

  test('conflict page says what happened and that re-login will not help', () => {
    const body = text(renderPage(contexts.conflict, HTML, '/hub/home').body);
    assert.match(body, /user records are inconsistent/);
    assert.match(body, /Logging out and in again will not fix this/);
    assert.match(body, /contact support/);
  });

  test('maintenance page shows message, since, contact and polls', () => {
    const body = text(renderPage(contexts.maintenance, HTML, '/user/alice/', { pollIntervalMs: 20_000 }).body);
    assert.match(body, /<p class="msg">Database upgrade<\/p>/);
    assert.match(body, /<time datetime="2026-11-24T19:57:00.000Z" data-local>2026-11-24 19:57 UTC<\/time>/);
    assert.match(body, /Contact: help@example\.org/);
    assert.match(body, /<script data-poll-ms="20000">/);
    assert.match(body, /checks every 20 seconds/);
    assert.match(body, /<noscript>/);
  });

  test('maintenance without a message explains by reason', () => {
    const manual = text(renderPage({ ...contexts.maintenance, message: undefined }, HTML, '/').body);
    assert.match(manual, /paused for maintenance by its administrators/);
    const auto = text(renderPage({ ...contexts.maintenance, message: '  ', reason: 'db-users-collapsed' }, HTML, '/').body);
    assert.match(auto, /user records are checked/);
  });

  test('error pages by status', () => {
    assert.match(text(renderPage(contexts.error, HTML, '/').body), /Nothing is running at this address/);
    const down = renderPage({ ...contexts.error, status: 503, reason: 'upstream-unreachable' }, HTML, '/');
    assert.match(text(down.body), /The server is not answering/);
    assert.equal(down.headers['retry-after'], '30');
    assert.match(text(renderPage({ ...contexts.error, status: 500 }, HTML, '/').body), /Something went wrong/);
  });

  test('untrusted text stays inert everywhere it is shown', () => {
    const ctx: PageContext = { ...contexts.maintenance, message: XSS, contact: XSS, reason: XSS, requestId: XSS };
    const body = text(renderPage(ctx, HTML, '/').body);
    assert.equal(body.match(/<script/g)?.length, 1, 'only the poll script');
    assert.doesNotMatch(body, /<img/);
    assert.ok(body.includes('&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;&quot;&#39;&#96;&amp;'));
    for (const kind of ['blocked', 'conflict', 'error'] as const) {
      const b = text(renderPage({ ...contexts[kind], reason: XSS, requestId: XSS, contact: XSS }, HTML, '/').body);
      assert.doesNotMatch(b, /<script|<img/);
    }
  });

  test('hubUrl becomes a link only when it is a same-origin path', () => {
    for (const bad of ['https://evil.example/', '//evil.example/', 'javascript:alert(1)', '/\\evil', '/a b', 'hub/']) {
      const body = text(renderPage({ ...contexts.blocked, hubUrl: bad }, HTML, '/').body);
      assert.doesNotMatch(body, /class="btn"/, bad);
    }
    const body = text(renderPage({ ...contexts.blocked, hubUrl: '/jh/hub/?a="b"' }, HTML, '/').body);
    assert.match(body, /href="\/jh\/hub\/\?a=&quot;b&quot;"/);
  });

  test('bad status, kind, retry and since values fall back instead of failing', () => {
    const a = renderPage({ ...contexts.blocked, status: 200 }, HTML, '/');
    assert.equal(a.status, 403);
    const m = renderPage({ ...contexts.maintenance, status: Number.NaN, retryAfterSec: -5, since: Number.NaN }, HTML, '/');
    assert.equal(m.status, 503);
    assert.equal(m.headers['retry-after'], '30');
    assert.doesNotMatch(text(m.body), /<time/);
    const odd = renderPage({ ...contexts.blocked, kind: 'weird' as PageKind, status: 418 }, HTML, '/');
    assert.equal(odd.status, 418);
    assert.equal(odd.headers['x-hub-guard-page'], 'error');
    const loose = renderPage({ kind: 'maintenance', status: 503, reason: undefined, requestId: 7, message: { a: 1 } } as unknown as PageContext, JSON_ACCEPT, '/');
    assert.equal(JSON.parse(text(loose.body)).request_id, '7');
    assert.equal(renderPage({ ...contexts.maintenance, retryAfterSec: 12.6 }, HTML, '/').headers['retry-after'], '13');
  });
});

describe('JSON answers', () => {
  for (const kind of Object.keys(contexts) as PageKind[]) {
    test(`${kind}`, () => {
      const ctx = contexts[kind];
      const a = renderPage(ctx, JSON_ACCEPT, '/user/bob/tree');
      assert.equal(a.status, ctx.status);
      assert.equal(a.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal(a.headers['cache-control'], 'no-store');
      assert.equal(a.headers['x-content-type-options'], 'nosniff');
      assert.equal(a.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'");
      const j = JSON.parse(text(a.body));
      assert.equal(j.status, ctx.status);
      assert.equal(j.kind, kind);
      assert.equal(j.reason, ctx.reason);
      assert.equal(j.request_id, ctx.requestId);
      assert.equal(typeof j.message, 'string');
      assert.ok(j.message.length > 0);
    });
  }

  test('maintenance JSON carries message, since, contact and retry_after', () => {
    const a = renderPage(contexts.maintenance, undefined, '/user/alice/api/kernels');
    assert.deepEqual(JSON.parse(text(a.body)), {
      status: 503,
      kind: 'maintenance',
      reason: 'maintenance-manual',
      message: 'Database upgrade',
      request_id: 'req-m1',
      since: '2026-11-24T19:57:00.000Z',
      contact: 'help@example.org',
      retry_after: 60,
    });
    assert.equal(a.headers['retry-after'], '60');
  });

  test('blocked and conflict JSON messages', () => {
    assert.equal(JSON.parse(text(renderPage(contexts.blocked, JSON_ACCEPT, '/').body)).message, 'This server belongs to another account.');
    assert.match(JSON.parse(text(renderPage(contexts.conflict, JSON_ACCEPT, '/').body)).message, /logging out and in again will not fix it/);
  });

  test('no raw < in the body, values survive a round trip', () => {
    const a = renderPage({ ...contexts.maintenance, message: XSS }, JSON_ACCEPT, '/');
    assert.doesNotMatch(text(a.body), /</);
    assert.equal(JSON.parse(text(a.body)).message, XSS);
  });
});

describe('clearing cookies', () => {
  test('Set-Cookie for each entry, at the path it was set with', () => {
    const a = renderPage(contexts.conflict, HTML, '/hub/home', {
      clearCookies: ['jupyterhub-hub-login; Path=/hub/', 'jupyterhub-session-id', 'jupyterhub-user-jane%40example.com; path=/user/jane@example.com/', 'x; Path=/; Domain=.example.org; Secure'],
    });
    assert.deepEqual(a.headers['set-cookie'], [
      'jupyterhub-hub-login=; Path=/hub/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly',
      'jupyterhub-session-id=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly',
      'jupyterhub-user-jane%40example.com=; Path=/user/jane@example.com/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly',
      'x=; Path=/; Domain=.example.org; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; HttpOnly',
    ]);
    const j = renderPage(contexts.conflict, JSON_ACCEPT, '/hub/api/user', { clearCookies: ['jupyterhub-hub-login; Path=/hub/'] });
    assert.equal((j.headers['set-cookie'] as string[]).length, 1);
  });

  test('__Host- and __Secure- cookies are cleared with Secure', () => {
    assert.equal(clearCookieHeader('__Host-jupyterhub-hub-login'), '__Host-jupyterhub-hub-login=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; HttpOnly');
    assert.match(clearCookieHeader('__Secure-a; Path=/hub/'), /; Secure; HttpOnly$/);
    assert.throws(() => clearCookieHeader('__Host-a; Path=/hub/'), /__Host- cookies live at Path=\//);
  });

  test('bad entries: clear errors from clearCookieHeader, skipped per request', () => {
    const bad = ['', 'a b', 'a=1', 'a; Path=hub', 'a; Path=/x;y', 'a; Max-Age=5', 'a; Domain=ev il', 'a\r\nX: y', 'a; Path=/\u00e9/'];
    for (const spec of bad) assert.throws(() => clearCookieHeader(spec), /cookie to clear/, JSON.stringify(spec));
    const a = renderPage(contexts.conflict, HTML, '/', { clearCookies: [...bad, 42 as unknown as string, 'ok'] });
    assert.deepEqual(a.headers['set-cookie'], ['ok=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly']);
    assert.equal(renderPage(contexts.conflict, HTML, '/', { clearCookies: 'nope' as unknown as string[] }).headers['set-cookie'], undefined);
  });
});
