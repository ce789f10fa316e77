// Front mode, differentially: hub-guard in front of each configurable-http-proxy a site may keep (5.3 from npm,
// Debian's 4.5.3), which parses the forwarded target again. Every path trick of the hardening suites, the resolver's
// unit inputs and the forms that once led alice to bob's server (CHP 5 reads `//x` as a host, CHP 4 trims leading
// slashes, both drop `#…`) is sent as raw bytes; each is refused before any server sees it, or answered by exactly
// the server an independent reading of the request as sent names, and never by one of bob's while alice asks.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startBackend, type Backend } from '../helpers/backend.js';
import { eventually } from '../helpers/eventually.js';
import { addRoute, proxied, startProxy, type Impl, type RunningProxy } from '../helpers/proxies.js';
import { BOBS, checkPathCase, HOST_CASES, HUB_LAYOUT, ownerOf, PATH_CASES, type Case, type PathSetup } from '../helpers/path-cases.js';

/** The request targets of test/proxy/path.test.ts that PATH_CASES does not have. */
const RESOLVER_INPUTS = [
  '/user/alice/tree?x=1', '/user/ali%63e/', '/user/jane%20doe/', '/user/alice/../bob/tree', '/user/alice/%2e%2e/bob/x',
  '/user/alice/./x', '/user\\bob/', '//user/bob', '//evil.example/x', 'http://example.org/user/a?q', '/user/%E0%A4%A',
  '/user/a%00b', 'ftp://x/y', '/x', '/user/alice%2F..%2Fbob/tree', '/user/alice/..%2Fbob/tree',
  '/user/bob/%2e%2e%2Falice/tree', '/user/a%2F.%2Fb', '/user/alice/dir%2Ffile',
];

/** Targets hub-guard read as the hub's (or alice's) while the CHP behind it delivered them to bob. */
const ATTACKS = [
  '//user/user/bob/x', '/user/bob#x', 'http://h//user/user/bob/', '/\\x/user/bob/', '//user/bob/', '///user/bob/',
  '/.//user/bob/', '/\\user/bob/', '/x/..//user/user/bob/', '/%2Fuser/bob/', '/%2F%2Fuser/bob/',
];

const ABSOLUTE = /^https?:\/\/[^/?#]*/i;

/** The path of a target as sent, without the scheme and authority of absolute-form. */
function pathOf(target: string): string {
  const m = ABSOLUTE.exec(target);
  return m ? target.slice(m[0].length) || '/' : target;
}

/**
 * What front mode refuses, read from the target as sent: a `#`, a `\` or an empty segment (literal or
 * percent-encoded) in the path, which a proxy behind could read differently.
 */
function frontRefuses(target: string): boolean {
  const path = pathOf(target).split('?')[0]!;
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // malformed escapes are refused in any mode
  }
  return target.includes('#') || path.includes('\\') || decoded.includes('//');
}

/** A case as front mode must answer it for alice: stricter than hub-guard routing itself, never looser. */
function inFront(c: Case): Case {
  return c.expect !== undefined && c.expect !== 'refused' && frontRefuses(c.target) ? { ...c, expect: 'refused' } : c;
}

const H = '127.0.0.1';
const CASES: Case[] = [
  ...PATH_CASES.map(inFront),
  // their Host headers are route keys only under --host-routing, so what they expect there does not apply here
  ...HOST_CASES.map((c) => ({ ...c, expect: undefined })),
  ...RESOLVER_INPUTS.map((target) => ({ target })),
  ...ATTACKS.flatMap((target) => [{ target, expect: 'refused' }, { target, upgrade: true, expect: 'refused' }]),
  // what front mode still delivers, and delivers normalised
  { target: '/user/bob/../alice/tree?x=/user/bob/', expect: 'alice' },
  { target: '/user/alice/./gpu/lab', expect: 'alice-gpu' },
  { target: 'http://h/user/alice/../alice/gpu/', expect: 'alice-gpu' },
  { target: '/jhub/user/alice/api/kernels/k/channels', upgrade: true, expect: 'jhub-alice' },
  { target: '/user/alice/x/../api/kernels/k/channels', upgrade: true, expect: 'alice' },
];

const CHPS: Array<[Impl, string]> = [
  ['chp', 'in front of configurable-http-proxy 5.3 (npm)'],
  ['chp4', "in front of Debian's configurable-http-proxy 4.5.3"],
];

describe('front mode: the upstream proxy delivers what hub-guard decided, or nothing', () => {
  const backends: Record<string, Backend> = {};
  let dir: string;
  let alice: string;
  let jwks: string;
  const table = new Map(HUB_LAYOUT.map(([prefix, name]) => [prefix, name]));

  before(async () => {
    for (const [, name] of HUB_LAYOUT) backends[name] = await startBackend({ name });
    // an identity provider's keys, so alice is identified without a hub database
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    dir = mkdtempSync(join(tmpdir(), 'hg-front-paths-'));
    jwks = join(dir, 'jwks.json');
    writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] }));
    alice = await new SignJWT({ email: 'alice@example.org' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuedAt().setExpirationTime('30m').sign(privateKey);
  });

  after(async () => {
    await Promise.all(Object.values(backends).map((b) => b.stop()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const [impl, title] of CHPS) {
    describe(title, () => {
      let chp: RunningProxy;
      let guard: RunningProxy;
      let s: PathSetup;

      before(async () => {
        chp = await startProxy(impl);
        for (const [prefix, name, data] of HUB_LAYOUT) await addRoute(chp, prefix, { ...data, jupyterhub: true, target: backends[name]!.url });
        guard = await startProxy('hub-guard', [
          '--upstream', chp.url, '--upstream-api', chp.apiUrl, '--upstream-poll-interval', '0.2',
          '--identity-header', 'X-Id', '--jwks-file', jwks,
        ], { HUB_GUARD_UPSTREAM_TOKEN: chp.token });
        await eventually('hub-guard to learn the upstream routes', async () => {
          const r = await proxied(guard, 'GET', '/jhub/user/bob/', { headers: { 'x-id': alice } });
          return r.status === 403 ? true : undefined;
        });
        s = {
          port: guard.port,
          servers: Object.values(backends),
          table,
          hubs: new Set(HUB_LAYOUT.filter(([, , data]) => data.hub === true).map(([, name]) => name)),
          hostRouting: false,
          decided: (c) => ownerOf(table, pathOf(c.target), undefined, false),
        };
      });

      after(async () => {
        await guard?.stop();
        await chp?.stop();
      });

      test("as alice: refused, or answered by the server hub-guard decided for, never one of bob's", async () => {
        const seen = new Map(BOBS.map((b) => [b, backends[b]!.seen.length]));
        for (const c of CASES) await checkPathCase(s, { host: H, ...c }, `X-Id: ${alice}`, BOBS);
        for (const b of BOBS) assert.equal(backends[b]!.seen.length, seen.get(b), `${b} saw ${backends[b]!.seen.slice(seen.get(b)).map((x) => x.url).join(', ')}`);
      });

      test('anonymous: refused, or answered by the server hub-guard decided for', async () => {
        for (const c of CASES) await checkPathCase(s, { host: H, ...c, expect: frontRefuses(c.target) ? 'refused' : undefined }, undefined, []);
      });
    });
  }
});
