// X-Hub-Guard-User: a short-lived signed statement to a user server of who hub-guard let through.
// Servers verify it against the JWKS on the API port; the key pair lives in the state store so replicas agree.
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK, type CryptoKey } from 'jose';
import type { StateStore } from '../state/store.js';

export const ASSERTION_HEADER = 'x-hub-guard-user';
const ALG = 'ES256';
const TTL_SEC = 300;

interface KeyDoc { private: JWK; public: JWK }

export class Assertions {
  private cache = new Map<string, { token: string; renewAt: number }>();

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
        assertions.cache.clear();
      });
    });
    return assertions;
  }

  jwks(): { keys: JWK[] } {
    return { keys: [this.publicJwk] };
  }

  /** Cached per user and route, renewed a minute before expiry, so most requests sign nothing. */
  for(user: string, uid: number, route: string): string | Promise<string> {
    const key = `${user}\n${route}`;
    const hit = this.cache.get(key);
    const now = Date.now();
    if (hit && hit.renewAt > now) return hit.token;
    return new SignJWT({ uid })
      .setProtectedHeader({ alg: ALG, kid: this.publicJwk.kid })
      .setIssuer('hub-guard')
      .setSubject(user)
      .setAudience(route)
      .setIssuedAt()
      .setExpirationTime(Math.floor(now / 1000) + TTL_SEC)
      .sign(this.key)
      .then((token) => {
        if (this.cache.size > 100_000) this.cache.clear();
        this.cache.set(key, { token, renewAt: now + (TTL_SEC - 60) * 1000 });
        return token;
      });
  }
}
