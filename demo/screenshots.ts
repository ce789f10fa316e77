// `npm run screenshots`: remakes docs/console.png and docs/console-maintenance.png, the operator console in headless
// Chromium, signed in through its own form. The console is hub-guard's own router on hub-guard's API app, over the
// real parts: a sqlite hub DB that JupyterHub 3.0 made, the watchdog reading it, maintenance and its audit trail, the
// route table. Only the past comes from a script: an hour of refusals (a fresh process has counted for seconds) and
// a second replica's heartbeat, so the pictures show what an operator sees mid-incident.
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { createApiApp } from '../src/api/app.js';
import { consolePage } from '../src/api/console.js';
import { operatorApi } from '../src/api/operator.js';
import { RefusalHistory } from '../src/api/status-page.js';
import { buildConfig } from '../src/config.js';
import { DEFAULT_CHECK_OPTIONS } from '../src/hubdb/checks.js';
import { openHubDb } from '../src/hubdb/open.js';
import { UsersIndex } from '../src/identity/users-index.js';
import { Maintenance } from '../src/monitor/maintenance.js';
import { Replicas } from '../src/monitor/replicas.js';
import { Watchdog } from '../src/monitor/watchdog.js';
import { RouteTable } from '../src/proxy/route-table.js';
import { TargetConflicts } from '../src/proxy/target-conflicts.js';
import { MemoryStore } from '../src/state/store.js';
import { ROOT } from '../test/helpers/guard.js';
import { makeHubDb, SQLITE_DROP_COOKIE_ID_CONSTRAINTS } from '../test/helpers/hub-db.js';

const MINUTE = 60_000;
const TOKEN = 'screenshot-operator-token';
const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const INSTANCE = 'proxy-7d9f8c6b5-x2kqp:1';
const OTHER = 'proxy-7d9f8c6b5-m4wzn:1';
const USERS = ['alice', 'bob', 'carol', 'dmitri', 'john.doe', 'li.wei', 'priya', 'sam'];

async function main(): Promise<void> {
  const docs = join(ROOT, 'docs');
  mkdirSync(docs, { recursive: true });
  const fx = await makeHubDb({ users: USERS });
  const store = new MemoryStore();
  const maintenance = new Maintenance(store);
  await maintenance.load();
  // last week's planned maintenance, so the history is not empty
  const DAY = 24 * 60 * MINUTE;
  const past = (ms: number) => new Date(Date.now() - ms).toISOString();
  await store.append('audit', { time: past(6 * DAY), action: 'on', mode: 'manual', by: 'ana@ops-laptop via API from 10.0.5.7', reason: 'Upgrading JupyterHub to 5.2; back by 08:30' }, 1000);
  await store.append('audit', { time: past(6 * DAY - 38 * MINUTE), action: 'off', mode: 'manual', by: 'console from 127.0.0.1', reason: 'upgrade done' }, 1000);
  const db = openHubDb(fx.url, { timeoutMs: 5000 });
  const watchdog = new Watchdog({
    db, store, maintenance, users: new UsersIndex(Buffer.alloc(32)),
    intervalMs: 2000, unreachableChecks: 3, checks: DEFAULT_CHECK_OPTIONS,
  });
  await watchdog.start();
  for (let i = 0; i < 4; i++) await watchdog.checkNow();

  const now = Date.now();
  const routes = new RouteTable();
  routes.add('/', { target: 'http://hub:8081', hub: true, jupyterhub: true });
  routes.add('/services/announcement', { target: 'http://announcement:8888', service: 'announcement', jupyterhub: true });
  USERS.slice(0, 6).forEach((user, i) => {
    routes.add(`/user/${user}`, { target: `http://10.42.3.${17 + i}:8888`, user, server_name: '', jupyterhub: true }, now - (i * 7 + 1) * MINUTE);
  });
  const conflicts = new TargetConflicts(routes);

  const replicas = new Replicas(store, INSTANCE, () => ({ version: '0.1.0', maintenance: maintenance.current?.mode ?? 'off', db: watchdog.state }));
  const other = new Replicas(store, OTHER, () => ({ version: '0.1.0', maintenance: maintenance.current?.mode ?? 'off', db: watchdog.state }));

  const quiet = await hourOfRefusals(now, false);
  const incident = await hourOfRefusals(now, true);

  const tokens = () => [TOKEN];
  const deps = {
    maintenance, watch: watchdog, routes, conflicts, tokens,
    store: { description: 'redis://redis:6379/0, mirrored in memory', up: true },
  };
  // one API app per picture, each with its hour of refusals; sessions of one app do not open the other
  const servers: Server[] = [];
  const serve = async (refusals: RefusalHistory) => {
    const app = createApiApp({
      cfg: buildConfig([], { CONFIGPROXY_AUTH_TOKEN: TOKEN }),
      routes,
      readiness: () => ({ ready: true, checks: {} }),
      extend: (a) => {
        a.use('/api/guard', operatorApi(deps));
        a.use('/guard', consolePage({
          ...deps, refusals, replicas, instance: INSTANCE,
          commands: { db: 'sqlite:////srv/jupyterhub/jupyterhub.sqlite', backupDir: '/srv/jupyterhub/hub-guard-backups' },
        }));
      },
    });
    const server = app.listen(0, '127.0.0.1');
    servers.push(server);
    await new Promise((resolve) => server.once('listening', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1, colorScheme: 'light' });
    const page = await context.newPage();

    await replicas.beat();
    await other.beat(Date.now() - 9000);
    await shoot(page, await serve(quiet), join(docs, 'console.png'));

    // the 2017 outage: the users table rebuilt by hand, new ids, empty login ids, john.doe back as john-doe
    fx.exec(`${SQLITE_DROP_COOKIE_ID_CONSTRAINTS}
      DELETE FROM users;
      ${USERS.map((name, i) => `INSERT INTO users (id, name, admin, created, cookie_id) VALUES (${100 + i}, '${name}', 0, '2024-05-06 07:08:09', '');`).join('\n')}
      INSERT INTO users (id, name, admin, created, cookie_id) VALUES (120, 'john-doe', 0, '2024-05-06 07:08:09', '');`);
    await watchdog.checkNow();
    await watchdog.checkNow();
    await replicas.beat();
    await other.beat(Date.now() - 4000);
    await shoot(page, await serve(incident), join(docs, 'console-maintenance.png'));
    console.log(`wrote ${join(docs, 'console.png')} and ${join(docs, 'console-maintenance.png')}`);
  } finally {
    await browser.close();
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
    watchdog.stop();
    await db.close();
    quiet.stop();
    incident.stop();
    fx.remove();
  }
}

/**
 * An hour of refusals as the page's history samples them: users poking at others' servers, stale login cookies, a
 * short burst at :20; in the incident, the maintenance page for everyone since a moment ago.
 */
async function hourOfRefusals(now: number, incident: boolean): Promise<RefusalHistory> {
  const totals = new Map<string, number>();
  const add = (reason: string, n: number) => totals.set(reason, (totals.get(reason) ?? 0) + n);
  const start = now - 59 * MINUTE;
  const history = new RefusalHistory(async () => new Map(totals), start);
  for (let i = 1; i <= 60; i++) {
    add('other-user-server', [0, 1, 0, 2, 1, 0, 0, 3][i % 8]!);
    if (i % 11 === 0) add('cookie-id-malformed', 2);
    if (i >= 20 && i <= 23) add('other-user-server', 9 - (i - 20) * 2);
    if (i % 17 === 0) add('route-target-shared', 1);
    // the watchdog latched a moment ago: the current minute is everyone getting the maintenance page
    if (incident && i === 60) add('maintenance-auto', 23);
    if (i < 60) await history.sample(start + i * MINUTE);
  }
  return history;
}

/** Signs in through the console's own form, then takes the whole page. */
async function shoot(page: Page, origin: string, file: string): Promise<void> {
  await page.goto(`${origin}/guard/status`);
  await page.fill('input[name=token]', TOKEN);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  await page.screenshot({ path: file, fullPage: true });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
