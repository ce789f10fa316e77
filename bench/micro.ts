// Micro-benchmark of the per-request work before forwarding, with 10k users and 10k routes and warm caches:
// identify() + decide() (the "identity + decision"), the whole guard verdict, and their parts.
// Prints one JSON line ({name: ns/op}) with --json, a table otherwise. Run: node dist/bench/micro.js [--json]
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { parseCookies, stripCookies } from '../src/identity/cookies.js';
import { identify, type IdentifyDeps } from '../src/identity/identify.js';
import { Sessions } from '../src/identity/sessions.js';
import { createSignedValue, decodeSignedValue } from '../src/identity/tornado.js';
import { UsersIndex, cookieIdHash, indexKey } from '../src/identity/users-index.js';
import { Assertions } from '../src/identity/assertions.js';
import { decide, type Facts, type GuardState } from '../src/policy/decide.js';
import { buildConfig } from '../src/config.js';
import { RequestContext } from '../src/pipeline/context.js';
import type { PipelineDeps } from '../src/pipeline/deps.js';
import { GrantRefresh } from '../src/pipeline/grant-refresh.js';
import { Visits } from '../src/pipeline/visits.js';
import { WsActivity } from '../src/pipeline/ws-activity.js';
import { decideRequest } from '../src/pipeline/steps/decide.js';
import { identifyCaller } from '../src/pipeline/steps/identify.js';
import { checkOperator } from '../src/pipeline/steps/operator.js';
import { prepare } from '../src/pipeline/steps/prepare.js';
import { ErrorPages } from '../src/proxy/error-pages.js';
import { resolvePath } from '../src/proxy/path.js';
import { RouteTable } from '../src/proxy/route-table.js';
import { TargetConflicts } from '../src/proxy/target-conflicts.js';
import { Maintenance } from '../src/monitor/maintenance.js';
import { MemoryStore } from '../src/state/store.js';
import { browserCookies, type BenchUser } from './hub-fixture.js';

const USERS = 10_000;
const ROUNDS = 3;
const ITERATIONS = 20_000;
const HUB_COOKIE = 'jupyterhub-hub-login';

/** Median ns per call over ROUNDS rounds, after a warm-up round. */
function measure(op: (i: number) => unknown): number {
  const rounds: number[] = [];
  let sink = 0;
  for (let r = -1; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < ITERATIONS; i++) sink += op(i) ? 1 : 0;
    if (r >= 0) rounds.push(Number(process.hrtime.bigint() - start) / ITERATIONS);
  }
  if (sink === 0) throw new Error('the operation returned nothing');
  rounds.sort((a, b) => a - b);
  return rounds[Math.floor(rounds.length / 2)];
}

export async function runMicro(): Promise<Record<string, number>> {
  const users: BenchUser[] = Array.from({ length: USERS }, (_, i) => ({ id: i + 1, name: `u${i}`, cookieId: randomBytes(16).toString('hex') }));
  const secret = randomBytes(32);
  const KEY = indexKey(secret);
  const index = new UsersIndex(KEY);
  index.update({
    takenAt: Date.now(), tables: [], alembicVersion: null, cookieIdConstraint: null, access: new Map(), groups: new Map(), apiTokens: 0,
    users: users.map((u) => ({ id: u.id, name: u.name, admin: false, cookieId: u.cookieId, created: null })),
  });
  const sessions = new Sessions(randomBytes(32), 3600);
  const tokens = await Promise.all(users.map((u) => sessions.mint(u.name, u.id, cookieIdHash(KEY, u.cookieId))));
  const now = Math.floor(Date.now() / 1000);
  const sessionHeaders = users.map((u, i) => ({ cookie: browserCookies(u, tokens[i]), host: '127.0.0.1:8000' }));
  const hubHeaders = users.map((u) => ({ cookie: `_xsrf=2|ab|cd|1; ${HUB_COOKIE}="${createSignedValue(secret, HUB_COOKIE, u.cookieId, now)}"`, host: '127.0.0.1:8000' }));
  const deps0: IdentifyDeps = { secret, maxAgeDays: 14, users: index, sessions };
  // first sight of each session verifies it (async); afterwards identify() answers from the cache
  await Promise.all(sessionHeaders.map((h) => identify(h, deps0)));

  const routes = new RouteTable();
  routes.add('/', { target: 'http://127.0.0.1:1', hub: true });
  for (const u of users) routes.add(`/user/${u.name}`, { target: `http://127.0.0.1:1/${u.name}`, user: u.name, server_name: '' });
  const state: GuardState = { allowRunningServers: false, adminAccess: true };
  const decideFor = (r: ReturnType<typeof identify>, owner: string): unknown => {
    if (r instanceof Promise) throw new Error('cache miss in the measured loop');
    const id = r.identity;
    const facts: Facts = {
      route: { prefix: `/user/${owner}`, owner, serverName: '', sharesTarget: false },
      identity: id, operator: false,
      grant: id.kind === 'user' ? index.grant(id.name) : undefined,
      ownerGroups: index.groupsOf(owner),
    };
    const d = decide(facts, state);
    if (d.action !== 'allow' || id.kind !== 'user') throw new Error(`expected an allowed user, got ${JSON.stringify(d)} for ${JSON.stringify(id)}`);
    return d;
  };

  const store = new MemoryStore();
  const maintenance = new Maintenance(store);
  await maintenance.load();
  const deps: PipelineDeps = {
    cfg: buildConfig([]),
    routes,
    errors: new ErrorPages({}),
    identity: deps0,
    assertions: await Assertions.open(store),
    maintenance,
    conflicts: new TargetConflicts(routes),
    operators: { tokens: ['operator-token-for-the-benchmark'] },
    pages: {},
    report: () => undefined,
    refresh: () => undefined,
    grants: new GrantRefresh(undefined),
    visits: new Visits(index, true),
    wsActivity: new WsActivity(),
    isHub: (route) => route.data.hub === true,
  };
  const socket = { remoteAddress: '127.0.0.1' };
  const contextFor = (i: number): RequestContext => {
    const req = { method: 'GET', url: `/user/u${i}/api/x`, headers: { ...sessionHeaders[i] }, socket } as unknown as IncomingMessage;
    const path = resolvePath(req.url, req.headers.host, false);
    return new RequestContext(req, {} as ServerResponse, undefined, path, routes.match(path.routePath));
  };
  /** Steps 4 to 7 of the request path (identify, operator, decide, prepare), as it runs them for an allowed request. */
  const admit = (ctx: RequestContext): void | Promise<void> => {
    const identified = identifyCaller(ctx, deps);
    if (identified instanceof Promise) return identified.then(() => admit(ctx));
    checkOperator(ctx, deps);
    const d = decideRequest(ctx, deps);
    if (d instanceof Promise || d.action !== 'allow') throw new Error('the request was not allowed at once');
    return prepare(ctx, deps);
  };
  // warm the per-user assertion cache (one ES256 signature per user and route)
  for (let i = 0; i < USERS; i++) await admit(contextFor(i));

  const u = (i: number) => i % USERS;
  const results: Record<string, number> = {
    'identify(session) + decide': measure((i) => decideFor(identify(sessionHeaders[u(i)], deps0), users[u(i)].name)),
    'identify(hub cookie) + decide': measure((i) => decideFor(identify(hubHeaders[u(i)], deps0), users[u(i)].name)),
    'identify → prepare (session, /user/…)': measure((i) => {
      if (admit(contextFor(u(i))) !== undefined) throw new Error('the request was not admitted synchronously');
      return true;
    }),
    '  of which: context (header copy, resolvePath, match)': measure((i) => contextFor(u(i))),
    '  of which: parseCookies (4 cookies)': measure((i) => parseCookies(sessionHeaders[u(i)].cookie).size),
    '  of which: cookieIdHash (HMAC-SHA256)': measure((i) => cookieIdHash(KEY, users[u(i)].cookieId)),
    '  of which: stripCookies': measure((i) => stripCookies(sessionHeaders[u(i)].cookie, (n) => n === 'hub-guard-session')),
    'decodeSignedValue (hub cookie v2)': measure((i) => decodeSignedValue(secret, HUB_COOKIE, hubHeaders[u(i)].cookie.slice(hubHeaders[u(i)].cookie.indexOf('"') + 1, -1), 14)),
  };
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = await runMicro();
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(results));
  } else {
    for (const [name, ns] of Object.entries(results)) console.log(`${name.padEnd(52)} ${(ns / 1000).toFixed(2).padStart(7)} µs`);
  }
}
