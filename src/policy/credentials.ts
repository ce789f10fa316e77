// Which credentials may travel where: only the hub is trusted with them, and only the hub may set them in a browser.
// Pure rules over cookie names and Set-Cookie lines; docs/security.md has them as a table.
import { canonicalCookieName, setCookieName } from '../identity/cookies.js';
import { SESSION_COOKIE } from '../identity/sessions.js';
import { HUB_COOKIES, SERVER_COOKIE_PREFIX } from '../jupyterhub/conventions.js';
import { CONSOLE_COOKIE, OPERATOR_COOKIE } from './operator.js';

/**
 * Credentials by canonical name (canonicalCookieName): the hub's login, hub-guard's session, the operator's token
 * and the operator console's session.
 */
const CREDENTIAL_COOKIES = new Set([...HUB_COOKIES, SESSION_COOKIE, OPERATOR_COOKIE, CONSOLE_COOKIE]);

/**
 * Whether a request cookie is taken off before forwarding. The operator's token and console session go nowhere,
 * not even to the hub; anything but the hub loses every credential and every server's OAuth cookie but `own`, the
 * cookie of the server the request goes to (services have none of their own).
 */
export function dropsRequestCookie(name: string, toHub: boolean, own: string | undefined): boolean {
  const canonical = canonicalCookieName(name);
  if (canonical === OPERATOR_COOKIE || canonical === CONSOLE_COOKIE) return true;
  if (toHub) return false;
  return CREDENTIAL_COOKIES.has(canonical) || isOtherServerCookie(name, canonical, own);
}

/** A `jupyterhub-user-…` cookie that is not `own` (`jupyterhub-user-alice2` is not alice's), in any spelling. */
function isOtherServerCookie(name: string, canonical: string, own: string | undefined): boolean {
  if (!canonical.startsWith(SERVER_COOKIE_PREFIX)) return false;
  const bare = name.trim().replace(/^__(?:host|secure)-/i, '');
  return own === undefined || (bare !== own && !bare.startsWith(`${own}-oauth-state`));
}

/**
 * Whether a Set-Cookie line from anything but the hub would plant a credential: the hub's login, hub-guard's
 * session or an operator's token under any spelling, or a nameless cookie, which browsers send back as a bare
 * `name=value` and so could carry one too.
 */
export function plantsCredential(setCookie: string): boolean {
  const name = setCookieName(setCookie);
  return name === '' || CREDENTIAL_COOKIES.has(name);
}
