// The drop-in flows every CHP-compatible proxy must carry for a real JupyterHub: login, spawn,
// OAuth, the server's REST API, kernel websockets, the hub's periodic route check and a hub
// restart. One call of runDropInSuite per proxy and mode.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import Database from 'better-sqlite3';
import { after, before, describe, test } from 'node:test';
import { Browser, userPrefix } from './browser.js';
import { logTail, startHub, type Hub, type HubContext, type ProxyMode } from './hub.js';
import { startGuard } from '../helpers/guard.js';
import { start, waitForPort } from '../helpers/proc.js';

/** A proxy for one suite run: how the hub reaches it, and how to stop it if the test started it. */
export interface ProxySetup {
  mode: ProxyMode;
  /** Called after the hub has stopped. */
  stop?(): Promise<void>;
  /** The proxy's own output when the hub does not capture it, added to failure messages. */
  log?(): string;
}

export type ProxyFactory = (ctx: HubContext) => ProxySetup | Promise<ProxySetup>;

export interface ExternalOptions {
  /** Environment besides this process's own. */
  env?: Record<string, string>;
  /** Flags after the ones the hub would pass (for hub-guard's own). */
  extraArgs?: (ctx: HubContext) => string[];
}

/** How the hub reaches a proxy the test runs, and how the test stops it and reads its output. */
function external(ctx: HubContext, stop: () => Promise<unknown>, log: () => string): ProxySetup {
  return {
    mode: { kind: 'external', apiUrl: ctx.proxyApiUrl, token: ctx.token },
    stop: async () => { await stop(); },
    log,
  };
}

/**
 * A proxy the test starts itself, with the flags the hub would pass to CHP and the token in
 * CONFIGPROXY_AUTH_TOKEN; `extraArgs` come after them.
 */
export function externalProxy(command: string[], opts: ExternalOptions = {}): ProxyFactory {
  return async (ctx) => {
    const args = [
      ...command.slice(1),
      '--ip', '127.0.0.1',
      '--port', String(ctx.publicPort),
      '--api-ip', '127.0.0.1',
      '--api-port', String(ctx.proxyApiPort),
      '--error-target', `${ctx.hubUrl}/hub/error`,
      ...(opts.extraArgs?.(ctx) ?? []),
    ];
    const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env, CONFIGPROXY_AUTH_TOKEN: ctx.token };
    const proc = start(command[0], args, { env, cwd: ctx.dir });
    try {
      await waitForPort(ctx.proxyApiPort, '127.0.0.1', 20000, proc);
      await waitForPort(ctx.publicPort, '127.0.0.1', 20000, proc);
    } catch (err) {
      await proc.stop();
      throw err;
    }
    return external(ctx, () => proc.stop(), proc.output);
  };
}

/**
 * hub-guard running on its own, as externalProxy runs a proxy (the hub's flags, its ports and token, the hub's
 * directory, this process's environment), started by startGuard like every hub-guard of the suites.
 */
export function externalGuard(opts: ExternalOptions = {}): ProxyFactory {
  return async (ctx) => {
    const g = await startGuard({
      port: ctx.publicPort, apiPort: ctx.proxyApiPort, token: ctx.token, cwd: ctx.dir, inheritEnv: true, env: opts.env,
      flags: ['--error-target', `${ctx.hubUrl}/hub/error`, ...(opts.extraArgs?.(ctx) ?? [])],
      waitReady: false, listenTimeoutMs: 20_000, stopTimeoutMs: 5000,
    });
    return external(ctx, () => g.stop(), g.output);
  };
}

const USERS = ['alice', 'bob'] as const;
/** Seconds between the hub's route checks during the suite. */
const CHECK_INTERVAL = 2;
const ROUTE_REPAIRS = /Adding missing route|Deleting stale route|Updating route for|Updating Hub route/g;

interface ProxyRoute {
  target?: string;
  user?: string;
  server_name?: string;
  hub?: boolean;
  jupyterhub?: boolean;
}

export function runDropInSuite(name: string, proxyFor: ProxyFactory): void {
  describe(`drop-in: ${name}`, { timeout: 180_000 }, () => {
    let hub: Hub | undefined;
    let setup: ProxySetup | undefined;
    const browsers = new Map<string, Browser>();
    const browser = (user: string) => {
      const b = browsers.get(user);
      if (!b) throw new Error(`no browser for ${user}`);
      return b;
    };

    /** Runs `fn`; on failure rethrows with the hub's (and an external proxy's) log appended. */
    const withLogs = async (fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        const proxyLog = setup?.log ? `\n----- proxy log (tail) -----\n${logTail(setup.log(), 8000)}` : '';
        const hubLog = hub ? `\n----- hub log (tail) -----\n${logTail(hub.log())}` : '';
        throw new Error(`${err instanceof Error ? err.message : String(err)}${hubLog}${proxyLog}`, { cause: err });
      }
    };

    const routes = async (): Promise<Record<string, ProxyRoute>> => {
      if (!hub) throw new Error('hub not started');
      const res = await fetch(`${hub.proxyApiUrl}/api/routes`, { headers: { Authorization: `token ${hub.token}` } });
      assert.equal(res.status, 200, `GET /api/routes answered ${res.status}`);
      return (await res.json()) as Record<string, ProxyRoute>;
    };

    before(async () => {
      hub = await startHub({
        lastActivityInterval: CHECK_INTERVAL,
        proxy: async (ctx) => {
          setup = await proxyFor(ctx);
          return setup.mode;
        },
      });
      for (const user of USERS) browsers.set(user, new Browser(hub.url));
    });

    after(async () => {
      for (const b of browsers.values()) b.close();
      try {
        await hub?.stop();
      } finally {
        await setup?.stop?.();
      }
    });

    test('alice and bob log in and start their servers', () => withLogs(async () => {
      await Promise.all(USERS.map(async (user) => {
        const b = browser(user);
        await b.login(user, hub!.password);
        const status = (await b.spawn()) as { started?: string };
        assert.ok(status.started, `${user}'s api/status has no "started": ${JSON.stringify(status)}`);
      }));
    }));

    test("the hub's login cookie is signed with the harness's secret and holds the user's cookie_id", () => withLogs(async () => {
      assert.ok(hub!.dbPath, 'the suite runs the hub on sqlite');
      const db = new Database(hub!.dbPath, { readonly: true, fileMustExist: true });
      try {
        for (const user of USERS) {
          const cookie = browser(user).jar.get('jupyterhub-hub-login', '/hub/');
          assert.ok(cookie, `${user} has no hub cookie`);
          const value = cookie.value.replace(/^"(.*)"$/, '$1');
          const sigAt = value.lastIndexOf('|') + 1;
          const mac = createHmac('sha256', Buffer.from(hub!.cookieSecretHex, 'hex')).update(value.slice(0, sigAt)).digest('hex');
          assert.equal(value.slice(sigAt), mac, `${user}'s hub cookie is not signed with the harness's secret`);
          const b64 = /\|\d+:([A-Za-z0-9+/=]*)\|$/.exec(value.slice(0, sigAt))?.[1] ?? '';
          const row = db.prepare('SELECT cookie_id FROM users WHERE name = ?').get(user) as { cookie_id: string } | undefined;
          assert.equal(Buffer.from(b64, 'base64').toString('utf8'), row?.cookie_id);
        }
      } finally {
        db.close();
      }
    }));

    test('each reaches their own /user/<name>/api/status through the proxy', () => withLogs(async () => {
      for (const user of USERS) {
        const res = await browser(user).fetch(`${userPrefix(user)}api/status`);
        assert.equal(res.status, 200, `${user}: ${res.status} ${res.body.slice(0, 300)}`);
        assert.ok('kernels' in (JSON.parse(res.body) as object));
      }
    }));

    test('each runs code over a kernel websocket', () => withLogs(async () => {
      const outputs = await Promise.all(USERS.map((user) => browser(user).kernelWebsocket(user)));
      assert.deepEqual(outputs, USERS.map(() => '42\n'));
    }));

    test("a browser never gets into another user's server", () => withLogs(async () => {
      const alice = browser('alice');
      const page = await alice.get(`${userPrefix('bob')}tree`);
      // The hub refuses the OAuth authorization: alice has no access:servers on bob.
      assert.equal(page.status, 403, `alice opening bob's tree ended with ${page.status} at ${page.url}`);
      const api = await alice.fetch(`${userPrefix('bob')}api/status`);
      assert.notEqual(api.status, 200, `alice read bob's api/status: ${api.body.slice(0, 300)}`);
      for (const [user, other] of [['alice', 'bob'], ['bob', 'alice']] as const) {
        assert.deepEqual(browser(user).setCookiesNamed(`jupyterhub-user-${other}`), [], `${user} was given ${other}'s server cookie`);
      }
    }));

    test('the proxy API holds both user routes with the data the hub sent', () => withLogs(async () => {
      const table = await routes();
      assert.equal(table['/']?.hub, true, `no hub route: ${JSON.stringify(table)}`);
      for (const user of USERS) {
        const route = table[userPrefix(user).slice(0, -1)];
        assert.ok(route, `no route for ${user}: ${JSON.stringify(table)}`);
        assert.equal(route.user, user);
        assert.equal(route.server_name, '');
        assert.equal(route.jupyterhub, true);
        assert.match(route.target ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
      }
    }));

    test('periodic route checks find nothing to repair', () => withLogs(async () => {
      // The first check after this mark may already be running; the second one starts only after it finished.
      await hub!.waitForLog(/Checking routes/, { since: hub!.log().length, count: 2, timeoutMs: CHECK_INTERVAL * 10_000 });
      assert.deepEqual(hub!.log().match(ROUTE_REPAIRS) ?? [], []);
    }));

    test('after a hub restart the servers keep working', () => withLogs(async () => {
      const mark = hub!.log().length;
      await hub!.restart();
      await hub!.waitForLog(/Checking routes/, { since: mark, count: 2, timeoutMs: CHECK_INTERVAL * 10_000 });
      for (const user of USERS) {
        const res = await browser(user).fetch(`${userPrefix(user)}api/status`);
        assert.equal(res.status, 200, `${user} after restart: ${res.status} ${res.body.slice(0, 300)}`);
      }
      const hubPage = await browser('alice').get('/hub/home');
      assert.equal(hubPage.status, 200, `alice's hub cookie after restart: ${hubPage.status} at ${hubPage.url}`);
      // A proxy the hub started dies with it and comes back empty, so the hub re-adds the user
      // routes; a proxy running on its own keeps them and nothing needs repair.
      if (setup!.mode.kind === 'external') {
        assert.deepEqual(hub!.log().slice(mark).match(ROUTE_REPAIRS) ?? [], []);
      }
    }));
  });
}
