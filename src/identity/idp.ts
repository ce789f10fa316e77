// A trusted identity provider's JWT in a header (e.g. X-Goog-IAP-JWT-Assertion), verified against its JWKS.
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { IncomingHttpHeaders } from 'node:http';
import { VerifyCache } from './verify-cache.js';
import { ConfigError } from '../errors.js';

export interface IdpOptions {
  header: string;
  jwksUrl?: string;
  jwksFile?: string;
  issuer?: string;
  audience?: string;
  usernameClaim: string;
}

/** The default authenticators' normalisation: lower case, and an e-mail address becomes its local part. */
export function normaliseUsername(v: string): string {
  const at = v.indexOf('@');
  return (at === -1 ? v : v.slice(0, at)).toLowerCase();
}

export class IdpVerifier {
  private readonly keys: JWTVerifyGetKey;
  private readonly header: string;
  private readonly bearer: boolean;
  private cache = new VerifyCache<string>();

  constructor(private readonly opts: IdpOptions) {
    this.header = opts.header.toLowerCase();
    this.bearer = this.header === 'authorization';
    if (opts.jwksFile) {
      let jwks: unknown;
      try {
        jwks = JSON.parse(readFileSync(opts.jwksFile, 'utf8'));
      } catch (e) {
        throw new ConfigError(`--jwks-file: cannot read a JWKS from ${opts.jwksFile}: ${(e as Error).message}`, '--jwks-file');
      }
      this.keys = createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]);
    } else if (opts.jwksUrl) {
      this.keys = createRemoteJWKSet(new URL(opts.jwksUrl));
    } else {
      throw new ConfigError('--identity-header needs --jwks-url or --jwks-file', '--identity-header');
    }
  }

  /** The JWT the request carries, if any; a hub API token in Authorization is not a JWT and is left alone. */
  token(headers: IncomingHttpHeaders): string | undefined {
    const raw = headers[this.header];
    const v = Array.isArray(raw) ? raw[0] : raw;
    if (!v) return undefined;
    const token = this.bearer ? (/^bearer\s+(\S+)$/i.exec(v)?.[1]) : v.trim();
    return token && token.split('.').length === 3 ? token : undefined;
  }

  /**
   * Takes the identity provider's token off a request bound for anything but the hub: replayed by a user's
   * code, it would identify its owner to hub-guard. In Authorization only a JWT is the IdP's; hub tokens stay.
   */
  strip(headers: IncomingHttpHeaders): void {
    if (!this.bearer || this.token(headers) !== undefined) delete headers[this.header];
  }

  /** The normalised user name, null for a token that does not verify, or a promise on first sight. */
  verify(token: string): string | null | Promise<string | null> {
    const hit = this.cache.get(token);
    if (hit !== undefined) return hit;
    return jwtVerify(token, this.keys, { issuer: this.opts.issuer, audience: this.opts.audience }).then(
      ({ payload }) => {
        const claim = payload[this.opts.usernameClaim];
        const name = typeof claim === 'string' && claim ? normaliseUsername(claim) : null;
        this.cache.set(token, name, typeof payload.exp === 'number' ? payload.exp * 1000 : Date.now() + 60_000);
        return name;
      },
      () => {
        this.cache.set(token, null, Date.now() + 60_000);
        return null;
      },
    );
  }
}
