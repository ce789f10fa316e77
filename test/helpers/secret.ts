// The hub's cookie secret and the login cookie the hub signs with it, as a browser sends it back.
import { randomBytes } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSignedValue } from '../../src/identity/tornado.js';

export const HUB_COOKIE = 'jupyterhub-hub-login';
export const SESSION_COOKIE = 'hub-guard-session';

export interface Secret {
  /** `<dir>/jupyterhub_cookie_secret` */
  file: string;
  key: Buffer;
  /** The key as the file holds it. */
  hex: string;
}

/** The hub's cookie secret file as the hub writes it: 32 random bytes in hex, mode 0600 (the hub refuses others). */
export function writeSecret(dir: string): Secret {
  const key = randomBytes(32);
  const hex = key.toString('hex');
  const file = join(dir, 'jupyterhub_cookie_secret');
  writeFileSync(file, `${hex}\n`);
  chmodSync(file, 0o600);
  return { file, key, hex };
}

export interface HubCookieOptions {
  /** The cookie's name, which the signature covers (default jupyterhub-hub-login). */
  name?: string;
  /** When the hub signed it (default now). */
  timestampSec?: number;
  /** Quote the value even when it has no '=' (a value that names an empty or short cookie_id may have none). */
  quoted?: boolean;
}

/**
 * `jupyterhub-hub-login=…` as a browser sends it back after the hub set it: quoted when the value has '=' (as
 * Python's SimpleCookie did when the hub set it), which a value carrying a 32-hex cookie_id always has.
 */
export function hubCookie(secret: Buffer, cookieId: string, opts: HubCookieOptions = {}): string {
  const name = opts.name ?? HUB_COOKIE;
  const v = createSignedValue(secret, name, cookieId, opts.timestampSec ?? Date.now() / 1000);
  return `${name}=${opts.quoted || v.includes('=') ? `"${v}"` : v}`;
}
