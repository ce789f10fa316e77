// JupyterHub's conventions, in one place: cookie names and paths, the cookie_id form, the names of servers' OAuth
// cookies, and the URL layout of user servers. Facts from the hub's source (docs: ../shared/jupyterhub-facts.md).

/** The hub's login cookie (`Hub.cookie_name`), set at `{base_url}hub/`. */
export const HUB_LOGIN_COOKIE = 'jupyterhub-hub-login';
/**
 * With `JupyterHub.cookie_host_prefix_enabled` (4.1+, over https) the hub's login and every server's OAuth cookie
 * carry this prefix, at path `/`, always Secure; the signature covers the prefixed name.
 */
export const HOST_PREFIX = '__Host-';
export const PREFIXED_HUB_LOGIN_COOKIE = `${HOST_PREFIX}${HUB_LOGIN_COOKIE}`;
/** Up to 3.x the hub also set this, with the same cookie_id, at `{base_url}services/`. */
export const SERVICES_COOKIE = 'jupyterhub-services';
/** The hub cookies that carry a cookie_id, in every layout; the prefixed one first, since it wins (see identify). */
export const HUB_COOKIES: readonly string[] = [PREFIXED_HUB_LOGIN_COOKIE, HUB_LOGIN_COOKIE, SERVICES_COOKIE];

/** Prefix of single-user servers' OAuth cookies: `jupyterhub-user-<quote(name)>[-<quote(server)>]`. */
export const SERVER_COOKIE_PREFIX = 'jupyterhub-user-';

/** `name; Path=…` for clearing each hub cookie where the hub set it, in every layout, under `hubBase` (base_url). */
export function hubCookiesToClear(hubBase: string): string[] {
  return [`${HUB_LOGIN_COOKIE}; Path=${hubBase}hub/`, `${SERVICES_COOKIE}; Path=${hubBase}services/`, `${PREFIXED_HUB_LOGIN_COOKIE}; Path=/; Secure`];
}

/** True for a cookie_id as the hub makes them: uuid4().hex, exactly 32 lowercase hex characters. */
export function isCookieId(v: string): boolean {
  if (typeof v !== 'string' || v.length !== 32) return false;
  for (let i = 0; i < 32; i++) {
    const c = v.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/** What is wrong with a cookie_id a login cookie carries, if anything the form alone shows. */
export function cookieIdProblem(cookieId: string): 'cookie-id-empty' | 'cookie-id-malformed' | undefined {
  if (cookieId === '') return 'cookie-id-empty';
  return isCookieId(cookieId) ? undefined : 'cookie-id-malformed';
}

/** Python's quote(name) (safe='/'), which the hub uses for cookie and OAuth client names. */
export function pyQuote(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).replace(/%2F/g, '/');
}

/** The OAuth cookie the server `server` ('' for the default) of `owner` sets. */
export function serverCookieName(owner: string, server: string): string {
  return `${SERVER_COOKIE_PREFIX}${pyQuote(owner)}${server ? `-${pyQuote(server)}` : ''}`;
}

/** base_url, from the hub's route prefix (`{base_url}` is its prefix; `/` under subdomains). */
export function baseUrlOf(hubPrefix: string): string {
  return hubPrefix === '/' ? '/' : `${hubPrefix}/`;
}

/** The hub's health (`/hub/health`, `/hub/api/health`: one handler since 3.0) and metrics endpoints, under base_url. */
export function isHubMonitoringPath(path: string, baseUrl: string): boolean {
  if (!path.startsWith(`${baseUrl}hub/`)) return false;
  const rest = path.slice(baseUrl.length + 4).replace(/\/$/, '');
  return rest === 'health' || rest === 'api/health' || rest === 'metrics';
}

/** The owner (and, if named, server) a decoded path into `/user/<name>/[<server>/]` names, outside `/hub/`. */
export function userServerOf(path: string): { owner: string; server: string } | undefined {
  const m = /\/user\/([^/]+)\/(?:([^/]+)\/)?/.exec(path);
  return m && !path.includes('/hub/') ? { owner: m[1]!, server: '' } : undefined;
}
