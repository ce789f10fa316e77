// Maintenance end to end on a real hub-guard process: the operator API and the `maintenance` command switch it,
// every proxied request gets the 503 page, operators and health checks pass, and every change is one audit line.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { addHubRoutes, login, maintenanceCli, startGuard, type Guard } from '../helpers/guard.js';
import { send, upgrade, type Reply } from '../helpers/http.js';
import { makeHubDb, type HubDbFixture } from '../helpers/hub-db.js';
import { writeSecret, type Secret } from '../helpers/secret.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { freePort } from '../helpers/ports.js';

let db: HubDbFixture;
let secret: Secret;
let hub: Upstream;
let servers: Record<string, Upstream>;
/** With a --maintenance-page template, a contact, metrics and its own operator token. */
let guard: Guard;
/** With --operator-cidr 127.0.0.1/32. */
let byNetwork: Guard;
/** With --maintenance-allow-running-servers. */
let running: Guard;
const sessions: Record<string, string> = {};

const OPERATOR_TOKEN = 'operator-token-for-tests-0123456789';
const html = { accept: 'text/html' };
const jsonAccept = { accept: 'application/json' };
const REASON = 'Restoring the <b>user</b> database & checking it';
const TEMPLATE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Course hub paused</title>
<style>body { font-family: sans-serif }</style></head>
<body><h1>Course hub paused</h1><p id="reason">{{reason}}</p><p id="since">since {{ since }}</p>
<p id="contact">Ask {{contact}}</p><p id="ref">ref {{request_id}}</p><p>{{unknown}}</p></body></html>`;

function assertMaintenance(r: Reply, what: string): void {
  assert.equal(r.status, 503, `${what}: ${r.status} ${r.text.slice(0, 200)}`);
  assert.equal(r.headers['cache-control'], 'no-store', what);
  assert.match(String(r.headers['retry-after']), /^\d+$/, what);
  assert.equal(r.headers['x-hub-guard-page'], 'maintenance', what);
}

const on = (g: Guard, reason: string, who = 'ops-test') => g.operator('PUT', '/api/guard/maintenance', { reason }, { 'x-hub-guard-operator-name': who });
const off = (g: Guard, reason?: string, who = 'ops-test') => g.operator('DELETE', '/api/guard/maintenance', reason ? { reason } : undefined, { 'x-hub-guard-operator-name': who });
const audits = (g: Guard, action: 'on' | 'off') => g.audits().filter((a) => a.action === action);

before(async () => {
  db = await makeHubDb({ allowed_users: ['alice', 'bob'] });
  secret = writeSecret(db.dir);
  const template = join(db.dir, 'maintenance.html');
  writeFileSync(template, TEMPLATE);
  hub = await startUpstream('hub', { echoHeaders: true });
  servers = { alice: await startUpstream('alice-server', { echoHeaders: true }), bob: await startUpstream('bob-server', { echoHeaders: true }) };
  [guard, byNetwork, running] = await Promise.all([
    startGuard({
      db, secret, metrics: true, operatorToken: OPERATOR_TOKEN,
      flags: ['--maintenance-page', template, '--maintenance-contact', 'the help desk <help@example.org>'],
    }),
    startGuard({ db, secret, flags: ['--operator-cidr', '127.0.0.1/32'] }),
    startGuard({ db, secret, flags: ['--maintenance-allow-running-servers'] }),
  ]);
  for (const g of [guard, byNetwork, running]) await addHubRoutes(g, hub, servers);
  sessions.alice = await login(running, secret.key, db.users.get('alice')!.cookieId);
  sessions.guardAlice = await login(guard, secret.key, db.users.get('alice')!.cookieId);
});

after(async () => {
  await Promise.all([guard, byNetwork, running].map((g) => g?.stop()));
  await Promise.all([hub, ...Object.values(servers ?? {})].map((u) => u?.stop()));
  db?.remove();
});

describe('maintenance switched by the operator API', () => {
  test('PUT /api/guard/maintenance puts every proxied request on hold with the 503 page naming the reason', async () => {
    const put = await on(guard, REASON);
    assert.equal(put.status, 200);
    assert.equal(put.json().on, true);
    assert.equal(put.json().mode, 'manual');
    assert.equal(put.json().reason, REASON);
    const seen = { hub: hub.requests.length, alice: servers.alice.requests.length };

    for (const [path, headers] of [
      ['/hub/home', html], ['/hub/login', html], ['/', html], ['/user/alice/tree', { ...html, cookie: sessions.guardAlice }], ['/user/bob/lab', html],
    ] as const) {
      const r = await guard.get(path, headers);
      assertMaintenance(r, path);
      assert.match(String(r.headers['content-type']), /^text\/html/);
      assert.ok(r.text.includes('Restoring the &lt;b&gt;user&lt;/b&gt; database &amp; checking it'), `${path} names the reason, escaped`);
    }
    for (const [path, headers] of [['/hub/api/users', {}], ['/hub/home', jsonAccept], ['/user/alice/api/contents', { cookie: sessions.guardAlice }]] as const) {
      const r = await guard.get(path, headers);
      assertMaintenance(r, path);
      const body = r.json();
      assert.equal(body.status, 503);
      assert.equal(body.reason, 'maintenance-manual');
      assert.equal(body.message, REASON);
      assert.equal(body.contact, 'the help desk <help@example.org>');
      assert.match(body.since, /^\d{4}-\d{2}-\d{2}T/);
    }
    const post = await send(guard.port, 'POST', '/hub/login', { body: 'username=alice&password=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assertMaintenance(post, 'POST /hub/login');
    assert.deepEqual({ hub: hub.requests.length, alice: servers.alice.requests.length }, seen, 'nothing reached an upstream');
  });

  test('--maintenance-page fills its placeholders (escaped) and keeps the rest of the template', async () => {
    const r = await guard.get('/hub/home', html);
    assertMaintenance(r, '/hub/home');
    assert.match(r.text, /<h1>Course hub paused<\/h1>/);
    assert.match(r.text, /<p id="reason">Restoring the &lt;b&gt;user&lt;\/b&gt; database &amp; checking it<\/p>/);
    assert.match(r.text, /<p id="since">since \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC<\/p>/);
    assert.match(r.text, /<p id="contact">Ask the help desk &lt;help@example.org&gt;<\/p>/);
    assert.match(r.text, /<p id="ref">ref [0-9a-f-]{36}<\/p>/);
    assert.ok(r.text.includes('{{unknown}}'), 'unknown placeholders stay as written');
  });

  test('a websocket during maintenance gets the 503 answer and reaches no server', async () => {
    const seen = servers.alice.upgrades.length;
    const r = await upgrade(guard.port, '/user/alice/api/kernels/k1/channels', { cookie: sessions.guardAlice }).catch((e: Error) => e);
    assert.equal(servers.alice.upgrades.length, seen);
    assert.ok(!(r instanceof Error), `the refusal is a well-formed HTTP response: ${(r as Error).message}`);
    assert.equal(r.status, 503);
  });

  test('operators pass with the token in X-Hub-Guard-Operator or the hub-guard-operator cookie; a wrong token does not', async () => {
    const byHeader = await guard.get('/hub/admin', { 'x-hub-guard-operator': OPERATOR_TOKEN, ...jsonAccept });
    assert.equal(byHeader.status, 200);
    assert.equal(byHeader.json().upstream, 'hub');

    const byCookie = await guard.get('/user/alice/tree', { cookie: `hub-guard-operator=${OPERATOR_TOKEN}`, ...jsonAccept });
    assert.equal(byCookie.status, 200);
    assert.equal(byCookie.json().upstream, 'alice-server');

    assertMaintenance(await guard.get('/hub/admin', { 'x-hub-guard-operator': `${OPERATOR_TOKEN}x`, ...jsonAccept }), 'wrong header token');
    assertMaintenance(await guard.get('/hub/admin', { cookie: 'hub-guard-operator=guess', ...jsonAccept }), 'wrong cookie token');
    assertMaintenance(await guard.get('/hub/admin', { 'x-hub-guard-operator': guard.token, ...jsonAccept }), 'the CHP token is not the operator token');
  });

  test("the operator's token never reaches an upstream, neither as header nor as cookie", async () => {
    const viaHeader = await guard.get('/hub/admin', { 'x-hub-guard-operator': OPERATOR_TOKEN, ...jsonAccept });
    assert.equal(viaHeader.json().headers['x-hub-guard-operator'], undefined);
    const toServer = await guard.get('/user/alice/tree', { cookie: `hub-guard-operator=${OPERATOR_TOKEN}; a=1`, ...jsonAccept });
    assert.doesNotMatch(String(toServer.json().headers.cookie), /hub-guard-operator/);
    const toHub = await guard.get('/hub/admin', { cookie: `hub-guard-operator=${OPERATOR_TOKEN}; a=1`, ...jsonAccept });
    assert.equal(toHub.json().upstream, 'hub');
    assert.doesNotMatch(String(toHub.json().headers.cookie), /hub-guard-operator/, 'the hub gets no operator token either');
  });

  test('health probes and metrics still answer during maintenance', async () => {
    const chp = await send(guard.port, 'GET', '/_chp_healthz');
    assert.equal(chp.status, 200);
    assert.deepEqual(chp.json(), { status: 'OK' });
    assert.equal((await send(guard.apiPort, 'GET', '/healthz')).status, 200);
    const ready = await send(guard.apiPort, 'GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.json().maintenance, 'manual');
    const metrics = await send(guard.metricsPort!, 'GET', '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /hub_guard_maintenance\{mode="manual"\} 1/);
    assert.match(metrics.text, /hub_guard_blocked_total\{reason="maintenance-manual"\} [1-9]/);
  });

  test('each change is one JSON audit line (who, why, mode); a repeated PUT changes nothing; off lets traffic flow', async () => {
    const first = await guard.audit((a) => a.action === 'on', 'maintenance on');
    assert.equal(first.mode, 'manual');
    assert.equal(first.reason, REASON);
    assert.match(first.by, /^ops-test via API from /);
    assert.match(first.time, /^\d{4}-\d{2}-\d{2}T/);

    const again = await on(guard, 'another reason');
    assert.equal(again.json().reason, REASON, 'the first reason stays');

    const del = await off(guard, 'restore verified');
    assert.equal(del.status, 200);
    assert.deepEqual(del.json(), { on: false });
    const last = await guard.audit((a) => a.action === 'off', 'maintenance off');
    assert.equal(last.reason, 'restore verified');
    assert.equal(last.mode, 'manual');
    assert.match(last.by, /^ops-test via API from /);
    // stderr is in order: with the off line read, any line from the repeated PUT would be read too
    assert.equal(audits(guard, 'on').length, 1, JSON.stringify(audits(guard, 'on')));
    assert.equal(audits(guard, 'off').length, 1);

    const r = await guard.get('/hub/home', jsonAccept);
    assert.equal(r.status, 200);
    assert.equal(r.json().upstream, 'hub');
    assert.equal((await send(guard.metricsPort!, 'GET', '/metrics')).text.match(/hub_guard_maintenance\{mode="manual"\} (\d)/)?.[1], '0');
  });

  test('the operator API wants the operator token and a reason', async () => {
    assert.equal((await send(guard.apiPort, 'PUT', '/api/guard/maintenance', { body: { reason: 'x' } })).status, 403);
    assert.equal((await send(guard.apiPort, 'PUT', '/api/guard/maintenance', { body: { reason: 'x' }, headers: { authorization: 'token wrong' } })).status, 403);
    assert.equal((await guard.operator('PUT', '/api/guard/maintenance', { reason: '  ' })).status, 400);
    assert.equal((await guard.operator('PUT', '/api/guard/maintenance', '{not json')).status, 400);
    assert.equal((await guard.operator('GET', '/api/guard/maintenance')).json().on, false);
    assert.equal(audits(guard, 'on').length, 1);
  });
});

describe('maintenance bypass and exceptions', () => {
  test('--operator-cidr 127.0.0.1/32 lets requests from that network through', async () => {
    assert.equal((await on(byNetwork, 'cidr test')).status, 200);
    try {
      const r = await byNetwork.get('/hub/home', jsonAccept);
      assert.equal(r.status, 200);
      assert.equal(r.json().upstream, 'hub');
    } finally {
      await off(byNetwork);
    }
  });

  test('--maintenance-allow-running-servers lets alice reach her own server, but not the hub or anyone else', async () => {
    assert.equal((await on(running, 'hub upgrade')).status, 200);
    try {
      const own = await running.get('/user/alice/tree', { cookie: sessions.alice, ...jsonAccept });
      assert.equal(own.status, 200);
      assert.equal(own.json().upstream, 'alice-server');
      assertMaintenance(await running.get('/hub/home', { cookie: sessions.alice, ...jsonAccept }), 'the hub');
      assertMaintenance(await running.get('/user/bob/tree', { cookie: sessions.alice, ...jsonAccept }), "bob's server");
      assertMaintenance(await running.get('/user/alice/tree', jsonAccept), 'anonymous');
    } finally {
      await off(running);
    }
    const ok = await running.get('/hub/home', jsonAccept);
    assert.equal(ok.status, 200);
  });
});

describe('the maintenance command', () => {
  const env = (g: Guard, extra: Record<string, string> = {}) => ({ USER: 'tester', HUB_GUARD_OPERATOR_TOKEN: g.operatorToken, ...extra });

  test('on, status and off drive a running hub-guard, and the audit line names $USER@hostname', async () => {
    const onRun = await maintenanceCli(['on', '--reason', 'Disk full, back at 14:00', '--api-url', guard.apiUrl], env(guard));
    assert.equal(onRun.code, 0, onRun.stderr);
    assert.match(onRun.stdout, /Maintenance switched on/);
    assert.match(onRun.stdout, /Disk full, back at 14:00/);
    const page = await guard.get('/hub/home', jsonAccept);
    assertMaintenance(page, 'after the command');
    assert.equal(page.json().message, 'Disk full, back at 14:00');
    const line = await guard.audit((a) => a.action === 'on' && a.reason === 'Disk full, back at 14:00', 'on by the command');
    assert.equal(line.by, `tester@${hostname()} via API from 127.0.0.1`);

    const status = await maintenanceCli(['status', '--api-url', guard.apiUrl], env(guard));
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /Maintenance is ON \(manual\)/);
    assert.match(status.stdout, /Disk full, back at 14:00/);
    assert.match(status.stdout, /Hub database: healthy/);

    const json = await maintenanceCli(['status', '--json', `--api-url=${guard.apiUrl}`], env(guard));
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout);
    assert.equal(parsed.maintenance.on, true);
    assert.equal(parsed.maintenance.reason, 'Disk full, back at 14:00');
    assert.equal(parsed.db.state, 'healthy');

    const offRun = await maintenanceCli(['off', '--reason', 'disk replaced', '--api-url', guard.apiUrl, '--json'], env(guard));
    assert.equal(offRun.code, 0, offRun.stderr);
    assert.deepEqual(JSON.parse(offRun.stdout), { on: false });
    await guard.audit((a) => a.action === 'off' && a.reason === 'disk replaced', 'off by the command');
    assert.equal((await guard.get('/hub/home', jsonAccept)).status, 200);

    const again = await maintenanceCli(['off', '--api-url', guard.apiUrl], env(guard));
    assert.equal(again.code, 0);
    assert.match(again.stdout, /already off/);
  });

  test('falls back to CONFIGPROXY_AUTH_TOKEN when HUB_GUARD_OPERATOR_TOKEN is not set', async () => {
    const r = await maintenanceCli(['on', '--reason', 'fallback token', '--api-url', byNetwork.apiUrl], { USER: 'tester', CONFIGPROXY_AUTH_TOKEN: byNetwork.token });
    try {
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await byNetwork.operator('GET', '/api/guard/maintenance')).json().reason, 'fallback token');
    } finally {
      await off(byNetwork);
    }
  });

  test('a wrong token, an unreachable API and bad flags end with a clear message and a non-zero exit code', async () => {
    const before = audits(guard, 'on').length;
    const wrong = await maintenanceCli(['on', '--reason', 'x', '--api-url', guard.apiUrl], { HUB_GUARD_OPERATOR_TOKEN: 'wrong' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /refused the token from HUB_GUARD_OPERATOR_TOKEN \(403\)/);
    assert.ok(!wrong.stderr.includes('wrong'), 'the token is not echoed');
    const none = await maintenanceCli(['status', '--api-url', guard.apiUrl]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /wants a token \(403\)/);
    assert.equal(audits(guard, 'on').length, before);
    assert.equal((await guard.operator('GET', '/api/guard/maintenance')).json().on, false);

    const nobody = await freePort();
    const down = await maintenanceCli(['status', '--api-url', `http://127.0.0.1:${nobody}`], env(guard));
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach the hub-guard API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);

    const publicPort = await maintenanceCli(['status', '--api-url', `http://127.0.0.1:${guard.port}`], env(guard));
    assert.equal(publicPort.code, 1);
    assert.match(publicPort.stderr, /API port/);

    for (const [args, message] of [
      [['on'], /needs --reason/],
      [['on', '--reason'], /--reason needs a value/],
      [['on', '--reason', '   '], /--reason must not be empty/],
      [['status', '--bogus'], /unknown flag --bogus/],
      [['status', '--api-url', 'localhost:8001'], /--api-url must be/],
      [['status', '--api-url', 'x', '--state-dir', '/tmp'], /--api-url and --state-dir cannot be used together/],
      [['reboot'], /unknown action 'reboot'/],
      [[], /on, off or status/],
      [['on', 'Disk', 'full'], /unexpected argument 'Disk'/],
      [['status', '--json=yes'], /--json takes no value/],
    ] as const) {
      const r = await maintenanceCli([...args], env(guard));
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
    const help = await maintenanceCli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /reads them only when\s+it starts/);
  });
});
