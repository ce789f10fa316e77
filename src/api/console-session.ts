// The operator console's session: a signed cookie a browser gets for the operator token, and the CSRF token bound
// to it. Nothing is kept per session, so any replica verifies any replica's cookie.
//
// The signing key is HMAC(salt, every configured operator token). Why both:
// - The tokens: a new operator token (a rotation, or a token that leaked) gives a new key, so every cookie signed
//   with the old one stops verifying on each replica as it restarts with the new token. Nobody has to remember to
//   rotate a second secret, and a cookie never outlives the token that opened it.
// - The salt: 32 random bytes claimed once in the state store ('console-salt'; first writer wins), so every replica
//   sharing the store derives the same key. Without it a captured cookie would be an offline oracle for guessing a
//   weak operator token (HMAC(token, …) can be tried against guesses); with it, guessing also needs the store.
//   Deleting the document (or a memory store's restart) ends every console session too.
// A cookie carries its expiry and a random id; the CSRF token is a MAC of that id, so it is bound to the one
// session and checked without state. Signing out clears the cookie in that browser; a copy taken elsewhere stays
// valid until it expires or the token is rotated (there is no server-side list of sessions to strike it from).
import { createHmac, randomBytes } from 'node:crypto';
import { CONSOLE_COOKIE } from '../policy/operator.js';
import type { StateStore } from '../state/store.js';
import { matchesAnyToken, tokensEqual } from '../tokens.js';

export { CONSOLE_COOKIE };
/** The console's own path: the cookie goes to nothing else on the API port, and never to the public port's routes. */
export const CONSOLE_PATH = '/guard/';
export const SESSION_TTL_MS = 8 * 3600_000;
const SALT_KEY = 'console-salt';
const VERSION = 'v1';

export interface ConsoleSession {
  id: string;
  expires: number;
}

function saltOf(doc: { salt?: unknown } | null | undefined): Buffer | undefined {
  return typeof doc?.salt === 'string' && doc.salt.length >= 22 ? Buffer.from(doc.salt, 'base64url') : undefined;
}

const mac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest('base64url');

export class ConsoleSessions {
  /**
   * @param tokens the operator tokens in force, read at every use: with none configured the console has no
   *   sessions at all (the API port is then open, as configurable-http-proxy's is, and the console read-only).
   */
  constructor(private readonly tokens: () => (string | undefined)[], private salt: Buffer, private readonly ttlMs = SESSION_TTL_MS) {}

  /**
   * With the salt every replica sharing `store` uses: the first to store one wins, and one that started without the
   * shared store takes the winner's when it connects (its own sessions of those seconds then end).
   */
  static async open(store: StateStore, tokens: () => (string | undefined)[]): Promise<ConsoleSessions> {
    const doc = await store.claim<{ salt: string }>(SALT_KEY, { salt: randomBytes(32).toString('base64url') });
    const sessions = new ConsoleSessions(tokens, saltOf(doc) ?? randomBytes(32));
    store.watch<{ salt: string }>(SALT_KEY, (d) => {
      const salt = saltOf(d);
      if (salt) sessions.salt = salt;
    });
    return sessions;
  }

  get enabled(): boolean {
    return this.key() !== undefined;
  }

  /** Whether `given` is one of the operator tokens; every one is compared, in constant time. */
  tokenMatches(given: string): boolean {
    return given !== '' && matchesAnyToken(given, this.configured());
  }

  /** A new session's cookie value. */
  issue(now = Date.now()): { value: string; session: ConsoleSession } {
    const key = this.key();
    if (!key) throw new Error('no operator token configured: the console has no sessions');
    const session = { id: randomBytes(16).toString('base64url'), expires: now + this.ttlMs };
    const body = `${VERSION}.${session.expires}.${session.id}`;
    return { value: `${body}.${mac(key, body)}`, session };
  }

  /** The session a cookie value proves, or undefined: forged, signed under another token or salt, or expired. */
  verify(value: string | undefined, now = Date.now()): ConsoleSession | undefined {
    const key = this.key();
    if (!key || !value || value.length > 200) return undefined;
    const parts = value.split('.');
    if (parts.length !== 4 || parts[0] !== VERSION) return undefined;
    const [, exp, id, sig] = parts as [string, string, string, string];
    if (!tokensEqual(sig, mac(key, `${VERSION}.${exp}.${id}`))) return undefined;
    const expires = Number(exp);
    // a signed expiry past the lifetime cannot come from issue(): refuse it rather than honour it
    if (!/^\d{1,16}$/.test(exp) || expires <= now || expires > now + this.ttlMs) return undefined;
    return { id, expires };
  }

  /** The CSRF token of a session: the forms carry it, and only a page this session loaded can know it. */
  csrf(session: ConsoleSession): string {
    const key = this.key();
    if (!key) throw new Error('no operator token configured: the console has no sessions');
    return mac(key, `csrf.${session.id}`);
  }

  csrfMatches(session: ConsoleSession, given: string | null | undefined): boolean {
    return typeof given === 'string' && given !== '' && tokensEqual(given, this.csrf(session));
  }

  private configured(): string[] {
    return this.tokens().filter((t): t is string => !!t);
  }

  private key(): Buffer | undefined {
    const tokens = this.configured();
    if (tokens.length === 0) return undefined;
    // NUL cannot occur in a token passed through the environment or a flag, so the joined text is unambiguous
    return createHmac('sha256', this.salt).update(`hub-guard console ${VERSION}\0${tokens.join('\0')}`).digest();
  }
}
