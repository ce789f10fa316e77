// X-Hub-Guard-User: a short-lived signed statement to a user server of who hub-guard let through.
// Servers verify it against the JWKS on the API port; the key pair lives in the state store so replicas agree.
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK, type CryptoKey } from 'jose';
import type { StateStore } from '../state/store.js';

export const ASSERTION_HEADER = 'x-hub-guard-user';
const ALG = 'ES256';
const TTL_SEC = 300;

interface KeyDoc { private: JWK; public: JWK }

interface Cached { user: string; uid: number; token: string; renewAt: number }

const MAX_CACHED = 100_000;

export class Assertions {
  /**
   * By route: the user last let through it, nearly always its owner. Keyed by the route's own prefix string, whose
   * hash V8 keeps, where a key joined per request had to be built and hashed anew every time.
   */
  private byRoute = new Map<string, Cached>();
  /** Everyone else on a route (a share, an admin): `user\nroute`. */
  private others = new Map<string, Cached>();

  private constructor(private key: CryptoKey, public publicJwk: JWK) {}

  /** The key pair lives in the state store: the first replica to store one wins, and the others switch to it. */
  static async open(store: StateStore): Promise<Assertions> {
    const pair = await generateKeyPair(ALG, { extractable: true });
    const kid = `hg-${Date.now().toString(36)}`;
    const fresh: KeyDoc = { private: { ...(await exportJWK(pair.privateKey)), kid, alg: ALG }, public: { ...(await exportJWK(pair.publicKey)), kid, alg: ALG, use: 'sig' } };
    const doc = await store.claim<KeyDoc>('assertion-key', fresh);
    const assertions = new Assertions((await importJWK(doc.private, ALG)) as CryptoKey, doc.public);
    store.watch<KeyDoc>('assertion-key', (d) => {
      if (!d) return;
      void importJWK(d.private, ALG).then((key) => {
        assertions.key = key as CryptoKey;
        assertions.publicJwk = d.public;
        assertions.byRoute.clear();
        assertions.others.clear();
      });
    });
    return assertions;
  }

  jwks(): { keys: JWK[] } {
    return { keys: [this.publicJwk] };
  }

  /** Cached per user and route, renewed a minute before expiry, so most requests sign nothing. */
  for(user: string, uid: number, route: string): string | Promise<string> {
    const now = Date.now();
    const slot = this.byRoute.get(route);
    const mine = slot?.user === user && slot.uid === uid;
    const hit = mine ? slot : slot ? this.others.get(`${user}\n${route}`) : undefined;
    if (hit && hit.uid === uid && hit.renewAt > now) return hit.token;
    return new SignJWT({ uid })
      .setProtectedHeader({ alg: ALG, kid: this.publicJwk.kid })
      .setIssuer('hub-guard')
      .setSubject(user)
      .setAudience(route)
      .setIssuedAt()
      .setExpirationTime(Math.floor(now / 1000) + TTL_SEC)
      .sign(this.key)
      .then((token) => {
        const entry: Cached = { user, uid, token, renewAt: now + (TTL_SEC - 60) * 1000 };
        const current = this.byRoute.get(route);
        if (!current || current.user === user) {
          if (this.byRoute.size >= MAX_CACHED) this.byRoute.clear();
          this.byRoute.set(route, entry);
        } else {
          // wholesale reset instead of LRU bookkeeping: a full cache only costs signing again
          if (this.others.size >= MAX_CACHED) this.others.clear();
          this.others.set(`${user}\n${route}`, entry);
        }
        return token;
      });
  }
}
