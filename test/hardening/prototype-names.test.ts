// Names that are Object.prototype's own properties (`constructor`, `__proto__`, `toString`, `valueOf`, …) as user
// names, group names, role-filter targets, server names, cookie names and header names, through every entry point
// of real hub-guard processes (hub cookie and session, IdP JWTs, websockets, hub redirects and Set-Cookie, the CHP
// API, the watchdog and doctor), and through the pure functions those rest on. A lookup keyed by such a name in a
// plain object finds Object's own members: the class of bug where a user called "constructor" brought the proxy
// down. Each name comes with a prefixed and a suffixed twin (`xconstructor`, `constructor2`), which must behave the
// same way. Expectations come from a model of the hub's grants written here, not from hub-guard's own code.
//
// A crash is reported by the sweep that caused it; the process is then started again (same flags, same
// --state-dir), so one crash does not hide what the later entry points do. The last test fails if any process died.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { buildPlan } from '../../src/doctor/plan.js';
import { resolveAccess, type RoleTables } from '../../src/hubdb/access.js';
import { checkSnapshot, DEFAULT_CHECK_OPTIONS, lossySlug, nextBaseline, REQUIRED_TABLES, type Baseline } from '../../src/hubdb/checks.js';
import type { AccessGrant, HubSnapshot, HubUser } from '../../src/hubdb/snapshot.js';
import { UsersIndex } from '../../src/identity/users-index.js';
import { decide, mayAccess, type Identity } from '../../src/policy/decide.js';
import { eventually } from '../helpers/eventually.js';
import { addRoute, login, runGuardToExit, startGuard, type Guard } from '../helpers/guard.js';
import { get, request, type Reply } from '../helpers/http.js';
import { makeHubDb, type HubDbFixture } from '../helpers/hub-db.js';
import { raw } from '../helpers/raw.js';
import { scratch, type Scratch } from '../helpers/scratch.js';
import { hubCookie, writeSecret, type Secret } from '../helpers/secret.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

// ---------------------------------------------------------------- the names

/** `__proto__`, `constructor`, `hasOwnProperty`, `toString`, `valueOf`, `isPrototypeOf`, … */
const PROTO = Object.getOwnPropertyNames(Object.prototype).sort();
/** The same names with a real prefix and suffix: they must behave exactly as their bare forms. */
const CONTRAST = PROTO.flatMap((p) => [`x${p}`, `${p}2`]);
const PEER = 'peer';
const ADMIN = 'admin';
/** Every hub user; each has a default server and a server named after a prototype name. */
const USERS = [...PROTO, ...CONTRAST, PEER, ADMIN];
const SERVER = new Map(USERS.map((u, i) => [u, PROTO[(i + 5) % PROTO.length]!]));
const ADMINS = [ADMIN];

/** Group name → members. Groups are named after prototype names, one is empty, one ordinary. */
const GROUPS = new Map<string, string[]>([
  ['constructor', ['hasOwnProperty', 'xvalueOf']],
  ['__proto__', ['toString', 'constructor2']],
  ['toLocaleString', ['isPrototypeOf', 'propertyIsEnumerable2']],
  ['valueOf', [PEER]],
  ['hasOwnProperty', []],
  ['lab', ['__defineSetter__2']],
]);

interface RoleSpec { name: string; scopes: string[]; users: string[]; groups: string[] }
const ROLES: RoleSpec[] = [
  // the user without a prototype name, whose grants name prototype-named users, groups and servers
  {
    name: 'peek', users: [PEER], groups: [],
    scopes: ['read:users', 'access:servers!user=constructor', 'access:servers!user=x__proto__', 'access:servers!group=__proto__',
      `access:servers!server=valueOf/${SERVER.get('valueOf')}`, 'access:servers!server=hasOwnProperty2/'],
  },
  // a prototype-named user holding grants
  { name: 'proto-grantee', users: ['valueOf'], groups: [], scopes: ['access:servers!user=toString', 'access:servers!group=constructor'] },
  // a grant held through a group named after a prototype name (the user toLocaleString is not in it)
  { name: 'via-group', users: [], groups: ['toLocaleString'], scopes: ['access:servers!user=__proto__'] },
  // a prototype-named user with access to every server, as the admin role gives
  { name: 'all-servers', users: ['__lookupGetter__'], groups: [], scopes: ['access:servers'] },
  // a role named after a prototype name, granting an empty group and a user that does not exist
  { name: 'hasOwnProperty', users: ['xtoString'], groups: [], scopes: ['access:servers!group=hasOwnProperty', 'access:servers!user=nobody'] },
];

/** JupyterHub 3.0's rule for opening someone else's server, from the spec above. */
function allowed(visitor: string, owner: string, server: string): boolean {
  if (visitor === owner || ADMINS.includes(visitor)) return true;
  const groupsOfVisitor = [...GROUPS].filter(([, members]) => members.includes(visitor)).map(([g]) => g);
  for (const role of ROLES) {
    if (!role.users.includes(visitor) && !role.groups.some((g) => groupsOfVisitor.includes(g))) continue;
    for (const scope of role.scopes) {
      if (scope === 'access:servers') return true;
      const m = /^access:servers!(user|group|server)=(.+)$/.exec(scope);
      if (!m) continue;
      if (m[1] === 'user' && m[2] === owner) return true;
      if (m[1] === 'server' && m[2] === `${owner}/${server}`) return true;
      if (m[1] === 'group' && (GROUPS.get(m[2]!) ?? []).includes(owner)) return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------- a hub-guard that is started again after a crash

/** What a dead process left on stderr: the uncaught error and where it was thrown. */
function fatalOf(stderr: string): string {
  const lines = stderr.split('\n');
  const i = lines.findIndex((l) => /^\w*Error\b/.test(l));
  return i === -1 ? lines.filter((l) => l.trim() && !l.startsWith('{')).slice(-3).join(' | ') : lines.slice(i, i + 2).map((l) => l.trim()).join(' ');
}

class Live {
  g!: Guard;
  readonly crashes: string[] = [];
  /** `hub-guard-session=…` per user, minted by the current process. */
  readonly sessions = new Map<string, string>();

  constructor(readonly label: string, private readonly boot: () => Promise<Guard>, private readonly prepare: (l: Live) => Promise<void>) {}

  async start(): Promise<void> {
    this.g = await this.boot();
    await this.prepare(this);
  }

  /** After a sweep during which the process died: what killed it, and a fresh process for the next sweep. */
  async revive(during: string): Promise<string> {
    await this.g.exited;
    const why = `hub-guard ${this.label} died during ${during}: ${fatalOf(this.g.stderr())}`;
    this.crashes.push(why);
    await this.start();
    return why;
  }

  /** Whether the process is still up, given a moment to be seen as exited when requests stopped being answered. */
  async settled(): Promise<boolean> {
    if (this.g.alive()) await Promise.race([this.g.exited, sleep(1000)]);
    return this.g.alive();
  }

  /** A test that uses the process directly starts on a live one. */
  async ensure(test: string): Promise<void> {
    if (!this.g.alive()) await this.revive(`the test before "${test}"`);
  }
}

/** Distinct errors a process logged (what it answered 500 or 503 for) from log line `since` on. */
function errorsSince(g: Guard, since: number): string[] {
  return [...new Set(g.logs().slice(since).filter((l) => l.level === 'error').map((l) => `${l.msg}: ${l.error ?? ''}`))];
}

interface Case { label: string; run(g: Guard): Promise<string | undefined> }

/**
 * Runs the cases (a few at a time) against the live process and returns every problem: a check that failed, an
 * error hub-guard logged, the process dying (the sweep stops there, and the process is started again).
 */
async function sweep(l: Live, what: string, cases: Case[], concurrency = 8): Promise<string[]> {
  const problems: string[] = [];
  const unanswered: string[] = [];
  const g = l.g;
  const since = g.logs().length;
  let next = 0;
  const worker = async () => {
    while (next < cases.length && g.alive()) {
      const c = cases[next++]!;
      try {
        const p = await c.run(g);
        if (p) problems.push(`${c.label}: ${p}`);
      } catch (e) {
        unanswered.push(`${c.label}: no answer (${(e as Error).message})`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const alive = unanswered.length ? await l.settled() : g.alive();
  const first = errorsSince(g, since).map((e) => `hub-guard ${l.label} logged ${e}`);
  if (!alive) {
    first.unshift(await l.revive(what));
    if (unanswered.length) first.push(`${unanswered.length} request(s) got no answer as it went down, the first: ${unanswered[0]}`);
    return [...first, ...problems];
  }
  return [...first, ...problems, ...unanswered];
}

/** Fails with the first problems and their count, so one broken name does not bury the others. */
function noProblems(problems: string[]): void {
  if (problems.length === 0) return;
  assert.fail(`${problems.length} problem(s):\n  ${problems.slice(0, 25).join('\n  ')}${problems.length > 25 ? `\n  … and ${problems.length - 25} more` : ''}`);
}

const json = (r: Reply): any => {
  try {
    return JSON.parse(r.text);
  } catch {
    return undefined;
  }
};

const JSON_ACCEPT = { accept: 'application/json' };

/**
 * A GET with these header lines written as they are (node's client cannot send a `__proto__` header), as a
 * websocket upgrade with `ws`: the status and the refusal's reason, if any; throws when nothing answers.
 */
async function rawGet(port: number, path: string, lines: string[], ws = false): Promise<{ status: number; reason?: string; text: string }> {
  const upgrade = ['Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`];
  const head = [`GET ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Accept: application/json', ...lines, ...(ws ? upgrade : ['Connection: close'])];
  const r = await raw(port, `${head.join('\r\n')}\r\n\r\n`, 10_000, ws);
  const status = r.statuses[0];
  if (status === undefined) throw new Error(r.closedByServer ? 'the connection closed without an answer' : 'no answer in time');
  return { status, reason: /"reason":"([^"]*)"/.exec(r.text)?.[1], text: r.text };
}

/** The answer a visitor must get: forwarded (200, or 101 for a websocket), or refused with this reason. */
function expectAnswer(r: { status: number; reason?: string }, ok: boolean, okStatus: number, refusal: string): string | undefined {
  if (ok) return r.status === okStatus ? undefined : `expected ${okStatus}, got ${r.status}${r.reason ? ` (${r.reason})` : ''}`;
  if (r.status !== 403) return `expected 403 ${refusal}, got ${r.status}`;
  return r.reason === refusal ? undefined : `expected reason ${refusal}, got ${r.reason}`;
}

const subOf = (jwt: unknown): string | undefined => {
  if (typeof jwt !== 'string') return undefined;
  try {
    return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')).sub;
  } catch {
    return undefined;
  }
};

// ---------------------------------------------------------------- the processes

describe('names that are Object.prototype properties, through real hub-guard processes', () => {
  let tmp: Scratch;
  let db: HubDbFixture;
  let secret: Secret;
  let hub: Upstream;
  let servers: Upstream;
  let cookies: Live;
  let idp: Live;
  let sign: (email: string) => Promise<string>;
  const stateDir = () => join(tmp.dir, 'state');

  const targetOf = (owner: string, server = '') => `${servers.url}/t/${owner}${server ? `/${server}` : ''}`;
  const routePaths = () => USERS.flatMap((u) => [`/user/${u}`, `/user/${u}/${SERVER.get(u)}`]);

  async function addRoutes(g: Guard): Promise<void> {
    await addRoute(g, '/', { hub: true, target: hub.url });
    for (const u of USERS) {
      await addRoute(g, `/user/${u}`, { user: u, server_name: '', target: targetOf(u) });
      await addRoute(g, `/user/${u}/${SERVER.get(u)}`, { user: u, server_name: SERVER.get(u), target: targetOf(u, SERVER.get(u)) });
    }
  }

  before(async () => {
    tmp = scratch('hg-proto-names-');
    db = await makeHubDb({ dir: tmp.dir, users: USERS });
    const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
    const id = (name: string) => db.users.get(name)!.id;
    const groupIds = new Map([...GROUPS.keys()].map((g, i) => [g, i + 1]));
    db.exec([
      `UPDATE users SET admin = 1 WHERE name IN (${ADMINS.map(q).join(', ')});`,
      ...[...groupIds].map(([g, gid]) => `INSERT INTO groups (id, name) VALUES (${gid}, ${q(g)});`),
      ...[...GROUPS].flatMap(([g, members]) => members.map((m) => `INSERT INTO user_group_map (user_id, group_id) VALUES (${id(m)}, ${groupIds.get(g)});`)),
      ...ROLES.map((r, i) => `INSERT INTO roles (id, name, scopes) VALUES (${i + 1}, ${q(r.name)}, ${q(JSON.stringify(r.scopes))});`),
      ...ROLES.flatMap((r, i) => [
        ...r.users.map((u) => `INSERT INTO user_role_map (user_id, role_id) VALUES (${id(u)}, ${i + 1});`),
        ...r.groups.map((g) => `INSERT INTO group_role_map (group_id, role_id) VALUES (${groupIds.get(g)}, ${i + 1});`),
      ]),
    ].join('\n'));
    secret = writeSecret(tmp.dir);

    hub = await startUpstream('hub');
    // a hub redirect: /hub/go?to=<path> answers 302 to that path, with Set-Cookie lines named after prototype names
    hub.handle('/hub/go', (req, res) => {
      const to = new URL(req.url ?? '/', 'http://h').searchParams.get('to') ?? '/';
      res.writeHead(302, { location: to, 'set-cookie': ['__proto__=1; Path=/', 'constructor=x; Path=/hub/', 'toString=y'] });
      res.end();
    });
    // a hub login: /hub/login-as?user=<name> sets that user's login cookie, as the hub does after a login form
    hub.handle('/hub/login-as', (req, res) => {
      const user = new URL(req.url ?? '/', 'http://h').searchParams.get('user') ?? '';
      const cookie = db.users.get(user) ? hubCookie(secret.key, db.users.get(user)!.cookieId) : 'jupyterhub-hub-login=""';
      res.writeHead(200, { 'content-type': 'text/plain', 'set-cookie': [`${cookie}; Path=/hub/; HttpOnly`, '__proto__=1; Path=/', 'valueOf=2'] });
      res.end('logged in');
    });
    servers = await startUpstream('servers');

    const keys = await generateKeyPair('ES256');
    const jwksFile = join(tmp.dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256' }] }));
    sign = (email) => new SignJWT({ email }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuedAt().setExpirationTime('10m').sign(keys.privateKey);

    const common = ['--hub-db', db.url, '--cookie-secret-file', secret.file];
    cookies = new Live('(cookies)', () => startGuard({ flags: [...common, '--state-dir', stateDir(), '--db-check-interval', '1'] }), async (l) => {
      await addRoutes(l.g);
      l.sessions.clear();
      for (const u of USERS) l.sessions.set(u, await login(l.g, secret.key, db.users.get(u)!.cookieId));
    });
    idp = new Live('(--identity-header)', () => startGuard({ flags: [...common, '--identity-header', 'X-Id', '--jwks-file', jwksFile] }), async (l) => {
      await addRoutes(l.g);
    });
    await Promise.all([cookies.start(), idp.start()]);
  });

  after(async () => {
    await cookies?.g?.stop();
    await idp?.g?.stop();
    await hub?.stop();
    await servers?.stop();
    tmp?.remove();
  });

  /** The credential a browser sends to /user/…: hub-guard's session, or (in some cases) the hub cookie itself. */
  const credential = (l: Live, user: string, useHubCookie: boolean) =>
    useHubCookie ? hubCookie(secret.key, db.users.get(user)!.cookieId) : l.sessions.get(user)!;

  /** GET /api/guard/status with the operator token (CONFIGPROXY_AUTH_TOKEN when no other is set). */
  async function guardStatus(g: Guard): Promise<any> {
    const r = await request(g.apiPort, 'GET', '/api/guard/status', { authorization: `token ${g.token}` });
    assert.equal(r.status, 200, r.text);
    return JSON.parse(r.text);
  }

  test('the hub DB with these names reads as healthy: no findings, every name in the baseline', async (t) => {
    await cookies.ensure(t.name);
    // the first healthy read is in the baseline
    const s = await eventually('a baseline', async () => {
      const x = await guardStatus(cookies.g);
      return x.baseline ? x : undefined;
    });
    assert.deepEqual(s.db.findings, []);
    assert.equal(s.maintenance.on, false, JSON.stringify(s.maintenance));
    assert.equal(s.baseline?.users, USERS.length, 'the baseline knows every user, prototype names included');
    assert.equal(s.baseline?.high_water, USERS.length);
  });

  test('every user logs in through the hub and reaches their own default and named servers', async () => {
    let n = 0;
    const cases: Case[] = USERS.flatMap((u, i) => ['', SERVER.get(u)!].map((server): Case => {
      const path = `/user/${u}/${server ? `${server}/` : ''}api/own/${n++}`;
      return {
        label: `${u} GET ${path}`,
        run: async (g) => {
          const r = await get(g.port, path, { ...JSON_ACCEPT, cookie: credential(cookies, u, i % 2 === 1) });
          const body = json(r);
          if (r.status !== 200) return `expected 200, got ${r.status} ${body?.reason ?? r.text.slice(0, 100)}`;
          if (!String(body?.url).startsWith(`/t/${u}${server ? `/${server}` : ''}/`)) return `reached ${body?.upstream} ${body?.url}`;
          return undefined;
        },
      };
    }));
    noProblems(await sweep(cookies, 'own-server requests', cases));
  });

  /**
   * Every visitor's GET of every other user's default and named server, with the session or the hub cookie: the
   * answer the hub's grants call for, and exactly the allowed requests reaching a server, as the user let through.
   */
  async function acrossUsers(visitors: string[], tag: string): Promise<void> {
    const seenBefore = servers.seen.length;
    const expectedThrough = new Map<string, string>();
    const cases: Case[] = [];
    visitors.forEach((visitor, i) => USERS.forEach((owner, j) => {
      if (visitor === owner) return;
      for (const server of ['', SERVER.get(owner)!]) {
        const path = `/user/${owner}/${server ? `${server}/` : ''}api/${tag}/${cases.length}`;
        const ok = allowed(visitor, owner, server);
        if (ok) expectedThrough.set(path, visitor);
        cases.push({
          label: `${visitor} → ${owner}${server ? `/${server}` : ''}`,
          run: async (g) => {
            const r = await get(g.port, path, { ...JSON_ACCEPT, cookie: credential(cookies, visitor, (i + j) % 2 === 1) });
            return expectAnswer({ status: r.status, reason: json(r)?.reason }, ok, 200, 'other-user-server');
          },
        });
      }
    }));
    const problems = await sweep(cookies, `GETs of other users' servers (${tag})`, cases, 16);
    const arrived = servers.seen.slice(seenBefore).filter((s) => s.url.includes(`/api/${tag}/`));
    for (const s of arrived) {
      const path = s.url.slice(s.url.indexOf('/user/'));
      const visitor = expectedThrough.get(path);
      if (visitor === undefined) problems.push(`${path} reached its server although the hub grants no access`);
      else if (subOf(s.headers['x-hub-guard-user']) !== visitor) problems.push(`${path} reached its server as ${subOf(s.headers['x-hub-guard-user'])}, not ${visitor}`);
    }
    if (problems.length === 0) assert.equal(arrived.length, expectedThrough.size, 'every allowed request reached its server');
    noProblems(problems);
  }

  /** Users the hub lets into someone else's server (directly, through a group, or as admins). */
  const holders = USERS.filter((v) => USERS.some((o) => o !== v && (allowed(v, o, '') || allowed(v, o, SERVER.get(o)!))));

  test("GET of other users' servers by users without any grant: refused 403, every one", async () => {
    assert.ok(holders.length > 3 && holders.length < USERS.length / 2);
    await acrossUsers(USERS.filter((u) => !holders.includes(u)), 'stranger');
  });

  test("GET of other users' servers by holders of grants (user, group and server filters, admin): exactly what the hub grants", async () => {
    await acrossUsers(holders, 'granted');
  });

  test('websocket upgrades to own and other servers: 101 where the hub grants access, 403 otherwise', async () => {
    const cases: Case[] = USERS.flatMap((visitor, i) => [0, 1, 2, 7, 19].map((k): Case => {
      const owner = USERS[(i + k) % USERS.length]!;
      const server = k % 2 === 0 ? '' : SERVER.get(owner)!;
      const ok = allowed(visitor, owner, server);
      const path = `/user/${owner}/${server ? `${server}/` : ''}api/kernels/k/channels`;
      return {
        label: `${visitor} WS ${path}`,
        run: async (g) => {
          return expectAnswer(await rawGet(g.port, path, [`Cookie: ${credential(cookies, visitor, k === 7)}`], true), ok, 101, 'other-user-server');
        },
      };
    }));
    noProblems(await sweep(cookies, 'websocket upgrades', cases));
  });

  test('a hub redirect into a server is passed on where the hub grants access and refused (403 redirect-to-other-user) otherwise', async () => {
    const cases: Case[] = [];
    USERS.forEach((visitor, i) => {
      for (const k of [0, 1, 3, 12, 25]) {
        const owner = USERS[(i + k) % USERS.length]!;
        for (const server of ['', SERVER.get(owner)!]) {
          const location = `/user/${owner}/${server ? `${server}/` : ''}lab`;
          const ok = allowed(visitor, owner, server);
          cases.push({
            label: `${visitor} redirected to ${location}`,
            run: async (g) => {
              // at /hub/ a browser sends both the hub cookie and the session
              const cookie = `${hubCookie(secret.key, db.users.get(visitor)!.cookieId)}; ${cookies.sessions.get(visitor)}`;
              const r = await get(g.port, `/hub/go?to=${encodeURIComponent(location)}`, { ...JSON_ACCEPT, cookie });
              const problem = expectAnswer({ status: r.status, reason: json(r)?.reason }, ok, 302, 'redirect-to-other-user');
              if (problem) return problem;
              if (ok && r.headers.location !== location) return `Location ${r.headers.location}`;
              return undefined;
            },
          });
        }
      }
    });
    // nobody identified: the redirect is the hub's business
    for (const owner of PROTO) {
      cases.push({
        label: `anonymous redirected to /user/${owner}/`,
        run: async (g) => {
          const r = await get(g.port, `/hub/go?to=${encodeURIComponent(`/user/${owner}/`)}`, JSON_ACCEPT);
          return r.status === 302 ? undefined : `expected 302, got ${r.status}`;
        },
      });
    }
    noProblems(await sweep(cookies, 'hub redirects', cases));
  });

  test('the hub logging in a prototype-named user (Set-Cookie of its login cookie, and cookies named after prototype names) passes', async () => {
    const cases: Case[] = USERS.map((u): Case => ({
      label: `hub sets the login cookie of ${u}`,
      run: async (g) => {
        const r = await get(g.port, `/hub/login-as?user=${encodeURIComponent(u)}`, JSON_ACCEPT);
        if (r.status !== 200) return `expected 200, got ${r.status} ${json(r)?.reason ?? ''}`;
        const names = (r.headers['set-cookie'] ?? []).map((c) => c.slice(0, c.indexOf('=')));
        for (const want of ['jupyterhub-hub-login', '__proto__', 'valueOf']) if (!names.includes(want)) return `Set-Cookie ${want} was dropped: ${names.join(', ')}`;
        return undefined;
      },
    }));
    noProblems(await sweep(cookies, 'hub logins', cases));
  });

  test('cookies and request headers named after prototype names reach the server unchanged and change nobody\'s identity', async () => {
    const protoCookies = '__proto__=1; constructor=x; toString=y; hasOwnProperty=z; valueOf=v';
    const protoHeaders = ['__proto__: x', 'constructor: y', 'hasOwnProperty: z', 'toString: w', 'valueOf: v'];
    const cases: Case[] = [];
    for (const [i, u] of USERS.entries()) {
      const other = USERS[(i + 1) % USERS.length]!;
      for (const [owner, ok] of [[u, true], [other, allowed(u, other, '')]] as const) {
        const path = `/user/${owner}/api/headers/${u}`;
        cases.push({
          label: `${u} with prototype-named cookies and headers → /user/${owner}/`,
          run: async (g) => {
            const own = `jupyterhub-user-${owner}=own; jupyterhub-user-__proto__=theirs; jupyterhub-user-constructor=theirs2`;
            const before = servers.seen.length;
            const r = await rawGet(g.port, path, [`Cookie: ${protoCookies}; ${own}; ${cookies.sessions.get(u)}`, ...protoHeaders]);
            const problem = expectAnswer(r, ok, 200, 'other-user-server');
            if (problem || !ok) return problem;
            const seen = servers.seen.slice(before).find((s) => s.url.endsWith(path));
            if (!seen) return 'the server did not see the request';
            for (const h of protoHeaders) {
              const [name, value] = h.split(': ') as [string, string];
              const values = seen.rawHeaders.flatMap((n, k) => (k % 2 === 0 && n.toLowerCase() === name.toLowerCase() ? [seen.rawHeaders[k + 1]] : []));
              // node keeps request headers in an object, so a `__proto__` header is lost on the way, in CHP too
              if (name === '__proto__' && values.length === 0) continue;
              if (values.length !== 1 || values[0] !== value) return `header ${name} arrived as ${JSON.stringify(values)}`;
            }
            const sent = String(seen.headers.cookie ?? '').split('; ');
            for (const c of protoCookies.split('; ')) if (!sent.includes(c)) return `cookie ${c} did not arrive: ${seen.headers.cookie}`;
            if (!sent.includes(`jupyterhub-user-${owner}=own`)) return `the server's own cookie did not arrive: ${seen.headers.cookie}`;
            const foreign = sent.filter((c) => c.startsWith('jupyterhub-user-') && !c.startsWith(`jupyterhub-user-${owner}=`));
            if (foreign.length) return `another server's cookie reached it: ${foreign.join(', ')}`;
            if (sent.some((c) => c.startsWith('hub-guard-session='))) return 'the session reached user code';
            if (subOf(seen.headers['x-hub-guard-user']) !== u) return `X-Hub-Guard-User names ${subOf(seen.headers['x-hub-guard-user'])}`;
            return undefined;
          },
        });
      }
    }
    // the same cookie and header names with nothing else: an anonymous visitor, who is let through as anonymous
    for (const name of PROTO) {
      cases.push({
        label: `anonymous with prototype-named cookies and headers → /user/${name}/`,
        run: async (g) => {
          const r = await rawGet(g.port, `/user/${name}/anon`, [`Cookie: ${protoCookies}`, ...protoHeaders]);
          return r.status === 200 ? undefined : `expected 200, got ${r.status}`;
        },
      });
    }
    noProblems(await sweep(cookies, 'prototype-named cookies and headers', cases));
  });

  test('the CHP API: routes keyed and owned by prototype names are listed, added, read and deleted like any other', async (t) => {
    await cookies.ensure(t.name);
    const g = cookies.g;
    const auth = { authorization: `token ${g.token}` };
    const api = (method: string, path: string, body?: unknown) =>
      request(g.apiPort, method, `/api/routes${path}`, body === undefined ? auth : { ...auth, 'content-type': 'application/json' }, body === undefined ? undefined : JSON.stringify(body));
    const problems: string[] = [];
    const check = (what: string, got: unknown, want: unknown) => same(problems, what, got, want);
    try {
      const all = await api('GET', '');
      check('GET /api/routes status', all.status, 200);
      const routes = json(all) ?? {};
      for (const p of routePaths()) {
        const owner = p.split('/')[2]!;
        check(`GET /api/routes has own key ${p}`, Object.hasOwn(routes, p), true);
        check(`GET /api/routes ${p} user`, routes[p]?.user, owner);
      }
      check('GET /api/routes lists nothing else', Object.keys(routes).length, routePaths().length + 1);
      for (const name of PROTO) {
        const one = await api('GET', `/user/${name}`);
        check(`GET /api/routes/user/${name}`, [one.status, json(one)?.user, json(one)?.server_name], [200, name, '']);
        // no route under the bare name: not found, like any unknown route
        check(`GET /api/routes/${name}`, (await api('GET', `/${name}`)).status, 404);
        check(`DELETE /api/routes/${name}`, (await api('DELETE', `/${name}`)).status, 404);
      }
      const since = await api('GET', `?inactive_since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
      check('GET /api/routes?inactive_since= keys', Object.keys(json(since) ?? {}).length, routePaths().length + 1);

      // a route body whose keys are prototype names is stored and returned as sent, owned by its `user`
      const extra = { user: 'constructor', server_name: '', target: targetOf('constructor', 'extra'), constructor: 'c', toString: 't', hasOwnProperty: 'h' };
      check('POST /api/routes/user/constructor/extra', (await api('POST', '/user/constructor/extra', extra)).status, 201);
      const back = json(await api('GET', '/user/constructor/extra')) ?? {};
      check('the route body as stored', [back.user, back.constructor, back.toString, back.hasOwnProperty, back.target], ['constructor', 'c', 't', 'h', extra.target]);
      const stranger = 'toLocaleString';
      check(`${stranger} → /user/constructor/extra/`, (await get(g.port, '/user/constructor/extra/x', { ...JSON_ACCEPT, cookie: cookies.sessions.get(stranger)! })).status, 403);
      check('constructor → /user/constructor/extra/', (await get(g.port, '/user/constructor/extra/x', { cookie: cookies.sessions.get('constructor')! })).status, 200);
      check('DELETE /api/routes/user/constructor/extra', (await api('DELETE', '/user/constructor/extra')).status, 204);

      // DELETE and POST again the route of the user called __proto__
      check('DELETE /api/routes/user/__proto__', (await api('DELETE', '/user/__proto__')).status, 204);
      check('GET /api/routes/user/__proto__ after DELETE', (await api('GET', '/user/__proto__')).status, 404);
      check('GET /api/routes has no /user/__proto__ after DELETE', Object.hasOwn(json(await api('GET', '')) ?? {}, '/user/__proto__'), false);
      // without its route, /user/__proto__/ goes to the hub, as in CHP
      const toHub = await get(g.port, '/user/__proto__/tree', { ...JSON_ACCEPT, cookie: cookies.sessions.get('constructor')! });
      check('constructor → /user/__proto__/ without a route', [toHub.status, json(toHub)?.upstream], [200, 'hub']);
      check('POST /api/routes/user/__proto__', (await api('POST', '/user/__proto__', { user: '__proto__', server_name: '', target: targetOf('__proto__') })).status, 201);
      check('GET /api/routes/user/__proto__ after POST', json(await api('GET', '/user/__proto__'))?.user, '__proto__');
      const refused = await get(g.port, '/user/__proto__/tree', { ...JSON_ACCEPT, cookie: cookies.sessions.get('constructor')! });
      check('constructor → /user/__proto__/ again', [refused.status, json(refused)?.reason], [403, 'other-user-server']);
      check('__proto__ → /user/__proto__/ again', (await get(g.port, '/user/__proto__/tree', { cookie: cookies.sessions.get('__proto__')! })).status, 200);

      // a route at /__proto__ itself, owned by nobody
      check('POST /api/routes/__proto__', (await api('POST', '/__proto__', { target: targetOf('bare') })).status, 201);
      const bare = await get(g.port, '/__proto__/x');
      check('GET /__proto__/x', [bare.status, json(bare)?.upstream], [200, 'servers']);
      check('DELETE /api/routes/__proto__', (await api('DELETE', '/__proto__')).status, 204);
    } catch (e) {
      problems.push(`no answer (${(e as Error).message})`);
      if (!(await cookies.settled())) problems.unshift(await cookies.revive('CHP API calls'));
    }
    noProblems(problems);
  });

  test('IdP JWTs for constructor@…, __proto__@… and the rest: the same answer the first time and from the cache', async () => {
    const tokens = new Map<string, string>();
    for (const u of USERS) tokens.set(u, await sign(`${u}@example.org`));
    const cases: Case[] = [];
    USERS.forEach((u, i) => {
      // the default authenticators' normalisation: the local part, lower-cased
      const visitor = u.toLowerCase();
      const owners = [...new Set([u, 'constructor', '__proto__', PROTO[(i + 3) % PROTO.length]!, USERS[(i + 1) % USERS.length]!])];
      for (const owner of owners) {
        for (const server of ['', SERVER.get(owner)!]) {
          const path = `/user/${owner}/${server ? `${server}/` : ''}api/idp`;
          const ok = allowed(visitor, owner, server);
          cases.push({
            label: `IdP ${u}@example.org → ${owner}${server ? `/${server}` : ''}`,
            run: async (g) => {
              // twice in a row: the second is answered from the verified-token cache, synchronously
              for (const attempt of ['first', 'cached']) {
                const r = await get(g.port, path, { ...JSON_ACCEPT, 'x-id': tokens.get(u)! });
                const p = expectAnswer({ status: r.status, reason: json(r)?.reason }, ok, 200, 'other-user-server');
                if (p) return `${attempt}: ${p}`;
              }
              return undefined;
            },
          });
        }
      }
      cases.push({
        label: `IdP ${u}@example.org WS → /user/__proto__/`,
        run: async (g) => {
          for (const attempt of ['first', 'cached']) {
            const r = await rawGet(g.port, '/user/__proto__/api/kernels/k/channels', [`X-Id: ${tokens.get(u)}`], true);
            const p = expectAnswer(r, allowed(visitor, '__proto__', ''), 101, 'other-user-server');
            if (p) return `${attempt}: ${p}`;
          }
          return undefined;
        },
      });
      cases.push({
        label: `IdP ${u}@example.org → /hub/home`,
        run: async (g) => {
          for (const attempt of ['first', 'cached']) {
            const r = await get(g.port, '/hub/home', { 'x-id': tokens.get(u)! });
            if (r.status !== 200) return `${attempt}: expected 200, got ${r.status}`;
          }
          return undefined;
        },
      });
    });
    noProblems(await sweep(idp, 'IdP requests', cases));
  });

  test('doctor reads the baseline hub-guard kept for these names, and a baseline that never saw them, without inventing id changes', async () => {
    const run = (args: string[]) => runGuardToExit(['doctor', '--db', db.url, '--json', ...args], {});
    const problems: string[] = [];
    const report = async (what: string, args: string[], code: number) => {
      const r = await run(args);
      if (r.code !== code) problems.push(`${what}: exit ${r.code}, expected ${code}: ${r.stderr.slice(0, 300)}`);
      try {
        return JSON.parse(r.stdout);
      } catch {
        problems.push(`${what}: stdout is not JSON: ${r.stdout.slice(0, 200)} ${r.stderr.slice(0, 300)}`);
        return undefined;
      }
    };
    const own = await report('doctor --state-dir (the running hub-guard\'s baseline)', ['--state-dir', stateDir()], 0);
    if (own) {
      if (own.findings?.length) problems.push(`doctor --state-dir found ${JSON.stringify(own.findings.map((f: any) => f.check))}`);
      if (own.baseline?.names !== USERS.length) problems.push(`doctor --state-dir: baseline of ${own.baseline?.names} names`);
    }
    const file = (name: string, users: Record<string, number>) => {
      const f = join(tmp.dir, name);
      writeFileSync(f, JSON.stringify({ highWater: USERS.length, users, updatedAt: Date.now() }));
      return f;
    };
    const unseen = await report('doctor --baseline (never saw the prototype names)', ['--baseline', file('unseen.json', { [PEER]: db.users.get(PEER)!.id, [ADMIN]: db.users.get(ADMIN)!.id })], 0);
    if (unseen?.findings?.length) problems.push(`a baseline without the prototype names: ${JSON.stringify(unseen.findings.map((f: any) => f.check))}`);
    // the baseline knew constructor under another id: that one change, and nothing about the other names
    const moved = Object.fromEntries([...USERS.map((u) => [u, db.users.get(u)!.id] as const), ['constructor', 999] as const]);
    const changed = await report('doctor --baseline (constructor had id 999)', ['--baseline', file('moved.json', moved)], 1);
    if (changed) {
      const ids = (changed.findings ?? []).filter((f: any) => f.check === 'id-changed');
      same(problems, 'id-changed names', ids.flatMap((f: any) => f.detail.changes.map((c: any) => c.name)), ['constructor']);
      same(problems, 'plan id restores', (changed.plan?.idRestores ?? []).map((r: any) => [r.name, r.to]), [['constructor', 999]]);
    }
    noProblems(problems);
  });

  test("the watchdog: a user re-created under a new id is the one id change it reports; prototype names raise nothing else", async (t) => {
    await cookies.ensure(t.name);
    const g = cookies.g;
    const ctor = db.users.get('constructor')!;
    // a new user first: a healthy change, learnt by the baseline
    db.exec(`INSERT INTO users (id, name, admin, created, cookie_id) VALUES (100, 'newbie', 0, '2024-05-06 07:08:09', '${randomBytes(16).toString('hex')}')`);
    let s = await eventually('the baseline to learn newbie', async () => {
      const x = await guardStatus(g);
      return x.baseline?.users === USERS.length + 1 ? x : undefined;
    });
    assert.deepEqual(s.db.findings, []);
    // then constructor deleted and created again, as a hub on a wiped database would
    db.exec(`DELETE FROM users WHERE name = 'constructor';
      INSERT INTO users (id, name, admin, created, cookie_id) VALUES (200, 'constructor', 0, '2024-05-06 07:08:09', '${randomBytes(16).toString('hex')}')`);
    s = await eventually('a finding', async () => {
      const x = await guardStatus(g);
      return x.db.findings.length ? x : undefined;
    });
    const changes = s.db.findings.filter((f: any) => f.check === 'id-changed').flatMap((f: any) => f.detail.changes);
    assert.deepEqual(changes, [{ name: 'constructor', was: ctor.id, now: 200 }]);
    assert.deepEqual(s.db.findings.map((f: any) => f.check), ['id-changed']);
    assert.ok(g.alive());
  });

  test('no hub-guard process died over the whole file', () => {
    assert.deepEqual([...cookies.crashes, ...idp.crashes], []);
    assert.ok(cookies.g.alive() && idp.g.alive());
  });
});

/** Notes a problem unless `got` is `want` (as JSON). */
function same(problems: string[], what: string, got: unknown, want: unknown): void {
  if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`${what}: got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
}

// ---------------------------------------------------------------- the pure functions, with fast-check

/** A lookup as a naive reader does it: `m.get(k)` for a Map, `r[k]` for a record. */
function naive(container: unknown, key: string): unknown {
  return container instanceof Map ? container.get(key) : (container as Record<string, unknown>)[key];
}

function keysOf(container: unknown): string[] {
  return (container instanceof Map ? [...container.keys()] : Object.keys(container as object)).sort();
}

const nameArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...PROTO) },
  { weight: 1, arbitrary: fc.constantFrom(...CONTRAST) },
  // no '/': `owner/server` in a server filter would not say where one ends and the other begins
  { weight: 2, arbitrary: fc.string({ maxLength: 10 }).map((s) => s.replace(/\//g, '-')) },
);

interface World { users: HubUser[]; tables: RoleTables; groupNames: string[] }

const worldArb: fc.Arbitrary<World> = fc.record({
  names: fc.uniqueArray(nameArb, { minLength: 1, maxLength: 12 }),
  groupNames: fc.uniqueArray(nameArb, { maxLength: 5 }),
  admins: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
  roles: fc.array(fc.array(fc.oneof(
    fc.constant('access:servers'),
    fc.tuple(fc.constantFrom('user', 'group', 'server'), nameArb, fc.option(nameArb, { nil: undefined })).map(([k, n, s]) => `access:servers!${k}=${k === 'server' ? `${n}/${s ?? ''}` : n}`),
    fc.constantFrom('self', 'read:users', 'access:servers!user', 'servers'),
  ), { maxLength: 4 }), { maxLength: 4 }),
  userRoles: fc.array(fc.tuple(fc.nat(11), fc.nat(3)), { maxLength: 8 }),
  groupRoles: fc.array(fc.tuple(fc.nat(4), fc.nat(3)), { maxLength: 4 }),
  userGroups: fc.array(fc.tuple(fc.nat(11), fc.nat(4)), { maxLength: 10 }),
}).map(({ names, groupNames, admins, roles, userRoles, groupRoles, userGroups }) => {
  const users: HubUser[] = names.map((name, i) => ({ id: i + 1, name, admin: admins[i]!, cookieId: randomBytes(16).toString('hex'), created: null }));
  const tables: RoleTables = {
    roles: new Map(roles.map((scopes, i) => [i + 1, scopes])),
    groupNames: new Map(groupNames.map((g, i) => [i + 1, g])),
    userRoles: userRoles.map(([u, r]) => [u + 1, r + 1]),
    groupRoles: groupRoles.map(([g, r]) => [g + 1, r + 1]),
    userGroups: userGroups.map(([u, g]) => [u + 1, g + 1]),
  };
  return { users, tables, groupNames };
});

/** The grant and groups JupyterHub gives each user of the world, computed here without hub-guard. */
function model(w: World): { grants: Map<string, AccessGrant>; groups: Map<string, string[]> } {
  const grants = new Map<string, AccessGrant>();
  const groups = new Map<string, string[]>();
  const uniq = (xs: string[]) => [...new Set(xs)].sort();
  for (const u of w.users) {
    const gids = w.tables.userGroups.filter(([uid]) => uid === u.id).map(([, gid]) => gid);
    const rids = [
      ...w.tables.userRoles.filter(([uid]) => uid === u.id).map(([, rid]) => rid),
      ...w.tables.groupRoles.filter(([gid]) => gids.includes(gid)).map(([, rid]) => rid),
    ];
    const scopes = rids.flatMap((r) => w.tables.roles.get(r) ?? []);
    const pick = (kind: string) => scopes.flatMap((s) => {
      const m = /^access:servers!(user|group|server)=(.+)$/.exec(s);
      return m && m[1] === kind ? [m[2]!] : [];
    });
    const all = u.admin || scopes.includes('access:servers');
    const g: AccessGrant = all ? { all: true, users: [], groups: [], servers: [] } : { all: false, users: uniq(pick('user')), groups: uniq(pick('group')), servers: uniq(pick('server')) };
    if (g.all || g.users.length || g.groups.length || g.servers.length) grants.set(u.name, g);
    const gnames = gids.map((gid) => w.tables.groupNames.get(gid)).filter((n): n is string => n !== undefined);
    if (gnames.length) groups.set(u.name, uniq(gnames));
  }
  return { grants, groups };
}

function snapshotOf(users: HubUser[], tables: RoleTables = { roles: new Map(), groupNames: new Map(), userRoles: [], groupRoles: [], userGroups: [] }, takenAt = 0): HubSnapshot {
  const { access, groups } = resolveAccess(users, tables);
  return {
    takenAt, tables: ['alembic_version', ...REQUIRED_TABLES].sort(), alembicVersion: '651f5419b74d', users,
    cookieIdConstraint: { notNull: true, unique: true }, access, groups, apiTokens: 0,
  };
}

/** Names to look up besides the world's own: every prototype name, a few ordinary ones. */
const PROBES = [...PROTO, ...CONTRAST, 'nobody', ''];

/** A name for `name` that no world uses: `constructor` → `ordinary-3`; what a prototype name must behave like. */
const ORDINARY = new Map(PROTO.map((p, i) => [p, `\u0000ordinary-${i}`]));
const renameProto = (n: string) => ORDINARY.get(n) ?? n;

describe('the lookups behind identity and policy, with prototype names (fast-check)', () => {
  test('resolveAccess: the grants and groups of exactly the users who have them; any other name finds nothing', () => {
    fc.assert(fc.property(worldArb, (w) => {
      const r = resolveAccess(w.users, w.tables);
      const m = model(w);
      assert.deepEqual(keysOf(r.access), [...m.grants.keys()].sort());
      assert.deepEqual(keysOf(r.groups), [...m.groups.keys()].sort());
      for (const n of new Set([...w.users.map((u) => u.name), ...w.groupNames, ...PROBES])) {
        assert.deepEqual(naive(r.access, n), m.grants.get(n), `access[${JSON.stringify(n)}]`);
        assert.deepEqual(naive(r.groups, n), m.groups.get(n), `groups[${JSON.stringify(n)}]`);
      }
    }), { numRuns: 500 });
  });

  test('UsersIndex: grant(), groupsOf() and user() of a prototype name are what the hub DB says, undefined when it says nothing', () => {
    fc.assert(fc.property(worldArb, (w) => {
      const index = new UsersIndex(Buffer.alloc(32));
      index.update(snapshotOf(w.users, w.tables));
      const m = model(w);
      for (const n of new Set([...w.users.map((u) => u.name), ...w.groupNames, ...PROBES])) {
        assert.deepEqual(index.grant(n), m.grants.get(n), `grant(${JSON.stringify(n)})`);
        assert.deepEqual(index.groupsOf(n), m.groups.get(n), `groupsOf(${JSON.stringify(n)})`);
        const row = w.users.find((u) => u.name === n);
        assert.equal(index.user(n)?.id, row?.id, `user(${JSON.stringify(n)})`);
      }
    }), { numRuns: 500 });
  });

  test('decide() and mayAccess() on the index: never throw, and a prototype name decides exactly as an ordinary name in its place', () => {
    const decisions = (w: World, visitor: string, owner: string, server: string, adminAccess: boolean) => {
      const index = new UsersIndex(Buffer.alloc(32));
      index.update(snapshotOf(w.users, w.tables));
      const known = index.user(visitor);
      const identity: Identity = { kind: 'user', name: visitor, id: known?.id ?? -1, source: 'session' };
      const may = mayAccess(index.grant(visitor), owner, server, index.groupsOf(owner), adminAccess);
      const d = decide({
        route: { prefix: `/user/${owner}`, owner, serverName: server },
        identity,
        operator: false,
        grant: visitor !== owner ? index.grant(visitor) : undefined,
        ownerGroups: visitor !== owner ? index.groupsOf(owner) : undefined,
      }, { allowRunningServers: false, adminAccess });
      return { may, d };
    };
    const rename = (w: World): World => ({
      users: w.users.map((u) => ({ ...u, name: renameProto(u.name) })),
      groupNames: w.groupNames.map(renameProto),
      tables: {
        ...w.tables,
        groupNames: new Map([...w.tables.groupNames].map(([id, g]) => [id, renameProto(g)])),
        roles: new Map([...w.tables.roles].map(([id, scopes]) => [id, scopes.map((s) => {
          const m = /^(access:servers!(?:user|group)=)(.+)$/.exec(s);
          if (m) return m[1]! + renameProto(m[2]!);
          const sm = /^access:servers!server=([^/]*)\/(.*)$/.exec(s);
          return sm ? `access:servers!server=${renameProto(sm[1]!)}/${renameProto(sm[2]!)}` : s;
        })])),
      },
    });
    // a route's owner is never '' (decide() takes an empty owner for no owner)
    fc.assert(fc.property(worldArb, nameArb, nameArb.filter((n) => n !== ''), fc.oneof(fc.constant(''), nameArb), fc.boolean(), (w, visitor, owner, server, adminAccess) => {
      const got = decisions(w, visitor, owner, server, adminAccess);
      const ordinary = decisions(rename(w), renameProto(visitor), renameProto(owner), renameProto(server), adminAccess);
      assert.deepEqual(got, ordinary, `${JSON.stringify({ visitor, owner, server })} decides unlike the same world with ordinary names`);
      // and what the hub would say, directly
      const m = model(w);
      const g = m.grants.get(visitor);
      const hub = g !== undefined && (g.all ? adminAccess : g.users.includes(owner) || g.servers.includes(`${owner}/${server}`) || (m.groups.get(owner) ?? []).some((x) => g.groups.includes(x)));
      assert.equal(got.may, hub);
      assert.deepEqual(got.d, visitor === owner || hub ? { action: 'allow' } : { action: 'block', status: 403, reason: 'other-user-server' });
    }), { numRuns: 2000 });
    // nothing known at all: no grant for anyone, whatever the names
    for (const v of PROBES) for (const o of PROBES) assert.equal(mayAccess(undefined, o, '', undefined, true), false, `${v} → ${o}`);
  });

  const baselineUsersArb = fc.uniqueArray(fc.tuple(nameArb, fc.integer({ min: 1, max: 50 })), { selector: ([n]) => n, maxLength: 12 });
  const usersArb = fc.uniqueArray(nameArb, { maxLength: 12 }).chain((names) =>
    fc.shuffledSubarray(Array.from({ length: 60 }, (_, i) => i + 1), { minLength: names.length, maxLength: names.length })
      .map((ids) => names.map((name, i): HubUser => ({ id: ids[i]!, name, admin: false, cookieId: randomBytes(16).toString('hex'), created: null }))));

  test('nextBaseline / checkSnapshot: the baseline holds exactly the names seen; id-changed names exactly the known users whose id moved', () => {
    fc.assert(fc.property(baselineUsersArb, usersArb, fc.integer({ min: 1, max: 100 }), (priorPairs, users, priorHigh) => {
      const prior: Baseline = { highWater: priorHigh, users: Object.fromEntries(priorPairs), updatedAt: 0 };
      // the baseline as hub-guard builds it from a healthy read, and as it reads it back from JSON
      const built = nextBaseline(snapshotOf(priorPairs.map(([name, id]): HubUser => ({ id, name, admin: false, cookieId: null, created: null }))), null);
      const s = snapshotOf(users, undefined, 5);
      for (const baseline of [built, JSON.parse(JSON.stringify(built)) as Baseline, prior]) {
        const known = new Map(priorPairs);
        const expected = users.filter((u) => known.has(u.name) && known.get(u.name) !== u.id).map((u) => u.name);
        const found = checkSnapshot(s, baseline, DEFAULT_CHECK_OPTIONS);
        assert.deepEqual(found.filter((f) => f.check === 'id-changed').flatMap((f) => (f.detail!.changes as { name: string }[]).map((c) => c.name)), expected);
        // the next baseline: names seen before or now, now's id winning; nothing else answers a lookup
        const next = nextBaseline(s, baseline);
        const want = new Map([...priorPairs, ...users.map((u) => [u.name, u.id] as const)]);
        assert.deepEqual(Object.keys(next.users).sort(), [...want.keys()].sort());
        for (const n of new Set([...want.keys(), ...PROBES])) assert.equal(naive(next.users, n), want.get(n), `baseline.users[${JSON.stringify(n)}]`);
        assert.equal(next.highWater, Math.max(baseline.highWater, users.length));
        // a healthy read judged against the baseline it produced changes no id
        assert.deepEqual(checkSnapshot(s, next, DEFAULT_CHECK_OPTIONS).filter((f) => f.check === 'id-changed'), []);
      }
    }), { numRuns: 1000 });
  });

  test("doctor's plan: ids restored for exactly the baseline's users whose id moved; a baseline that never saw a name leaves it alone", () => {
    const distinctSlugs = fc.uniqueArray(nameArb.filter((n) => n !== ''), { selector: lossySlug, maxLength: 10 });
    fc.assert(fc.property(distinctSlugs, fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 10, maxLength: 10 }), fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }), (names, oldIds, knew) => {
      const users = names.map((name, i): HubUser => ({ id: i + 1, name, admin: false, cookieId: randomBytes(16).toString('hex'), created: null }));
      const pairs = names.flatMap((n, i) => (knew[i] ? [[n, oldIds[i]!] as const] : []));
      const known = new Map(pairs);
      // as doctor reads it: from a JSON file
      const baseline: Baseline = { highWater: users.length, users: JSON.parse(JSON.stringify(Object.fromEntries(pairs))), updatedAt: 0 };
      const plan = buildPlan({ engine: 'sqlite', snapshot: snapshotOf(users), baseline, pvcs: null, checks: DEFAULT_CHECK_OPTIONS });
      const moved = users.filter((u, i) => knew[i] && oldIds[i] !== u.id).map((u) => u.name).sort();
      assert.deepEqual(plan.idRestores.map((r) => r.name).sort(), moved);
      assert.ok(plan.idRestores.every((r) => r.source === 'baseline' && r.to === known.get(r.name)));
    }), { numRuns: 500 });
  });
});
