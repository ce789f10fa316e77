// Issue 4 end to end: the hub's sqlite file overwritten with an empty database while a real JupyterHub 3.0 runs
// behind hub-guard (on its own, with --state-dir and a 1 s check interval). Every page turns into the maintenance
// page, a new user's login creates nothing, restoring the file and an operator's "maintenance off" bring everyone
// back; a hub then started on an empty database cannot take the users' routes away.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Browser, userPrefix, type Exchange } from './browser.js';
import { externalGuard, type ProxySetup } from './dropin-suite.js';
import { pollUntil, tryLogin } from './flows.js';
import { GuardApi, OPERATOR_HEADER, guardLogLines, guardPage } from './guard.js';
import { backupDatabase, overwriteFile, readUsers, writeEmptyDatabase } from './hub-db.js';
import { logTail, startHub, type Hub, type HubContext } from './hub.js';

const USERS = ['alice', 'bob'] as const;

function describeExchange(ex: Exchange): string {
  return `${ex.method} ${ex.url} → ${ex.status} ${ex.headers['x-hub-guard-page'] ?? ''}\n${ex.body.slice(0, 300)}`;
}

/** A 503 maintenance page as the issue specifies it: reason, Retry-After, no caching. */
function isMaintenance(ex: Exchange): boolean {
  const page = guardPage(ex);
  return page?.status === 503 && page.kind === 'maintenance' && page.reason.startsWith('maintenance-')
    && ex.headers['cache-control'] === 'no-store' && ex.headers['retry-after'] !== undefined;
}

function guardArgs(ctx: HubContext, extra: string[]): string[] {
  return ['--hub-db', ctx.dbUrl, '--cookie-secret-file', ctx.cookieSecretFile, ...extra];
}

describe('incident: the hub database overwritten while everything runs, hub-guard on its own', { timeout: 120_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'hub-guard-db-incident-'));
  const stateDir = join(work, 'state');
  const operatorToken = randomBytes(24).toString('hex');
  const operatorHeaders = { [OPERATOR_HEADER]: operatorToken };
  let hub: Hub | undefined;
  let setup: ProxySetup | undefined;
  let operator: GuardApi;
  /** The hub's own view of the proxy API (CONFIGPROXY_AUTH_TOKEN), for the route table. */
  let routesApi: GuardApi;
  const browsers = new Map<string, Browser>();
  const browser = (name: string) => {
    let b = browsers.get(name);
    if (!b) browsers.set(name, (b = new Browser(hub!.url)));
    return b;
  };

  const guardLog = () => setup?.log?.() ?? '';
  const withLogs = async (fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      const tail = setup?.log ? `\n----- hub-guard log (tail) -----\n${logTail(guardLog(), 8000)}` : '';
      const hubLog = hub ? `\n----- hub log (tail) -----\n${logTail(hub.log(), 10000)}` : '';
      throw new Error(`${err instanceof Error ? err.message : String(err)}${hubLog}${tail}`, { cause: err });
    }
  };

  before(async () => {
    hub = await startHub({
      // in maintenance only operators get through, the harness's readiness probe included
      readyHeaders: operatorHeaders,
      proxy: async (ctx) => {
        setup = await externalGuard({
          env: { HUB_GUARD_OPERATOR_TOKEN: operatorToken },
          extraArgs: (c) => guardArgs(c, ['--state-dir', stateDir, '--db-check-interval', '1']),
        })(ctx);
        return setup.mode;
      },
    });
    operator = new GuardApi(hub.proxyApiUrl, operatorToken);
    routesApi = new GuardApi(hub.proxyApiUrl, hub.token);
  });

  after(async () => {
    for (const b of browsers.values()) b.close();
    try {
      await hub?.stop();
    } finally {
      await setup?.stop?.();
      rmSync(work, { recursive: true, force: true });
    }
  });

  test('alice and bob log in and start their servers; the operators keep a backup', () => withLogs(async () => {
    for (const name of USERS) {
      await browser(name).login(name, hub!.password);
      await browser(name).spawn();
    }
    await backupDatabase(hub!.dbPath!, join(work, 'backup.sqlite'));
    const status = await operator.status();
    assert.equal(status.maintenance.on, false, JSON.stringify(status.maintenance));
    assert.equal(status.db.state, 'healthy', JSON.stringify(status.db));
  }));

  test('the file is overwritten with an empty database: every page soon answers 503 with the maintenance page', () => withLogs(async () => {
    writeEmptyDatabase(join(work, 'empty.sqlite'));
    overwriteFile(join(work, 'empty.sqlite'), hub!.dbPath!);
    const anonymous = browser('anonymous');
    const pages = async () => [
      await browser('alice').get('/hub/home'),
      await browser('alice').fetch(`${userPrefix('alice')}api/status`),
      await browser('alice').get(`${userPrefix('alice')}tree`),
      await browser('bob').get(`${userPrefix('bob')}tree`),
      await browser('bob').fetch('/hub/api/user'),
      await anonymous.get('/hub/login'),
      await anonymous.api('/hub/api/users', { token: hub!.adminToken }),
    ];
    let last: Exchange[] = [];
    // the check interval is 1 s: 40 polls 250 ms apart leave it several chances
    const answers = await pollUntil('every page answers with the maintenance page', async () => {
      last = await pages();
      return last.every(isMaintenance) ? last : undefined;
    }, { tries: 40, delayMs: 250, describe: () => last.filter((ex) => !isMaintenance(ex)).map(describeExchange).join('\n') });
    for (const ex of answers) assert.equal(guardPage(ex)!.reason, 'maintenance-auto');
    // API clients get JSON, browsers HTML
    assert.match(String(answers[1].headers['content-type']), /^application\/json/);
    assert.match(String(answers[6].headers['content-type']), /^application\/json/);
    assert.match(String(answers[0].headers['content-type']), /^text\/html/);
    const status = await operator.status();
    assert.equal(status.maintenance.on, true);
    assert.equal(status.maintenance.mode, 'auto');
  }));

  test('a new user logging in meanwhile creates no user row', () => withLogs(async () => {
    const carol = browser('carol');
    const page = await tryLogin(carol, 'carol', hub!.password);
    assert.ok(isMaintenance(page), describeExchange(page));
    // the form post a browser with the page still open would send
    const post = await carol.navigate('/hub/login?next=%2Fhub%2Fhome', { form: [['username', 'carol'], ['password', hub!.password]] });
    assert.ok(isMaintenance(post), describeExchange(post));
    const users = readUsers(hub!.dbPath!);
    assert.ok(users === null || !users.some((u) => u.name === 'carol'), `carol has a user row: ${JSON.stringify(users)}`);
    assert.doesNotMatch(hub!.log(), /carol/, 'the hub never heard of carol');
  }));

  test('restoring the file and "hub-guard maintenance off" bring everything back', () => withLogs(async () => {
    overwriteFile(join(work, 'backup.sqlite'), hub!.dbPath!);
    // a restored database is not trusted by itself: maintenance stays on after healthy reads
    await pollUntil('the watchdog reads the restored database as healthy', async () => ((await operator.status()).db.state === 'healthy' ? true : undefined), { tries: 40, delayMs: 250 });
    assert.equal((await operator.status()).maintenance.on, true, 'maintenance is latched until an operator clears it');
    await operator.clearMaintenance('hub database restored from the backup');
    assert.equal((await operator.status()).maintenance.on, false);

    for (const name of USERS) {
      const res = await browser(name).fetch(`${userPrefix(name)}api/status`);
      assert.equal(res.status, 200, describeExchange(res));
      const home = await browser(name).get('/hub/home');
      assert.equal(home.status, 200, describeExchange(home));
    }
    const again = new Browser(hub!.url);
    try {
      await again.login('bob', hub!.password);
      const whoami = await again.fetch('/hub/api/user');
      assert.equal((JSON.parse(whoami.body) as { name: string }).name, 'bob');
    } finally {
      again.close();
    }
  }));

  test('a hub started on an empty database cannot take the routes away', () => withLogs(async () => {
    const mark = hub!.log().length;
    const guardMark = guardLog().length;
    await hub!.restart(() => overwriteFile(join(work, 'empty.sqlite'), hub!.dbPath!));
    // the hub's first route check finds no users and deletes their routes (the deletions hub-guard holds back)
    await hub!.waitForLog(/Deleting stale route/, { since: mark, count: USERS.length, timeoutMs: 30_000 });
    const held = await pollUntil('hub-guard logs the held deletions', async () => {
      const lines = guardLogLines(guardLog().slice(guardMark)).filter((l) => l.msg === 'route deletion held back');
      return lines.length >= USERS.length ? lines : undefined;
    }, { tries: 20, delayMs: 250 });
    assert.deepEqual(held.map((l) => l.owner).sort(), [...USERS]);

    const routes = await routesApi.routes();
    for (const name of USERS) assert.equal(routes[userPrefix(name).slice(0, -1)]?.user, name, `route of ${name}: ${JSON.stringify(routes)}`);

    const status = await operator.status();
    assert.equal(status.maintenance.on, true, JSON.stringify(status.maintenance));
    const checks = (status.db.findings ?? []).map((f) => f.check);
    assert.ok(checks.includes('route-deletions-held'), `findings: ${checks.join(', ')}`);
    assert.ok((status.db.findings ?? []).some((f) => f.severity === 'critical' && f.check !== 'route-deletions-held'), `a DB finding: ${checks.join(', ')}`);

    // the servers still answer through hub-guard, for operators; users see the maintenance page
    for (const name of USERS) {
      const res = await fetch(`${hub!.url}${userPrefix(name)}api`, { headers: operatorHeaders });
      const body = await res.text();
      assert.equal(res.status, 200, body);
      assert.ok('version' in (JSON.parse(body) as object), `not the notebook server's answer: ${body}`);
      const user = await browser(name).fetch(`${userPrefix(name)}api/status`);
      assert.ok(isMaintenance(user), describeExchange(user));
    }
  }));
});

describe("hub-guard on its own with --hub-db in front of a hub's very first start", { timeout: 60_000 }, () => {
  let hub: Hub | undefined;
  let setup: ProxySetup | undefined;
  after(async () => {
    try {
      await hub?.stop();
    } finally {
      await setup?.stop?.();
    }
  });

  // The hub creates its database as it starts; the file appearing is a waiting state, not an outage (issue 4 §4).
  test('the hub creates its database and comes up; no maintenance', async () => {
    try {
      hub = await startHub({
        readyTimeoutMs: 20_000,
        proxy: async (ctx) => {
          setup = await externalGuard({ extraArgs: (c) => guardArgs(c, ['--db-check-interval', '1']) })(ctx);
          return setup.mode;
        },
      });
    } catch (err) {
      const findings = guardLogLines(setup?.log?.() ?? '').filter((l) => l.msg === 'finding' || (l.msg === 'maintenance' && l.action === 'on'));
      throw new Error(`${err instanceof Error ? err.message.split('\n')[0] : String(err)}\nhub-guard:\n${findings.map((l) => JSON.stringify(l).slice(0, 400)).join('\n')}`, { cause: err });
    }
    const status = await new GuardApi(hub.proxyApiUrl, hub.token).status();
    assert.equal(status.maintenance.on, false, JSON.stringify(status.maintenance));
  });
});
