// The DB watchdog end to end: a real hub-guard process watching a JupyterHub-made sqlite file that gets wiped and
// restored under it, as in the 2017 outage. Every wait is a poll for a state, never a timed expectation.
import assert from 'node:assert/strict';
import { copyFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../helpers/eventually.js';
import { addHubRoutes, maintenanceCli, startGuard, type Guard } from '../helpers/guard.js';
import { send } from '../helpers/http.js';
import { makeHubDb, type HubDbFixture } from '../helpers/hub-db.js';
import { hubCookie, writeSecret, type Secret } from '../helpers/secret.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
const INTERVAL = ['--db-check-interval', '0.2'];
const jsonAccept = { accept: 'application/json' };

let dbs: HubDbFixture[] = [];
let secret: Secret;
let hub: Upstream;
let servers: Record<string, Upstream> = {};
const guards: Guard[] = [];

async function status(g: Guard): Promise<any> {
  const r = await g.operator('GET', '/api/guard/status');
  assert.equal(r.status, 200);
  return r.json();
}

/** Polls until the proxied hub page is the maintenance page; returns it. */
const untilMaintenance = (g: Guard) =>
  eventually('the maintenance page', async () => {
    const r = await g.get('/hub/home', jsonAccept);
    return r.status === 503 ? r : undefined;
  });

const untilDbState = (g: Guard, state: string) =>
  eventually(`db state ${state}`, async () => ((await status(g)).db.state === state ? true : undefined));

async function guardOn(db: HubDbFixture | { file: string }, flags: string[] = []): Promise<Guard> {
  const g = 'users' in db ? await startGuard({ db, secret, flags: [...INTERVAL, ...flags] }) : await startGuard({ dbFile: db.file, secret, flags: [...INTERVAL, ...flags] });
  guards.push(g);
  await addHubRoutes(g, hub, servers);
  return g;
}

before(async () => {
  dbs = await Promise.all([0, 1, 2, 3].map(() => makeHubDb({ allowed_users: USERS })));
  secret = writeSecret(dbs[0].dir);
  hub = await startUpstream('hub', { echoHeaders: true });
  for (const u of USERS) servers[u] = await startUpstream(`${u}-server`, { echoHeaders: true });
});

after(async () => {
  await Promise.all(guards.map((g) => g.stop()));
  await Promise.all([hub, ...Object.values(servers)].map((u) => u?.stop()));
  for (const db of dbs) db.remove();
});

describe('hub DB watchdog', () => {
  test('a wiped DB puts every request on the maintenance page; a restore does not clear it; maintenance off does', async () => {
    const db = dbs[0];
    const g = await guardOn(db);
    assert.equal((await g.get('/hub/home', jsonAccept)).status, 200);

    db.save();
    db.wipe();
    const page = await untilMaintenance(g);
    assert.equal(page.json().reason, 'maintenance-auto');
    // automatic maintenance shows the generic text: finding messages name users, and pages never do
    assert.match(page.json().message, /user records/);
    assert.doesNotMatch(page.json().message, /alice|bob/);
    assert.equal(page.headers['cache-control'], 'no-store');
    assert.ok(page.headers['retry-after']);
    assert.equal((await g.get('/user/alice/tree', jsonAccept)).status, 503);

    const s = await status(g);
    const checks = s.db.findings.map((f: { check: string }) => f.check);
    assert.ok(checks.includes('tables-missing'), checks.join());
    assert.equal(s.maintenance.on, true);
    assert.equal(s.maintenance.mode, 'auto');
    const audit = await g.audit((a) => a.action === 'on', 'the automatic switch');
    assert.equal(audit.mode, 'auto');
    assert.equal(audit.by, 'watchdog');
    assert.ok(audit.findings.includes('tables-missing'), JSON.stringify(audit));

    db.restore();
    await untilDbState(g, 'healthy');
    // a restored database is not trusted by itself
    assert.equal((await status(g)).maintenance.on, true);
    assert.equal((await g.get('/hub/home', jsonAccept)).status, 503);

    const off = await maintenanceCli(['off', '--reason', 'restored from backup', '--api-url', g.apiUrl], { USER: 'tester', HUB_GUARD_OPERATOR_TOKEN: g.operatorToken });
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, /switched off \(it was automatic/);
    const home = await g.get('/hub/home', jsonAccept);
    assert.equal(home.status, 200);
    assert.equal(home.json().upstream, 'hub');
    const offAudit = await g.audit((a) => a.action === 'off', 'maintenance off');
    assert.equal(offAudit.by, `tester@${hostname()} via API from 127.0.0.1`);
    assert.equal(offAudit.reason, 'restored from backup');
    assert.equal(g.audits().filter((a) => a.action === 'on').length, 1, 'one line per change, not one per check');
  });

  test('with --auto-recover --auto-recover-checks 2 a restored DB clears automatic maintenance by itself', async () => {
    const db = dbs[1];
    const g = await guardOn(db, ['--auto-recover', '--auto-recover-checks', '2']);
    db.save();
    db.wipe();
    await untilMaintenance(g);
    db.restore();
    const home = await eventually('traffic again', async () => {
      const r = await g.get('/hub/home', jsonAccept);
      return r.status === 200 ? r : undefined;
    });
    assert.equal(home.json().upstream, 'hub');
    const off = await g.audit((a) => a.action === 'off', 'the automatic recovery');
    assert.equal(off.by, 'watchdog');
    assert.match(off.reason, /auto-recover/);
  });

  test('a DB that does not exist yet is a waiting state: ready, and traffic flows; the first healthy read sets the baseline', async () => {
    const made = dbs[2];
    const missing = join(made.dir, 'not-created-yet.sqlite');
    const g = await guardOn({ file: missing });
    const ready = await send(g.apiPort, 'GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.json().db, 'waiting');
    const home = await g.get('/hub/home', { cookie: hubCookie(secret.key, made.users.get('alice')!.cookieId), ...jsonAccept });
    assert.equal(home.status, 200);
    assert.equal(home.json().upstream, 'hub');
    assert.equal((await status(g)).baseline, null);

    // the hub creates its database on its first start: sqlite makes an empty file, then the tables appear
    const created = new Date().toISOString();
    writeFileSync(missing, '');
    await eventually('a check of the new, still empty file', async () => ((await status(g)).db.last_check?.at > created ? true : undefined));
    assert.equal((await g.get('/hub/home', jsonAccept)).status, 200, 'traffic flows while the hub creates its database');
    copyFileSync(made.file, `${missing}.tmp`);
    renameSync(`${missing}.tmp`, missing);
    await untilDbState(g, 'healthy');
    const s = await status(g);
    assert.equal(s.maintenance.on, false, `no maintenance for a database being created: ${JSON.stringify({ maintenance: s.maintenance, findings: s.db.findings })}`);
    assert.equal(s.baseline.high_water, USERS.length);
    assert.equal((await g.get('/hub/home', jsonAccept)).status, 200);
  });

  test('a hub on an empty DB deleting the user routes: the deletions are held, the routes keep working, maintenance is on', async () => {
    const db = dbs[3];
    const g = await guardOn(db);
    const userRoutes = async () => Object.keys((await g.api('GET', '/api/routes')).json()).filter((k) => k.startsWith('/user/')).sort();

    // with a healthy database a single deletion is an ordinary stop of a server
    assert.equal((await g.api('DELETE', '/api/routes/user/frank')).status, 204);
    assert.equal((await g.api('GET', '/api/routes/user/frank')).status, 404);
    const before = await userRoutes();
    assert.deepEqual(before, USERS.filter((u) => u !== 'frank').map((u) => `/user/${u}`).sort());

    db.wipe();
    await untilDbState(g, 'unhealthy');
    // what the hub's check_routes does on an empty database: every user route is "stale"
    const answers = await Promise.all(before.map((r) => g.api('DELETE', `/api/routes${r}`)));
    assert.deepEqual(answers.map((a) => a.status), before.map(() => 204));
    assert.deepEqual(await userRoutes(), before, 'GET /api/routes still lists them');

    const s = await status(g);
    assert.equal(s.maintenance.on, true);
    assert.ok(s.db.findings.some((f: { check: string }) => f.check === 'route-deletions-held'), JSON.stringify(s.db.findings));
    // still proxied: an operator gets through maintenance to the server behind the held route
    const r = await g.get('/user/alice/tree', { 'x-hub-guard-operator': g.operatorToken, ...jsonAccept });
    assert.equal(r.status, 200);
    assert.equal(r.json().upstream, 'alice-server');
  });
});
