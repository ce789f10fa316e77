// The path and Host tricks of the hardening suites, and an independent view of which server a path belongs to, shared by
// test/hardening/paths.test.ts (hub-guard routing itself) and test/hardening/front-paths.test.ts (in front of CHP),
// and checkPathCase, which sends one case and checks where it went.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { raw } from './raw.js';

// ---------------------------------------------------------------- an independent view of where a path belongs

/** RFC 3986 remove_dot_segments, with `%2e` counted as a dot the way WHATWG URL parsing does. */
function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segs = path.split('/').slice(1);
  segs.forEach((seg, i) => {
    const s = seg.replace(/%2e/gi, '.');
    const last = i === segs.length - 1;
    if (s === '.') {
      if (last) out.push('');
    } else if (s === '..') {
      if (out.length) out.pop();
      if (last) out.push('');
    } else {
      out.push(seg);
    }
  });
  return `/${out.join('/')}`;
}

/** Longest whole-segment prefix in `table` (keys without trailing slash); empty segments match nothing. */
function longestPrefix(table: Map<string, string>, path: string): string {
  const segs = path.split('/').slice(1);
  let best = table.get('/')!;
  let key = '';
  for (const seg of segs) {
    if (seg === '') break;
    key += `/${seg}`;
    const hit = table.get(key);
    if (hit) best = hit;
  }
  return best;
}

/**
 * The upstream a received request belongs to, read the way a server behind the proxy would (backslashes as
 * slashes, dot segments, one decoding), or 'ambiguous' when that reading could name another server.
 */
export function ownerOf(table: Map<string, string>, url: string, host: string | undefined, hostRouting: boolean): string {
  if (!url.startsWith('/')) return 'ambiguous';
  let path = url.split(/[?#]/)[0]!.replace(/\\/g, '/');
  path = removeDotSegments(path);
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return 'ambiguous';
  }
  if (decoded.includes('\0') || decoded.split('/').some((s) => s === '.' || s === '..')) return 'ambiguous';
  // the authority's host is everything before the port's colon (a Host header has no user info)
  const rawHost = host ?? '';
  const end = rawHost.startsWith('[') ? rawHost.indexOf(']') + 1 : rawHost.indexOf(':');
  const h = (end > 0 ? rawHost.slice(0, end) : rawHost).toLowerCase();
  return longestPrefix(table, hostRouting ? `/${h}${decoded}` : decoded);
}

// ---------------------------------------------------------------- the cases

export interface Case {
  /** The request target, byte for byte. */
  target: string;
  host?: string;
  /** Extra header lines. */
  extra?: string[];
  /** 'refused' (a 4xx before any upstream) or the upstream that must answer. */
  expect?: string;
  /** HTTP version of the request line (default 1.1). */
  version?: string;
  upgrade?: boolean;
}

export const WS_HEADERS = ['Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`];

/** The hub at / and at /jhub (base_url), users alice and bob, alice and bob with a named server `gpu`. */
export const HUB_LAYOUT: Array<[prefix: string, server: string, data: Record<string, unknown>]> = [
  ['/', 'hub', { hub: true }],
  ['/user/alice', 'alice', { user: 'alice', server_name: '' }],
  ['/user/alice/gpu', 'alice-gpu', { user: 'alice', server_name: 'gpu' }],
  ['/user/bob', 'bob', { user: 'bob', server_name: '' }],
  ['/user/bob/gpu', 'bob-gpu', { user: 'bob', server_name: 'gpu' }],
  ['/jhub', 'jhub-hub', { hub: true }],
  ['/jhub/user/alice', 'jhub-alice', { user: 'alice', server_name: '' }],
  ['/jhub/user/bob', 'jhub-bob', { user: 'bob', server_name: '' }],
];

/** Servers of bob's in HUB_LAYOUT. */
export const BOBS = ['bob', 'bob-gpu', 'jhub-bob'];

/** Tricks against HUB_LAYOUT; `expect` is what hub-guard routing by itself does with them as alice. */
export const PATH_CASES: Case[] = [
  // sanity: the plain routes
  { target: '/user/alice/tree', expect: 'alice' },
  { target: '/user/bob/tree', expect: 'refused' },
  { target: '/user/bob', expect: 'refused' },
  { target: '/hub/home', expect: 'hub' },
  // dot segments, literal and encoded, in any letter case
  { target: '/user/alice/../bob/', expect: 'refused' },
  { target: '/user/alice/../bob/api/contents', expect: 'refused' },
  { target: '/user/alice/%2e%2e/bob/', expect: 'refused' },
  { target: '/user/alice/%2E%2E/bob/', expect: 'refused' },
  { target: '/user/alice/.%2E/bob/', expect: 'refused' },
  { target: '/user/alice/%2e./bob/', expect: 'refused' },
  { target: '/user/alice/./../bob/', expect: 'refused' },
  { target: '/user/alice/../../user/bob/', expect: 'refused' },
  { target: '/user/alice/../../../../../user/bob/', expect: 'refused' },
  { target: '/./user/bob/', expect: 'refused' },
  { target: '/user/./bob/', expect: 'refused' },
  { target: '/user/bob/../alice/', expect: 'alice' },
  { target: '/user/bob/gpu/../../alice/x', expect: 'alice' },
  // encoded slashes: never a dot segment hiding behind them
  { target: '/user/alice%2F..%2Fbob/', expect: 'refused' },
  { target: '/user/alice%2f..%2fbob/', expect: 'refused' },
  { target: '/user/alice/..%2Fbob/', expect: 'refused' },
  { target: '/user/alice/%2e%2e%2fbob/', expect: 'refused' },
  { target: '/user%2Fbob/', expect: 'refused' },
  { target: '/user%2Fbob%2Ftree', expect: 'refused' },
  { target: '/user/bob%2Fgpu/', expect: 'refused' },
  { target: '/user%2Falice%2Ftree' },
  // backslashes are slashes to browsers and to WHATWG URL parsing
  { target: '/user/alice\\..\\bob/', expect: 'refused' },
  { target: '/user/bob\\..\\alice/', expect: 'alice' },
  { target: '/user/alice/..%5Cbob/' },
  // doubled slashes and case: CHP-compatible matching sends these to the hub, never to bob
  { target: '//user/bob/', expect: 'hub' },
  { target: '///user/bob/', expect: 'hub' },
  { target: '/user//bob/', expect: 'hub' },
  { target: '/USER/BOB/', expect: 'hub' },
  { target: '/user/Bob/', expect: 'hub' },
  { target: '/user/BOB/tree', expect: 'hub' },
  { target: `/user/alice${'/'.repeat(2000)}../bob/` },
  // percent-encoded names, double encoding, overlong UTF-8, look-alikes
  { target: '/user/%62ob/', expect: 'refused' },
  { target: '/user/%61lice/', expect: 'alice' },
  { target: '/user/%2562ob/', expect: 'hub' },
  { target: '/user/%c0%ae%c0%ae/bob/', expect: 'refused' },
  { target: '/user/bob%E2%80%8B/', expect: 'hub' },
  { target: '/user/%EF%BD%82%EF%BD%8F%EF%BD%82/', expect: 'hub' },
  { target: '/user/bob;x=1/', expect: 'hub' },
  { target: '/user/alice/..;/bob/' },
  { target: '/user/alice%ZZ/', expect: 'refused' },
  // NUL and control characters
  { target: '/user/bob%00/', expect: 'refused' },
  { target: '/user/alice%00/../bob/', expect: 'refused' },
  { target: '/user/alice/%00/../../bob/', expect: 'refused' },
  { target: '/user/alice/%0d%0aHost:%20bob/' },
  // queries and fragments do not route
  { target: '/user/alice/?next=/user/bob/', expect: 'alice' },
  { target: '/user/alice?/../bob/', expect: 'alice' },
  { target: '/user/alice/?x=%2F..%2F..%2Fuser%2Fbob', expect: 'alice' },
  { target: '/user/alice/x#/../../bob/' },
  // absolute-form request lines
  { target: 'http://127.0.0.1/user/bob/', expect: 'refused' },
  { target: 'http://127.0.0.1/user/alice/../bob/', expect: 'refused' },
  { target: 'http://evil.example/user/alice/', expect: 'alice' },
  { target: 'ftp://127.0.0.1/user/alice/', expect: 'refused' },
  { target: '*', expect: 'refused' },
  // overlong paths: refused outright, or normalised like any other
  { target: `/user/alice/${'a'.repeat(64 * 1024)}`, expect: 'refused' },
  { target: `/user/bob/${'a'.repeat(64 * 1024)}`, expect: 'refused' },
  { target: `/user/alice/${'../'.repeat(3000)}user/bob/`, expect: 'refused' },
  { target: `/user/alice/${'x/'.repeat(3000)}`, expect: 'alice' },
  // named servers: the longest prefix is the server, the owner decides
  { target: '/user/bob/gpu/', expect: 'refused' },
  { target: '/user/bob/gpu2/', expect: 'refused' },
  { target: '/user/alice/gpu/lab', expect: 'alice-gpu' },
  { target: '/user/alice/gpu2/lab', expect: 'alice' },
  { target: '/user/alice/gpu/../../bob/gpu/', expect: 'refused' },
  { target: '/user/alice/gpu%2F..%2F..%2Fbob%2Fgpu/', expect: 'refused' },
  // base_url /jhub/
  { target: '/jhub/user/alice/tree', expect: 'jhub-alice' },
  { target: '/jhub/user/bob/tree', expect: 'refused' },
  { target: '/jhub/user/alice/../bob/', expect: 'refused' },
  { target: '/jhub/user/alice/%2e%2e/bob/', expect: 'refused' },
  { target: '/jhub/../user/bob/', expect: 'refused' },
  { target: '/jhub/hub/../user/bob/', expect: 'refused' },
  { target: '/jhub%2Fuser%2Fbob/', expect: 'refused' },
  { target: '/jhub//user/bob/', expect: 'jhub-hub' },
  { target: '/JHUB/user/bob/', expect: 'hub' },
  { target: '/jhub/user/Bob/', expect: 'jhub-hub' },
  // websocket upgrades go through the same path handling
  { target: '/user/alice/../bob/api/kernels/k/channels', upgrade: true, expect: 'refused' },
  { target: '/user/alice%2F..%2Fbob/api/kernels/k/channels', upgrade: true, expect: 'refused' },
  { target: '/user/bob/gpu/api/kernels/k/channels', upgrade: true, expect: 'refused' },
  { target: '/user/alice/api/kernels/k/channels', upgrade: true, expect: 'alice' },
];

/**
 * Host tricks against `/`, `/alice.hub.test/user/alice` and `/bob.hub.test/user/bob` under --host-routing;
 * `expect` is for alice.
 */
export const HOST_CASES: Case[] = [
  { target: '/user/alice/tree', host: 'alice.hub.test', expect: 'alice' },
  { target: '/user/bob/tree', host: 'bob.hub.test', expect: 'refused' },
  { target: '/user/bob/tree', host: 'bob.hub.test:8000', expect: 'refused' },
  { target: '/user/bob/tree', host: 'BOB.HUB.TEST', expect: 'refused' },
  { target: '/user/bob/tree', host: 'Bob.Hub.Test:80', expect: 'refused' },
  { target: '/user/bob/tree', host: 'bob.hub.test.', expect: 'hub' },
  { target: '/user/bob/tree', host: 'bob.hub.test:80:alice.hub.test', expect: 'refused' },
  { target: '/user/bob/tree', host: 'alice.hub.test@bob.hub.test', expect: 'refused' },
  { target: '/user/bob/tree', host: 'alice.hub.test, bob.hub.test', expect: 'refused' },
  { target: '/user/bob/tree', host: '[::1]', expect: 'hub' },
  { target: '/user/bob/tree', host: '', expect: 'hub' },
  { target: '/user/alice/../bob/tree', host: 'alice.hub.test', expect: 'hub' },
  { target: '/user/alice/tree', host: 'alice.hub.test', extra: ['X-Forwarded-Host: bob.hub.test'], expect: 'alice' },
  // absolute-form: the route and the upstream's Host come from the same header, so they cannot disagree
  { target: 'http://bob.hub.test/user/bob/tree', host: 'alice.hub.test' },
  { target: 'http://alice.hub.test/user/alice/tree', host: 'bob.hub.test' },
  { target: 'http://bob.hub.test/user/bob/tree', host: 'bob.hub.test', expect: 'refused' },
  { target: 'http://alice.hub.test/user/alice/tree', host: 'alice.hub.test', expect: 'alice' },
  // HTTP/1.0 may omit Host: no host names no user's server
  { target: '/user/bob/tree', version: '1.0', expect: 'hub' },
  { target: '/user/alice/tree', version: '1.0', expect: 'hub' },
];

// ---------------------------------------------------------------- checking one case

/** A proxy under test and the servers behind it, as checkPathCase sees them. */
export interface PathSetup {
  /** The proxy's public port. */
  port: number;
  servers: Array<{ name: string; seen: Array<{ url: string; headers: IncomingHttpHeaders }> }>;
  /** route prefix → server name, for ownerOf */
  table: Map<string, string>;
  /** Servers that are hubs: the only ones that may receive a path whose owner is ambiguous. */
  hubs: Set<string>;
  hostRouting: boolean;
  /**
   * The server the proxy decided for, read independently from the request as sent; when set, the server that
   * answered must be this one (a proxy behind the one under test could read the target differently).
   */
  decided?: (c: Case) => string;
}

/**
 * Sends one case with `credential` (a header line) and checks the invariant: at most one server saw it; a 4xx means
 * none did; otherwise the one that did is the one its received path belongs to, and it is never in `forbidden`.
 */
export async function checkPathCase(s: PathSetup, c: Case, credential: string | undefined, forbidden: string[]): Promise<void> {
  const lines = [`GET ${c.target} HTTP/${c.version ?? '1.1'}`];
  if (c.host !== undefined) lines.push(`Host: ${c.host}`);
  if (credential) lines.push(credential);
  lines.push(...(c.extra ?? []));
  lines.push(...(c.upgrade ? WS_HEADERS : ['Connection: close']));
  const before = new Map(s.servers.map((u) => [u.name, u.seen.length]));
  const r = await raw(s.port, `${lines.join('\r\n')}\r\n\r\n`, 10_000, c.upgrade);
  const label = `${c.target.slice(0, 120)}${c.upgrade ? ' (websocket)' : ''}${c.host !== undefined ? ` (Host: ${c.host})` : ''}${credential ? ' as alice' : ' anonymous'}`;
  const status = r.statuses[0];
  assert.ok(status !== undefined, `${label}: no HTTP answer: ${JSON.stringify(r.text.slice(0, 200))}`);
  const reached = s.servers.flatMap((u) => u.seen.slice(before.get(u.name)!).map((seen) => ({ up: u.name, seen })));
  assert.ok(reached.length <= 1, `${label}: ${reached.length} upstream requests: ${reached.map((x) => `${x.up} ${x.seen.url}`).join(', ')}`);
  for (const x of reached) assert.ok(!forbidden.includes(x.up), `${label}: reached ${x.up} (${x.seen.url})`);
  if (status >= 400 && status < 500) {
    assert.equal(reached.length, 0, `${label}: refused with ${status} but ${reached[0]?.up} saw it`);
  } else {
    assert.equal(reached.length, 1, `${label}: answered ${status} without any upstream: ${r.text.slice(0, 300)}`);
    const { up, seen } = reached[0]!;
    assert.equal(status, c.upgrade ? 101 : 200, `${label}: ${up} saw it but the client got ${status}`);
    const owner = ownerOf(s.table, seen.url, seen.headers.host, s.hostRouting);
    if (!(owner === 'ambiguous' && s.hubs.has(up))) assert.equal(owner, up, `${label}: ${up} received ${JSON.stringify(seen.url.slice(0, 120))} (Host ${seen.headers.host}), which belongs to ${owner}`);
    if (s.decided) {
      const decided = s.decided(c);
      assert.equal(up, decided, `${label}: the request was decided for ${decided} but ${up} answered (it received ${JSON.stringify(seen.url.slice(0, 120))})`);
    }
  }
  if (c.expect !== undefined) {
    if (c.expect === 'refused') assert.ok(status >= 400 && status < 500, `${label}: expected a refusal, got ${status}`);
    else assert.equal(reached[0]?.up, c.expect, `${label}: expected ${c.expect} to answer, got ${status} from ${reached[0]?.up ?? 'hub-guard'}`);
  }
}
