// "Who is this?" from what the request carries: an IdP JWT, hub-guard's session, the hub's login cookie.
// No I/O: cookie checks run against the in-memory users index; JWTs verify once and are cached.
import type { IncomingHttpHeaders } from 'node:http';
import type { Identity } from './types.js';
import { HUB_COOKIES, PREFIXED_HUB_LOGIN_COOKIE, cookieIdProblem } from '../jupyterhub/conventions.js';
import { parseCookies } from './cookies.js';
import type { IdpVerifier } from './idp.js';
import { sessionToken, type SessionClaims, type Sessions } from './sessions.js';
import { decodeSignedValue } from './tornado.js';
import type { IndexedUser, UsersIndex } from './users-index.js';

export interface Resolved {
  identity: Identity;
  cookies: Map<string, string>;
  /** The hub cookie identified exactly one user and there is no session for them yet: mint one. */
  mintFor?: IndexedUser;
  /** A validly signed cookie_id that no user has (the hub will log this browser out; a burst is a finding). */
  unknownCookieId?: boolean;
  /** The session no longer matches the hub's records (cookie_id rotated, user gone): clear it. */
  staleSession?: boolean;
}

export interface IdentifyDeps {
  secret?: Buffer;
  maxAgeDays: number;
  users: UsersIndex;
  sessions?: Sessions;
  idp?: IdpVerifier;
}

export type HubCookie = { kind: 'none' } | { kind: 'problem'; reason: 'cookie-id-empty' | 'cookie-id-malformed' | 'cookie-id-shared' } | { kind: 'unknown' } | { kind: 'user'; user: IndexedUser };

/**
 * What one hub cookie value says, read as the hub reads it: nobody (a bad signature or an expired cookie is the
 * hub's to clear), a cookie_id the hub would map to the wrong user, one no user has, or exactly one user.
 */
export function readHubCookie(secret: Buffer, name: string, raw: string, d: Pick<IdentifyDeps, 'maxAgeDays' | 'users'>): HubCookie {
  const value = decodeSignedValue(secret, name, raw, d.maxAgeDays);
  if (value === null) return { kind: 'none' };
  const cid = value.toString('utf8');
  const problem = cookieIdProblem(cid);
  if (problem) return { kind: 'problem', reason: problem };
  const found = d.users.byCookieId(cid);
  if (found.kind === 'many') return { kind: 'problem', reason: 'cookie-id-shared' };
  return found.kind === 'one' ? { kind: 'user', user: found.user } : { kind: 'unknown' };
}

function hubCookie(cookies: Map<string, string>, d: IdentifyDeps): HubCookie {
  if (!d.secret) return { kind: 'none' };
  let result: HubCookie = { kind: 'none' };
  for (const name of HUB_COOKIES) {
    const raw = cookies.get(name);
    if (raw === undefined) continue;
    // a hub that prefixes its cookie ignores a leftover unprefixed one from before the switch, and so does this
    if (name !== PREFIXED_HUB_LOGIN_COOKIE && cookies.has(PREFIXED_HUB_LOGIN_COOKIE)) break;
    const one = readHubCookie(d.secret, name, raw, d);
    if (one.kind === 'problem') return one;
    if (one.kind === 'user') {
      if (result.kind === 'user' && result.user.id !== one.user.id) return { kind: 'problem', reason: 'cookie-id-shared' };
      result = one;
    } else if (one.kind === 'unknown' && result.kind === 'none') {
      result = one;
    }
  }
  return result;
}

type SessionCheck = { kind: 'none' } | { kind: 'stale' } | { kind: 'conflict'; name: string } | { kind: 'user'; user: IndexedUser; renew: boolean };

/** A session counts only while the hub still gives that user the cookie_id it was minted for. */
function checkSession(claims: SessionClaims | null | undefined, users: UsersIndex, ttlSec: number): SessionCheck {
  if (!claims) return claims === null ? { kind: 'stale' } : { kind: 'none' };
  const user = users.user(claims.name);
  if (user && user.id === claims.uid && user.cookieHash === claims.cid) {
    return { kind: 'user', user, renew: claims.exp - Date.now() / 1000 < ttlSec / 2 };
  }
  // the cookie_id it was bound to now belongs to someone else: the incident's pattern, never a quiet logout
  const holder = users.byCookieIdHash(claims.cid);
  if (holder.kind === 'many' || (holder.kind === 'one' && holder.user.name !== claims.name)) return { kind: 'conflict', name: claims.name };
  return { kind: 'stale' };
}

function combine(cookies: Map<string, string>, hub: HubCookie, claims: SessionClaims | null | undefined, idpName: string | null | undefined, d: IdentifyDeps): Resolved {
  const users = d.users;
  const session = checkSession(claims, users, d.sessions?.ttlSec ?? 0);
  const out: Resolved = { identity: { kind: 'anonymous' }, cookies };
  if (session.kind === 'stale') out.staleSession = true;
  if (hub.kind === 'unknown') out.unknownCookieId = true;
  const conflict = (name?: string): Resolved => ({ ...out, identity: { kind: 'problem', reason: 'identity-conflict', name } });

  // checked before the IdP too: the hub itself would still map this cookie to the wrong user
  if (hub.kind === 'problem') return { ...out, identity: { kind: 'problem', reason: hub.reason } };
  if (idpName) {
    // the identity provider is the authority: any other source naming someone else is a conflict
    if (hub.kind === 'user' && hub.user.name !== idpName) return conflict(idpName);
    if (session.kind === 'user' && session.user.name !== idpName) return conflict(idpName);
    if (session.kind === 'conflict') return conflict(idpName);
    const user = users.user(idpName);
    out.identity = { kind: 'user', name: idpName, id: user?.id ?? -1, source: 'idp' };
    if (hub.kind === 'user' && session.kind !== 'user') out.mintFor = hub.user;
    return out;
  }
  if (session.kind === 'conflict') return conflict(session.name);
  if (hub.kind === 'user') {
    if (session.kind === 'user' && session.user.id !== hub.user.id) return conflict(session.user.name);
    // a session past half its life is renewed while the hub cookie is there, so active users stay identified
    if (session.kind !== 'user' || session.renew) out.mintFor = hub.user;
    out.identity = { kind: 'user', name: hub.user.name, id: hub.user.id, source: 'hub-cookie' };
    return out;
  }
  if (session.kind === 'user') out.identity = { kind: 'user', name: session.user.name, id: session.user.id, source: 'session' };
  return out;
}

/** Sync when every token the request carries was seen before; a promise only on first sight of a JWT. */
export function identify(headers: IncomingHttpHeaders, d: IdentifyDeps): Resolved | Promise<Resolved> {
  const cookies = parseCookies(headers.cookie);
  const hub = hubCookie(cookies, d);
  const token = d.sessions ? sessionToken(cookies) : undefined;
  const claims = token ? d.sessions!.verify(token) : undefined;
  const idpToken = d.idp?.token(headers);
  const idpName = idpToken ? d.idp!.verify(idpToken) : undefined;
  if (claims instanceof Promise || idpName instanceof Promise) {
    return Promise.all([claims, idpName]).then(([c, n]) => combine(cookies, hub, c, n, d));
  }
  return combine(cookies, hub, claims, idpName, d);
}
