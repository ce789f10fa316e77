// Property-based tests (fast-check) over everything a client controls on the identity path: Cookie headers, tornado
// signed values, hub-guard session JWTs and identity-provider JWTs, and the decision built on them. About 100k cases
// in all. Nothing may throw, and no input may name a user other than one whose valid credential it carries.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import type { HubSnapshot, HubUser } from '../../src/hubdb/snapshot.js';
import { parseCookies, stripCookies } from '../../src/identity/cookies.js';
import { identify, type IdentifyDeps } from '../../src/identity/identify.js';
import { HUB_COOKIES } from '../../src/jupyterhub/conventions.js';
import { IdpVerifier } from '../../src/identity/idp.js';
import { SESSION_COOKIE, Sessions } from '../../src/identity/sessions.js';
import { createSignedValue, decodeSignedValue } from '../../src/identity/tornado.js';
import { UsersIndex, cookieIdHash, indexKey } from '../../src/identity/users-index.js';
import { decide, type Facts, type Grant, type GuardState, type Identity } from '../../src/policy/decide.js';
import { scratch, type Scratch } from '../helpers/scratch.js';

const HUB = 'jupyterhub-hub-login';
const SERVICES = 'jupyterhub-services';
const IDP_HEADER = 'x-idp-assertion';
const NAMES = ['alice', 'bob', 'carol', 'john.doe'];

// ---------------------------------------------------------------- mutations

type Mutation = { op: 'replace' | 'insert' | 'delete' | 'truncate' | 'dup' | 'case' | 'splice' | 'segment'; at: number; len: number; text: string; other: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom('replace', 'insert', 'delete', 'truncate', 'dup', 'case', 'splice', 'segment'),
  at: fc.nat(),
  len: fc.integer({ min: 1, max: 8 }),
  text: fc.oneof(fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 4 }), fc.constantFrom('|', '.', '=', '"', ';', '0', 'a', 'A', '-', '_', ' ', '%')),
  other: fc.nat(),
});

/** Credentials of one kind by user name: what mutations splice from. */
type Pool = Record<string, string>;

/**
 * Applies the edits to `pool[user]`. Splices and transplanted segments take material from other users' credentials
 * of the same kind; `ingredients` names every user whose credential went in, the only users the result may still
 * verify as (splicing bob's value onto alice's prefix can rebuild bob's credential, and that is no forgery).
 */
function applyAll(pool: Pool, user: string, ms: Mutation[], sep: string): { value: string; ingredients: Set<string> } {
  const names = Object.keys(pool);
  const ingredients = new Set([user]);
  let s = pool[user]!;
  for (const m of ms) {
    const i = m.at % (s.length + 1);
    const otherName = names[m.other % names.length]!;
    const other = pool[otherName]!;
    switch (m.op) {
      case 'replace': s = s.slice(0, i) + m.text + s.slice(i + m.text.length); break;
      case 'insert': s = s.slice(0, i) + m.text + s.slice(i); break;
      case 'delete': s = s.slice(0, i) + s.slice(i + m.len); break;
      case 'truncate': s = s.slice(0, i); break;
      case 'dup': s = s.slice(0, i) + s.slice(i, i + m.len) + s.slice(i); break;
      case 'case': {
        const c = s.charAt(i);
        s = s.slice(0, i) + (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) + s.slice(i + 1);
        break;
      }
      case 'splice':
        s = s.slice(0, i) + other.slice(i % (other.length + 1));
        ingredients.add(otherName);
        break;
      case 'segment': {
        // a field transplanted from another user's credential, the rest (signature included) left alone
        const mine = s.split(sep);
        const theirs = other.split(sep);
        const k = m.at % mine.length;
        mine[k] = theirs[k % theirs.length]!;
        s = mine.join(sep);
        ingredients.add(otherName);
        break;
      }
    }
  }
  return { value: s, ingredients };
}

// ---------------------------------------------------------------- fixtures

interface World {
  secret: Buffer;
  users: HubUser[];
  deps: IdentifyDeps;
  sessions: Sessions;
  idp: IdpVerifier;
  /** Valid credentials per user name. */
  hub: Record<string, string>;
  hubV1: Record<string, string>;
  services: Record<string, string>;
  session: Record<string, string>;
  idpToken: Record<string, string>;
  /** An IdP token for bob signed with a key the IdP's JWKS does not hold, and an unsigned one. */
  forgedIdp: string[];
}

async function makeWorld(dir: string): Promise<World> {
  const secret = randomBytes(32);
  const KEY = indexKey(secret);
  const users: HubUser[] = NAMES.map((name, i) => ({ id: i + 1, name, admin: false, cookieId: randomBytes(16).toString('hex'), created: null }));
  const index = new UsersIndex(KEY);
  const snapshot: HubSnapshot = { takenAt: Date.now(), tables: ['users'], alembicVersion: '651f5419b74d', users, cookieIdConstraint: { notNull: true, unique: true }, access: new Map(), groups: new Map(), apiTokens: 0 };
  index.update(snapshot);
  const sessions = new Sessions(randomBytes(32), 3600);

  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
  const idp = new IdpVerifier({ header: IDP_HEADER, jwksFile, issuer: 'https://idp.test', audience: 'hub', usernameClaim: 'email' });
  const idpJwt = (key: CryptoKey | Uint8Array, alg: string, email: string) => new SignJWT({ email })
    .setProtectedHeader({ alg, kid: 'k1' }).setIssuer('https://idp.test').setAudience('hub').setIssuedAt().setExpirationTime('1h').sign(key);

  const now = Date.now() / 1000 - 10;
  const w: World = {
    secret, users, sessions, idp,
    deps: { secret, maxAgeDays: 14, users: index, sessions, idp },
    hub: {}, hubV1: {}, services: {}, session: {}, idpToken: {},
    forgedIdp: [],
  };
  for (const u of users) {
    w.hub[u.name] = createSignedValue(secret, HUB, u.cookieId!, now);
    w.hubV1[u.name] = createSignedValue(secret, HUB, u.cookieId!, now, 1);
    w.services[u.name] = createSignedValue(secret, SERVICES, u.cookieId!, now);
    w.session[u.name] = await sessions.mint(u.name, u.id, cookieIdHash(KEY, u.cookieId!));
    w.idpToken[u.name] = await idpJwt(privateKey, 'ES256', `${u.name}@example.org`);
  }
  const other = await generateKeyPair('ES256');
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  w.forgedIdp = [
    await idpJwt(other.privateKey, 'ES256', 'bob@example.org'),
    `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ email: 'bob@example.org', iss: 'https://idp.test', aud: 'hub', exp: 4102444800 })}.`,
    // HS256 keyed with the public key's JSON: the algorithm-confusion trick
    await idpJwt(new TextEncoder().encode(JSON.stringify(await exportJWK(publicKey))), 'HS256', 'bob@example.org'),
  ];
  return w;
}

// ---------------------------------------------------------------- what a request carries

type Kind = 'hub' | 'hubV1' | 'services' | 'session';
interface Credential { kind: Kind; user: string; mutations: Mutation[]; quoted: boolean }
type Part = { cred: Credential } | { garbage: [string, string] } | { raw: string };

const credentialArb = fc.record({
  kind: fc.constantFrom<Kind>('hub', 'hubV1', 'services', 'session'),
  user: fc.constantFrom(...NAMES),
  // half of them untouched, so valid credentials meet each other and the garbage
  mutations: fc.oneof(fc.constant([] as Mutation[]), fc.array(mutationArb, { minLength: 1, maxLength: 3 })),
  quoted: fc.boolean(),
});

const cookieNameArb = fc.constantFrom(HUB, SERVICES, SESSION_COOKIE, 'jupyterhub-session-id', 'JupyterHub-Hub-Login', ` ${HUB}`, 'jupyterhub-user-bob', '_xsrf', 'path', '');
const partArb: fc.Arbitrary<Part> = fc.oneof(
  { weight: 4, arbitrary: credentialArb.map((cred) => ({ cred })) },
  { weight: 2, arbitrary: fc.tuple(cookieNameArb, fc.string({ unit: 'binary-ascii', maxLength: 40 })).map((garbage) => ({ garbage })) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }).map((raw) => ({ raw })) },
);

interface IdpPart { user?: string; mutations: Mutation[]; forged?: number; junk?: string }
const idpArb: fc.Arbitrary<IdpPart | undefined> = fc.option(fc.oneof(
  fc.record({ user: fc.constantFrom(...NAMES), mutations: fc.oneof(fc.constant([] as Mutation[]), fc.array(mutationArb, { minLength: 1, maxLength: 2 })) }),
  fc.record({ forged: fc.nat(), mutations: fc.constant([] as Mutation[]) }),
  fc.record({ junk: fc.array(fc.string({ unit: 'binary-ascii', maxLength: 20 }), { minLength: 3, maxLength: 3 }).map((a) => a.join('.')), mutations: fc.constant([] as Mutation[]) }),
), { freq: 3 });

const cookieName = (k: Kind) => (k === 'services' ? SERVICES : k === 'session' ? SESSION_COOKIE : HUB);

/**
 * The cookie (`name=value`, the value mutated as drawn and maybe quoted), and the user it names on its own if it
 * verifies at all. Quoting has escapes (`"\2…"` is `2…`), so the value checked is the one the cookie parser (itself
 * checked against tornado below) hands on.
 */
async function realise(w: World, c: Credential): Promise<{ piece: string; value: string; ingredients: Set<string>; owner?: string }> {
  const pool = c.kind === 'hub' ? w.hub : c.kind === 'hubV1' ? w.hubV1 : c.kind === 'services' ? w.services : w.session;
  const mutated = applyAll(pool, c.user, c.mutations, c.kind === 'session' ? '.' : '|');
  const ingredients = mutated.ingredients;
  const piece = `${cookieName(c.kind)}=${c.quoted ? `"${mutated.value}"` : mutated.value}`;
  const value = parseCookies(piece).get(cookieName(c.kind)) ?? mutated.value;
  let owner: string | undefined;
  if (c.kind === 'session') {
    const claims = await w.sessions.verify(value);
    owner = claims ? claims.name : undefined;
  } else {
    const cid = decodeSignedValue(w.secret, cookieName(c.kind), value, 14)?.toString('utf8');
    owner = w.users.find((u) => u.cookieId === cid)?.name;
  }
  return { piece, value, ingredients, owner };
}

// ---------------------------------------------------------------- the properties

describe('identity input fuzzing (fast-check)', () => {
  let tmp: Scratch;
  let w: World;
  before(async () => {
    tmp = scratch();
    w = await makeWorld(tmp.dir);
  });
  after(() => tmp?.remove());

  test('parseCookies and stripCookies never throw; stripping drops exactly the named cookies (25k cases)', () => {
    const token = fc.oneof(
      fc.constantFrom(';', '=', '"', '\\', ' ', '\t', '\u00a0', '\u2028', ',', HUB, SESSION_COOKIE, 'jupyterhub-user-bob', 'a', 'b', 'path', '\\073', '\\"'),
      fc.string({ unit: 'binary', maxLength: 6 }),
    );
    const header = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.array(token, { maxLength: 40 }).map((a) => a.join('')));
    fc.assert(fc.property(header, fc.array(fc.constantFrom(HUB, SERVICES, SESSION_COOKIE, 'a', 'b', 'jupyterhub-user-bob', 'path'), { maxLength: 4 }), (h, names) => {
      const parsed = parseCookies(h);
      for (const [k, v] of parsed) assert.ok(typeof k === 'string' && k !== '' && typeof v === 'string');
      const drop = new Set<string>(names);
      const kept = stripCookies(h, (n) => drop.has(n));
      const expected = new Map([...parsed].filter(([k]) => !drop.has(k)));
      assert.deepEqual(parseCookies(kept ?? ''), expected);
    }), { numRuns: 25_000 });
  });

  test('decodeSignedValue: mutated valid values never verify as anything but the original (20k cases)', () => {
    const names = Object.keys(w.hub);
    fc.assert(fc.property(fc.constantFrom(...names), fc.boolean(), fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (user, v1, ms) => {
      const { value: mutated, ingredients } = applyAll(v1 ? w.hubV1 : w.hub, user, ms, '|');
      const got = decodeSignedValue(w.secret, HUB, mutated, 14);
      const owner = got === null ? undefined : w.users.find((u) => u.cookieId === got.toString('utf8'))?.name;
      assert.ok(got === null || (owner !== undefined && ingredients.has(owner)), `${JSON.stringify(mutated)} decoded to ${got?.toString('utf8')}`);
      // a value never verifies under another cookie's name
      assert.equal(decodeSignedValue(w.secret, SERVICES, mutated, 14), null);
    }), { numRuns: 15_000 });
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.constantFrom(HUB, SERVICES, ''), (s, name) => {
      assert.equal(decodeSignedValue(w.secret, name, s, 14), null);
    }), { numRuns: 5_000 });
  });

  test('identify(): never throws, and never names a user whose valid credential the request does not carry (40k cases)', async () => {
    const problems = new Set(['cookie-id-empty', 'cookie-id-malformed', 'cookie-id-shared', 'identity-conflict']);
    await fc.assert(fc.asyncProperty(
      fc.array(partArb, { maxLength: 6 }),
      fc.constantFrom('; ', ';', ' ; ', ';;', ';\t'),
      idpArb,
      async (parts, sep, idpPart) => {
        const named = new Set<string>();
        const pieces: string[] = [];
        for (const p of parts) {
          if ('cred' in p) {
            const r = await realise(w, p.cred);
            // a mutation may leave a credential valid (a base64 character with unused bits), never make it someone else's
            if (r.owner !== undefined) assert.ok(r.ingredients.has(r.owner), `a mutated ${p.cred.kind} of ${p.cred.user} verifies as ${r.owner}: ${r.value}`);
            if (r.owner) named.add(r.owner);
            pieces.push(r.piece);
          } else if ('garbage' in p) {
            pieces.push(`${p.garbage[0]}=${p.garbage[1]}`);
          } else {
            pieces.push(p.raw);
          }
        }
        const headers: Record<string, string> = { cookie: pieces.join(sep) };
        if (idpPart) {
          let token: string;
          let ingredients = new Set<string>();
          if (idpPart.user) ({ value: token, ingredients } = applyAll(w.idpToken, idpPart.user, idpPart.mutations, '.'));
          else if (idpPart.forged !== undefined) token = w.forgedIdp[idpPart.forged % w.forgedIdp.length]!;
          else token = idpPart.junk!;
          headers[IDP_HEADER] = token;
          const alone = await w.idp.verify(token);
          if (alone !== null) {
            assert.ok(ingredients.has(alone), `IdP token ${token} verifies as ${alone}`);
            named.add(alone);
          }
        }
        const r = await identify(headers, w.deps);
        const id = r.identity;
        if (id.kind === 'user') assert.ok(named.has(id.name), `identified as ${id.name} (${id.source}) from ${JSON.stringify(headers).slice(0, 400)}; valid credentials: ${[...named].join(', ') || 'none'}`);
        else if (id.kind === 'problem') assert.ok(problems.has(id.reason));
        else assert.equal(id.kind, 'anonymous');
        if (r.mintFor) assert.ok(named.has(r.mintFor.name), `would mint a session for ${r.mintFor.name}`);
      },
    ), { numRuns: 40_000 });
  });

  test('identify(): headers of any shape never throw (5k cases)', async () => {
    const value = fc.oneof(fc.string({ unit: 'binary', maxLength: 100 }), fc.array(fc.string({ unit: 'binary-ascii', maxLength: 30 }), { maxLength: 3 }));
    await fc.assert(fc.asyncProperty(fc.dictionary(fc.constantFrom('cookie', IDP_HEADER, 'authorization', 'x-forwarded-proto', 'host'), value), async (headers) => {
      const r = await identify(headers as Record<string, string>, w.deps);
      assert.ok(['anonymous', 'user', 'problem'].includes(r.identity.kind));
      if (r.identity.kind === 'user') assert.fail(`random headers identified ${r.identity.name}`);
    }), { numRuns: 5_000 });
  });

  test('decide(): no identified user is allowed onto another user\'s server without a grant (10k cases)', () => {
    const name = fc.constantFrom(...NAMES, 'mallory');
    const identityArb: fc.Arbitrary<Identity> = fc.oneof(
      fc.constant({ kind: 'anonymous' } as Identity),
      fc.record({ kind: fc.constant('user' as const), name, id: fc.integer({ min: -1, max: 10 }), source: fc.constantFrom('hub-cookie' as const, 'session' as const, 'idp' as const) }),
      fc.record({ kind: fc.constant('problem' as const), reason: fc.constantFrom('cookie-id-empty' as const, 'cookie-id-malformed' as const, 'cookie-id-shared' as const, 'identity-conflict' as const) }),
    );
    const grantArb: fc.Arbitrary<Grant | undefined> = fc.option(fc.record({
      all: fc.boolean(),
      users: fc.subarray([...NAMES, 'mallory']),
      groups: fc.subarray(['g1', 'g2']),
      servers: fc.subarray(NAMES.flatMap((n) => [`${n}/`, `${n}/gpu`])),
    }));
    const factsArb = fc.record({
      route: fc.option(fc.record({ prefix: fc.constant('/user/x'), owner: fc.option(name, { nil: undefined }), serverName: fc.constantFrom(undefined, '', 'gpu'), sharesTarget: fc.boolean() }), { nil: undefined }),
      identity: identityArb,
      operator: fc.boolean(),
      grant: grantArb.map((g) => g ?? undefined),
      ownerGroups: fc.option(fc.subarray(['g1', 'g2']), { nil: undefined }),
    });
    const stateArb: fc.Arbitrary<GuardState> = fc.record({
      maintenance: fc.option(fc.record({ reason: fc.constant('r'), mode: fc.constantFrom('manual' as const, 'auto' as const) }), { nil: undefined }),
      allowRunningServers: fc.boolean(),
      adminAccess: fc.boolean(),
    });
    fc.assert(fc.property(factsArb, stateArb, (f: Facts, s) => {
      const d = decide(f, s);
      const id = f.identity;
      const owner = f.route?.owner;
      if (d.action !== 'allow') return;
      assert.ok(id.kind !== 'problem', 'an identity problem was allowed');
      assert.ok(!s.maintenance || f.operator || (s.allowRunningServers && id.kind === 'user' && owner === id.name), 'maintenance let a request through');
      assert.ok(!(owner !== undefined && f.route?.sharesTarget), 'a route sharing its target was allowed');
      if (id.kind === 'user' && owner !== undefined && owner !== id.name) {
        const g = f.grant;
        assert.ok(g, `${id.name} allowed onto ${owner}'s server without any grant`);
        const granted = (g.all && s.adminAccess) || g.users.includes(owner) || g.servers.includes(`${owner}/${f.route?.serverName ?? ''}`)
          || (f.ownerGroups ?? []).some((x) => g.groups.includes(x));
        assert.ok(granted, `${id.name} allowed onto ${owner}'s server by ${JSON.stringify(g)} (adminAccess ${s.adminAccess})`);
      }
    }), { numRuns: 10_000 });
  });

  // tornado is what the hub and the user servers run: what hub-guard strips must be gone for tornado too, and the
  // cookies hub-guard reads must be the ones tornado reads
  test('parseCookies agrees with tornado 6.2, and stripped cookies are gone for tornado too (5k cases)', async () => {
    const token = fc.oneof(
      fc.constantFrom(';', '=', '"', '\\', ' ', '\t', '\u00a0', ',', HUB, SESSION_COOKIE, 'jupyterhub-user-bob', 'a', 'path', '\\073', '\\"', '\\\\', '$', 'Max-Age'),
      fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 6 }),
    );
    const headers = fc.sample(fc.array(token, { maxLength: 30 }).map((a) => a.join('')), { numRuns: 5_000, seed: 42 });
    const drop = (n: string) => HUB_COOKIES.includes(n) || n === SESSION_COOKIE;
    const stripped = headers.map((h) => stripCookies(h, drop) ?? '');
    const script = String.raw`
import http.cookies, json, sys
from tornado.httputil import parse_cookie
def cookies(h):
    jar = http.cookies.SimpleCookie()
    try:
        parsed = parse_cookie(h)
    except Exception:
        return None
    for k, v in parsed.items():
        try:
            jar[k] = v
        except Exception:
            pass
    return {k: m.value for k, m in jar.items()}
print(json.dumps([cookies(h) for h in json.load(sys.stdin)]))
`;
    const py = (input: string[]) => new Promise<Array<Record<string, string> | null>>((resolve, reject) => {
      const child = execFile('/usr/bin/python3', ['-c', script], { maxBuffer: 64 << 20, timeout: 60_000 }, (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout))));
      child.stdin!.end(JSON.stringify(input));
    });
    const [before, after] = [await py(headers), await py(stripped)];
    const differ: string[] = [];
    headers.forEach((h, i) => {
      const ours = Object.fromEntries(parseCookies(h));
      if (before[i] !== null && JSON.stringify(Object.entries(ours).sort()) !== JSON.stringify(Object.entries(before[i]!).sort())) differ.push(`${JSON.stringify(h)}: hub-guard ${JSON.stringify(ours)} tornado ${JSON.stringify(before[i])}`);
      const leaked = Object.keys(after[i] ?? {}).filter(drop);
      assert.deepEqual(leaked, [], `${JSON.stringify(h)} stripped to ${JSON.stringify(stripped[i])}, which tornado reads as ${JSON.stringify(after[i])}`);
    });
    assert.deepEqual(differ.slice(0, 5), [], `${differ.length} headers parsed differently`);
  });
});
