// hub-guard's own session: a short-lived JWT at path `/`, so requests to /user/… (where the browser sends no hub
// cookie) still say who is asking. It binds the user's name, id and a hash of their cookie_id.
import { randomBytes } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';
import type { StateStore } from '../state/store.js';
import { VerifyCache } from './verify-cache.js';

export const SESSION_COOKIE = 'hub-guard-session';
/** Behind https the session follows the hub's hardened layout: host-only, path `/`, Secure. */
export const PREFIXED_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;

/** The session in both layouts, as cookies to clear (pages' clearCookies form). */
export const SESSION_COOKIES_TO_CLEAR: readonly string[] = [SESSION_COOKIE, `${PREFIXED_SESSION_COOKIE}; Path=/; Secure`];

/** The session a request carries; the prefixed cookie wins over a leftover plain one. */
export function sessionToken(cookies: ReadonlyMap<string, string>): string | undefined {
  return cookies.get(PREFIXED_SESSION_COOKIE) || cookies.get(SESSION_COOKIE) || undefined;
}
const ISSUER = 'hub-guard';

export interface SessionClaims { name: string; uid: number; cid: string; exp: number }

export class Sessions {
  private cache = new VerifyCache<SessionClaims>();

  constructor(private key: Uint8Array, readonly ttlSec: number) {}

  /**
   * The signing key lives in the state store, so every replica and every restart verify the same sessions. The first
   * replica to store one wins; one that started without the shared store switches to the winner's when it connects.
   */
  static async open(store: StateStore, ttlSec: number): Promise<Sessions> {
    const doc = await store.claim<{ k: string }>('session-key', { k: randomBytes(32).toString('base64url') });
    const sessions = new Sessions(Buffer.from(doc.k, 'base64url'), ttlSec);
    store.watch<{ k: string }>('session-key', (d) => {
      if (!d) return;
      sessions.key = Buffer.from(d.k, 'base64url');
      sessions.cache.clear();
    });
    return sessions;
  }

  mint(name: string, uid: number, cid: string): Promise<string> {
    return new SignJWT({ uid, cid })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(name)
      .setIssuer(ISSUER)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + this.ttlSec)
      .sign(this.key);
  }

  /** Claims, null for a bad token, or a promise on the first sight of a token. */
  verify(token: string): SessionClaims | null | Promise<SessionClaims | null> {
    const hit = this.cache.get(token);
    if (hit !== undefined) return hit;
    return jwtVerify(token, this.key, { issuer: ISSUER, algorithms: ['HS256'] }).then(
      ({ payload }) => {
        const claims = typeof payload.sub === 'string' && typeof payload.uid === 'number' && typeof payload.cid === 'string' && typeof payload.exp === 'number'
          ? { name: payload.sub, uid: payload.uid, cid: payload.cid, exp: payload.exp }
          : null;
        this.cache.set(token, claims, claims ? claims.exp * 1000 : Date.now() + 60_000);
        return claims;
      },
      () => {
        this.cache.set(token, null, Date.now() + 60_000);
        return null;
      },
    );
  }

  setCookie(token: string, secure: boolean): string {
    return `${secure ? PREFIXED_SESSION_COOKIE : SESSION_COOKIE}=${token}; Path=/; Max-Age=${this.ttlSec}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
  }

  /** Clearing lines for the session in both layouts (a browser may hold the plain one from before https). */
  clearCookies(secure: boolean): string[] {
    const plain = `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
    return secure ? [plain, `${PREFIXED_SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure`] : [plain];
  }
}
