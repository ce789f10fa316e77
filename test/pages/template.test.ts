import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMaintenanceTemplate, parseMaintenanceTemplate, renderPage, type PageContext } from '../../src/pages/index.js';

const HTML = 'text/html';
const ctx: PageContext = {
  kind: 'maintenance',
  status: 503,
  reason: 'maintenance-manual',
  message: 'Upgrade <b>now</b> & "later"',
  since: Date.UTC(2026, 0, 2, 3, 4),
  contact: "ops@example.org <script>x</script>",
  requestId: 'r-1',
};
const sha = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hub-guard-pages-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string | Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

describe('maintenance template', () => {
  test('placeholders are filled and escaped; unknown ones stay', () => {
    const t = loadMaintenanceTemplate(
      file('a.html', '<html><body><h1>{{reason}}</h1><p title="{{ contact }}">{{since}} {{request_id}} {{unknown}} {{ reason_code }}</p></body></html>'),
    );
    const body = String(renderPage(ctx, HTML, '/user/a/', { maintenanceTemplate: t, pollIntervalMs: 500 }).body);
    assert.ok(body.startsWith('<html><body><h1>Upgrade &lt;b&gt;now&lt;/b&gt; &amp; &quot;later&quot;</h1>'));
    assert.ok(body.includes('<p title="ops@example.org &lt;script&gt;x&lt;/script&gt;">2026-01-02 03:04 UTC r-1 {{unknown}} {{ reason_code }}</p>'));
    assert.ok(body.endsWith('</script></body></html>'), 'poll script placed before </body>');
    assert.equal(body.match(/<script/g)?.length, 1);
    assert.match(body, /<script data-poll-ms="500">/);
  });

  test('values that look like placeholders are not filled again', () => {
    const t = parseMaintenanceTemplate('<p>{{reason}}|{{request_id}}</p>');
    const body = String(renderPage({ ...ctx, message: '{{request_id}}' }, HTML, '/', { maintenanceTemplate: t }).body);
    assert.ok(body.startsWith('<p>{{request_id}}|r-1</p>'));
  });

  test('without </body> the poll script is appended; the last </body> wins', () => {
    const plain = String(renderPage(ctx, HTML, '/', { maintenanceTemplate: parseMaintenanceTemplate('<p>down</p>') }).body);
    assert.match(plain, /^<p>down<\/p><script data-poll-ms="15000">[\s\S]*<\/script>$/);
    const two = String(renderPage(ctx, HTML, '/', { maintenanceTemplate: parseMaintenanceTemplate('<!-- </body> --><p>x</p></BODY>\n') }).body);
    assert.match(two, /^<!-- <\/body> --><p>x<\/p><script[\s\S]*<\/script><\/BODY>\n$/);
  });

  test('CSP covers the template\'s own inline blocks (CRLF as the browser sees it) and the poll script', () => {
    const t = parseMaintenanceTemplate('<style>\r\nh1{color:red}\r\n</style><script>console.log(1)</script><h1>x</h1><script></script>');
    assert.ok(t.csp.includes(`style-src ${sha('\nh1{color:red}\n')}`));
    assert.ok(t.csp.includes(`script-src ${sha('console.log(1)')} `));
    const a = renderPage(ctx, HTML, '/', { maintenanceTemplate: t });
    assert.equal(a.headers['content-security-policy'], t.csp);
    const body = String(a.body);
    const poll = /<script data-poll-ms="\d+">([\s\S]*?)<\/script>/.exec(body)![1]!;
    assert.ok(t.csp.includes(sha(poll)));
    assert.doesNotMatch(t.csp, /unsafe-inline/);
    assert.deepEqual(t.warnings, []);
  });

  test('headers are those of every page; JSON clients and other kinds ignore the template', () => {
    const t = parseMaintenanceTemplate('<p>{{reason}}</p>');
    const a = renderPage({ ...ctx, retryAfterSec: 90 }, HTML, '/', { maintenanceTemplate: t, clearCookies: ['jupyterhub-hub-login; Path=/hub/'] });
    assert.equal(a.status, 503);
    assert.equal(a.headers['retry-after'], '90');
    assert.equal(a.headers['cache-control'], 'no-store');
    assert.equal(a.headers['x-content-type-options'], 'nosniff');
    assert.equal(a.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal((a.headers['set-cookie'] as string[]).length, 1);
    assert.equal(JSON.parse(String(renderPage(ctx, 'application/json', '/', { maintenanceTemplate: t }).body)).message, ctx.message);
    const blocked = String(renderPage({ kind: 'blocked', status: 403, reason: 'other-user-server', requestId: 'r' }, HTML, '/', { maintenanceTemplate: t }).body);
    assert.match(blocked, /This server belongs to another account/);
  });

  test('a placeholder inside <script> or <style> is refused', () => {
    assert.throws(() => parseMaintenanceTemplate('<script>var r = "{{reason}}"</script>', 'p.html'), /--maintenance-page p\.html: \{\{reason\}\} inside <script>/);
    assert.throws(() => parseMaintenanceTemplate('<STYLE>p::after{content:"{{ contact }}"}</STYLE>', 'p.html', '--x'), /--x p\.html: \{\{contact\}\} inside <style>/);
    assert.doesNotThrow(() => parseMaintenanceTemplate('<script>var r = "{{other}}"</script>'));
  });

  test('warnings for what the CSP will block', () => {
    const t = parseMaintenanceTemplate(
      '<link rel="stylesheet" href="https://cdn.example/x.css"><script src="/x.js"></script><p style="color:red" onclick="x()">' +
        '<img src="https://example.org/logo.png"><img src="data:image/png;base64,AAAA"></p>',
    );
    assert.equal(t.warnings.length, 4);
    assert.match(t.warnings.join('\n'), /<script src>/);
    assert.match(t.warnings.join('\n'), /style=/);
    assert.match(t.warnings.join('\n'), /event handler/);
    assert.match(t.warnings.join('\n'), /data: URLs/);
    assert.deepEqual(parseMaintenanceTemplate('<img src="data:image/png;base64,AAAA" alt="">').warnings, []);
  });

  test('unreadable or unusable files: an Error naming the flag', () => {
    assert.throws(() => loadMaintenanceTemplate(join(dir, 'missing.html')), /^Error: --maintenance-page .*missing\.html: cannot read the maintenance page: no such file$/);
    const sub = join(dir, 'adir');
    mkdirSync(sub);
    assert.throws(() => loadMaintenanceTemplate(sub, '--page'), /^Error: --page .*adir: cannot read the maintenance page: is a directory$/);
    assert.throws(() => loadMaintenanceTemplate(file('empty.html', ' \n')), /--maintenance-page .*empty\.html: the maintenance page is empty/);
    assert.throws(() => loadMaintenanceTemplate(file('latin1.html', Buffer.from([0x3c, 0x70, 0x3e, 0xe9, 0x3c]))), /is not valid UTF-8/);
    assert.throws(() => loadMaintenanceTemplate(file('big.html', Buffer.alloc(1024 * 1024 + 1, 0x61))), /larger than 1048576 bytes/);
    if (process.getuid?.() !== 0) {
      const locked = file('locked.html', '<p>x</p>');
      chmodSync(locked, 0);
      assert.throws(() => loadMaintenanceTemplate(locked), /permission denied/);
    }
  });

  test('a UTF-8 BOM is dropped and non-ASCII text kept', () => {
    const t = loadMaintenanceTemplate(file('bom.html', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('<p>Wartung für {{reason}}</p>')])));
    const a = renderPage({ ...ctx, message: 'Übung' }, HTML, '/', { maintenanceTemplate: t });
    assert.ok(String(a.body).startsWith('<p>Wartung für Übung</p>'));
    assert.equal(a.headers['content-length'], String(Buffer.byteLength(String(a.body))));
  });

  test('the file is read once: later changes do not show', () => {
    const p = file('once.html', '<p>first {{reason}}</p>');
    const t = loadMaintenanceTemplate(p);
    writeFileSync(p, '<p>second</p>');
    assert.match(String(renderPage(ctx, HTML, '/', { maintenanceTemplate: t }).body), /^<p>first /);
  });
});
