// Issue 3 end to end: the outage's rebuilt users table (cookie_id '' for everyone) with a real JupyterHub 3.0.
// Behind Debian's configurable-http-proxy, bob logs in and is alice: the test asserts the outage as it happened.
// Behind hub-guard, nothing of alice's ever reaches bob's browser and every refusal names its reason. On a healthy
// database hub-guard keeps users out of each other's servers, lets admins through, and with --no-admin-access not.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { Browser, userPrefix, type Exchange } from './browser.js';
import { externalGuard, type ProxySetup } from './dropin-suite.js';
import { pollUntil, putTextFile, tryLogin } from './flows.js';
import { GUARD_CLI, GuardApi, OPERATOR_HEADER, awaitRefusals, guardPage, refusalLines, untilIdentified, type GuardPage } from './guard.js';
import { readUsers, rebuildUsersWithEmptyCookieIds } from './hub-db.js';
import { debianChpCommand, logTail, startHub, type Hub, type HubContext, type ProxyMode } from './hub.js';

const SECRET_FILE = 'secret.txt';

/** Where `needles` occur in what `b` ever received (bodies and headers), one line per occurrence. */
function leaks(b: Browser, needles: string[]): string[] {
  const found: string[] = [];
  for (const ex of b.history) {
    const headers = JSON.stringify(ex.headers);
    for (const needle of needles) {
      if (ex.body.includes(needle)) found.push(`${ex.method} ${ex.url} → ${ex.status}: body carries ${JSON.stringify(needle)}`);
      if (headers.includes(needle)) found.push(`${ex.method} ${ex.url} → ${ex.status}: headers carry ${JSON.stringify(needle)}`);
    }
  }
  return found;
}

function describeExchange(ex: Exchange): string {
  return `${ex.method} ${ex.url} → ${ex.status} ${ex.headers['x-hub-guard-page'] ?? ''}\n${ex.body.slice(0, 400)}`;
}

/** A hub plus what the failure messages should show of it and of its proxy. */
class Scene {
  hub: Hub | undefined;
  setup: ProxySetup | undefined;
  readonly browsers: Browser[] = [];

  browser(): Browser {
    const b = new Browser(this.hub!.url);
    this.browsers.push(b);
    return b;
  }

  /** hub-guard's output: the hub's log when the hub started it, else the external process's. */
  proxyLog(): string {
    return this.setup?.log?.() ?? this.hub?.log() ?? '';
  }

  async run(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      const proxyLog = this.setup?.log ? `\n----- proxy log (tail) -----\n${logTail(this.setup.log(), 8000)}` : '';
      const hubLog = this.hub ? `\n----- hub log (tail) -----\n${logTail(this.hub.log(), 12000)}` : '';
      throw new Error(`${err instanceof Error ? err.message : String(err)}${hubLog}${proxyLog}`, { cause: err });
    }
  }

  async stop(): Promise<void> {
    for (const b of this.browsers) b.close();
    try {
      await this.hub?.stop();
    } finally {
      await this.setup?.stop?.();
    }
  }
}

/** hub-guard's own flags for a hub in `ctx`. */
function guardArgs(ctx: HubContext, extra: string[] = []): string[] {
  return ['--hub-db', ctx.dbUrl, '--cookie-secret-file', ctx.cookieSecretFile, ...extra];
}

/** hub-guard running on its own in front of the hub in `ctx`. */
async function guardOnItsOwn(ctx: HubContext, extra: string[]): Promise<ProxySetup> {
  return externalGuard({ extraArgs: (c) => guardArgs(c, extra) })(ctx);
}

interface IncidentRun {
  scene: Scene;
  marker: string;
  /** bob's fresh browser after the rebuild. */
  bob: Browser;
}

/**
 * The shared first half: alice and bob log in, alice starts her server and saves a file only she should see, the
 * hub is stopped, its users table rebuilt with cookie_id '' for everyone, and the hub started again.
 */
function incident(name: string, proxy: (scene: Scene, op: string) => { mode: (ctx: HubContext) => Promise<ProxyMode>; readyHeaders?: Record<string, string> }): IncidentRun {
  const scene = new Scene();
  const run = { scene, marker: `alice-only-${randomBytes(12).toString('hex')}` } as IncidentRun;
  const op = randomBytes(24).toString('hex');

  before(async () => {
    const p = proxy(scene, op);
    scene.hub = await startHub({ proxy: p.mode, readyHeaders: p.readyHeaders });
  });
  after(() => scene.stop());

  test(`${name}: alice keeps a private file in her server; bob logs in`, () => scene.run(async () => {
    const hub = scene.hub!;
    const alice = scene.browser();
    await alice.login('alice', hub.password);
    await alice.spawn();
    await putTextFile(alice, 'alice', SECRET_FILE, run.marker);
    const own = await alice.get(`${userPrefix('alice')}files/${SECRET_FILE}`);
    assert.equal(own.status, 200, describeExchange(own));
    assert.ok(own.body.includes(run.marker), 'alice reads her own file');
    const bob = scene.browser();
    await bob.login('bob', hub.password);
  }));

  test(`${name}: the operators rebuild the users table with empty cookie_ids and restart the hub`, () => scene.run(async () => {
    const hub = scene.hub!;
    await hub.restart(() => rebuildUsersWithEmptyCookieIds(hub.dbPath!));
    const users = readUsers(hub.dbPath!);
    assert.deepEqual(users?.map((u) => [u.name, u.cookie_id]), [['alice', ''], ['bob', '']]);
    run.bob = scene.browser();
  }));

  return run;
}

describe("incident: users rebuilt with empty cookie_ids, behind Debian's configurable-http-proxy", { timeout: 120_000 }, () => {
  const run = incident('CHP', () => ({ mode: async () => debianChpCommand() }));

  test('the outage: bob logs in and the hub treats him as alice, with her files', () => run.scene.run(async () => {
    const bob = run.bob;
    const login = await tryLogin(bob, 'bob', run.scene.hub!.password);
    assert.equal(login.status, 200, `bob's login: ${describeExchange(login)}`);
    const whoami = await bob.fetch('/hub/api/user');
    assert.equal(whoami.status, 200, describeExchange(whoami));
    assert.equal((JSON.parse(whoami.body) as { name: string }).name, 'alice', 'the hub answers bob with alice');
    // the hub sends "its" user to their server: alice's, with the OAuth login done as alice
    const file = await bob.get(`/hub/user-redirect/files/${SECRET_FILE}`);
    assert.equal(new URL(file.url).pathname, `${userPrefix('alice')}files/${SECRET_FILE}`, describeExchange(file));
    assert.equal(file.status, 200, describeExchange(file));
    assert.ok(file.body.includes(run.marker), "bob's browser reads alice's file");
    assert.ok(leaks(bob, [run.marker, 'alice']).length > 0);
  }));
});

/** What bob's fresh browser asked for after the rebuild. */
interface BobsAttempts {
  /** The answer to the login: the form post, or the form itself when even that was refused. */
  login: Exchange;
  whoami: Exchange;
  alicesFile: Exchange;
}

/**
 * What the hub answers a browser that is logged in as nobody: the login form, a redirect to it or to its own
 * /hub/user/… handler, or its API's 403.
 * After a 409 (which clears the hub's cookie) bob is anonymous until hub-guard's next read of the database puts
 * everything into maintenance.
 */
function isAnonymousHubAnswer(ex: Exchange): boolean {
  const path = new URL(ex.url).pathname;
  if (path.startsWith('/hub/api/')) return ex.status === 403;
  const target = ex.status >= 300 && ex.status < 400 && ex.location ? new URL(ex.location, ex.url) : new URL(ex.url);
  // the hub's prefix redirect: /user/<x>/… with no running server goes to /hub/user/<x>/…, for anyone
  const prefixRedirect = ex.status >= 300 && ex.status < 400 && path.startsWith('/user/') && target.pathname === `/hub${path}`;
  return prefixRedirect || (target.pathname === '/hub/login' && (ex.method === 'GET' || ex.status >= 300));
}

/** Asserts what bob's browser saw behind hub-guard: nothing of alice's, refusals with reasons, each one logged. */
async function assertContained(t: TestContext, run: IncidentRun, tried: BobsAttempts): Promise<void> {
  const bob = run.bob;
  assert.deepEqual(leaks(bob, [run.marker, 'alice']), [], "no response to bob's browser carries anything of alice's");
  const first = guardPage(tried.login);
  assert.ok(first, `bob's login was not refused by hub-guard: ${describeExchange(tried.login)}`);
  const expected = new Map([[409, ['cookie-id-empty', 'cookie-id-shared']], [503, ['maintenance-auto']]]);
  assert.ok(expected.get(first.status)?.includes(first.reason), `login refused with ${first.status} ${first.reason}`);
  t.diagnostic(`bob's login: ${first.status} ${first.kind} (${first.reason})`);
  for (const ex of [tried.whoami, tried.alicesFile]) {
    assert.ok(guardPage(ex) || isAnonymousHubAnswer(ex), `neither refused nor anonymous: ${describeExchange(ex)}`);
  }

  // apart from refusals, bob only ever got what the hub gives to nobody: he never reached the hub as anyone
  const pages = bob.history.map(guardPage).filter((p): p is GuardPage => p !== null);
  const forwarded = bob.history.filter((ex) => !guardPage(ex) && !isAnonymousHubAnswer(ex));
  assert.deepEqual(forwarded.map(describeExchange), [], 'responses that were neither refusals nor anonymous hub answers');
  for (const page of pages) {
    assert.ok(page.reason, `a refusal without a reason: ${JSON.stringify(page)}`);
    assert.ok(page.requestId, `a refusal page without a request id: ${JSON.stringify(page)}`);
  }
  const logged = await awaitRefusals(() => run.scene.proxyLog(), pages.map((p) => p.requestId!));
  for (const page of pages) {
    const line = logged.get(page.requestId!)!;
    assert.equal(line.reason, page.reason);
    assert.equal(line.status, page.status);
  }
  for (const line of refusalLines(run.scene.proxyLog())) assert.ok(typeof line.reason === 'string' && line.reason !== '', `log line without reason: ${JSON.stringify(line)}`);
}

/** bob logs in, then tries the ways into "his" server and the hub's API, as he did in the outage. */
async function bobTriesEverything(run: IncidentRun): Promise<BobsAttempts> {
  const bob = run.bob;
  const login = await tryLogin(bob, 'bob', run.scene.hub!.password);
  await bob.get('/hub/home');
  const whoami = await bob.fetch('/hub/api/user');
  const alicesFile = await bob.get(`/hub/user-redirect/files/${SECRET_FILE}`);
  await bob.get('/hub/spawn');
  await bob.get(`${userPrefix('bob')}tree`);
  return { login: login.chain.find((ex) => guardPage(ex)) ?? login, whoami, alicesFile };
}

describe('incident: users rebuilt with empty cookie_ids, hub-guard started by the hub', { timeout: 120_000 }, () => {
  const run = incident('hub-guard (command)', (_scene, op) => ({
    mode: async (ctx) => ({ kind: 'command', command: [process.execPath, GUARD_CLI, ...guardArgs(ctx, ['--db-check-interval', '1'])], env: { HUB_GUARD_OPERATOR_TOKEN: op } }),
    // the restarted hub-guard reads the rebuilt table first and goes into maintenance before the hub is up
    readyHeaders: { [OPERATOR_HEADER]: op },
  }));

  test('bob is refused with a reason, and nothing of alice reaches him', (t) => run.scene.run(async () => {
    await assertContained(t, run, await bobTriesEverything(run));
  }));
});

describe('incident: users rebuilt with empty cookie_ids, hub-guard running on its own before its next DB read', { timeout: 120_000 }, () => {
  const run = incident('hub-guard (external)', (scene) => ({
    // a long check interval: the login reaches the hub before the watchdog re-reads the table, so the answer
    // that sets the empty cookie_id is what hub-guard catches
    mode: async (ctx) => {
      scene.setup = await guardOnItsOwn(ctx, ['--db-check-interval', '3600']);
      return scene.setup.mode;
    },
  }));

  test('bob is refused with a reason, and nothing of alice reaches him', (t) => run.scene.run(async () => {
    await assertContained(t, run, await bobTriesEverything(run));
  }));
});

describe('identity on a healthy database: other users, admins, --no-admin-access', { timeout: 120_000 }, () => {
  const scene = new Scene();
  const stateDir = mkdtempSync(join(tmpdir(), 'hub-guard-state-'));
  const users = new Map<string, Browser>();

  before(async () => {
    scene.hub = await startHub({
      adminUsers: ['carol'],
      proxy: async (ctx) => {
        scene.setup = await guardOnItsOwn(ctx, ['--state-dir', stateDir]);
        return scene.setup.mode;
      },
    });
  });
  after(async () => {
    try {
      await scene.stop();
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  test('alice, bob and the admin carol log in; bob starts his server', () => scene.run(async () => {
    for (const name of ['alice', 'bob', 'carol']) {
      const b = scene.browser();
      await b.login(name, scene.hub!.password);
      await untilIdentified(b);
      users.set(name, b);
    }
    await users.get('bob')!.spawn();
  }));

  test("alice asking for bob's server gets hub-guard's 403 page", () => scene.run(async () => {
    const alice = users.get('alice')!;
    for (const res of [await alice.get(`${userPrefix('bob')}tree`), await alice.fetch(`${userPrefix('bob')}api/status`)]) {
      const page = guardPage(res);
      assert.ok(page, `not refused by hub-guard: ${describeExchange(res)}`);
      assert.equal(page.status, 403);
      assert.equal(page.reason, 'other-user-server');
      const line = (await awaitRefusals(() => scene.proxyLog(), [page.requestId!])).get(page.requestId!)!;
      assert.equal(line.reason, 'other-user-server', `log line of ${page.requestId}: ${JSON.stringify(line)}`);
      assert.equal(line.owner, 'bob');
      assert.equal(line.identity, 'alice');
    }
  }));

  test("the admin carol passes to bob's server", () => scene.run(async () => {
    const carol = users.get('carol')!;
    // the hub asks an admin to authorise access to another user's server once
    let page = await carol.get(`${userPrefix('bob')}tree`);
    if (new URL(page.url).pathname.endsWith('/hub/api/oauth2/authorize') && page.status === 200) page = await carol.submitForm();
    assert.equal(page.status, 200, describeExchange(page));
    assert.equal(new URL(page.url).pathname, `${userPrefix('bob')}tree`);
    const status = await carol.fetch(`${userPrefix('bob')}api/status`);
    assert.equal(status.status, 200, describeExchange(status));
  }));

  test('with --no-admin-access the admin is refused, and bob still gets in', () => scene.run(async () => {
    await scene.setup!.stop!();
    // the same state dir: routes and sessions carry over, as across a rolling restart
    scene.setup = await guardOnItsOwn(scene.hub!, ['--state-dir', stateDir, '--no-admin-access']);
    // as an orchestrator would: traffic once /readyz says the first read of the hub database is done (until then
    // sessions cannot be checked against the users table and count as anonymous)
    const api = new GuardApi(scene.hub!.proxyApiUrl, scene.hub!.token);
    await pollUntil('hub-guard is ready', async () => ((await api.ready()) ? true : undefined), { tries: 40, delayMs: 250 });
    const carol = users.get('carol')!;
    for (const res of [await carol.fetch(`${userPrefix('bob')}api/status`), await carol.get(`${userPrefix('bob')}tree`)]) {
      const page = guardPage(res);
      assert.ok(page, `not refused by hub-guard: ${describeExchange(res)}`);
      assert.equal(page.status, 403);
      assert.equal(page.reason, 'other-user-server');
    }
    const own = await users.get('bob')!.fetch(`${userPrefix('bob')}api/status`);
    assert.equal(own.status, 200, describeExchange(own));
  }));
});
