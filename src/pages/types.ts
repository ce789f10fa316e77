// The contract between the proxy (which decides) and the pages (which only say it).
import type { MaintenanceTemplate } from './template.js';

export type { PageKind } from '../reasons.js';
import type { PageKind } from '../reasons.js';

export interface PageContext {
  kind: PageKind;
  /** 403 blocked, 409 conflict, 503 maintenance, or the proxy error code; anything outside 400–599 falls back to the kind's default. */
  status: number;
  /** Machine reason code, e.g. 'other-user-server', 'cookie-id-empty', 'maintenance-manual'. */
  reason: string;
  /** Operator-given maintenance text; untrusted. */
  message?: string;
  /** Maintenance start, ms since the epoch. */
  since?: number;
  /** Operator contact; untrusted, shown as text, never as a link. */
  contact?: string;
  requestId: string;
  /** base_url + 'hub/'; only a same-origin path ('/…') is linked. */
  hubUrl?: string;
  /** Seconds for Retry-After on 503 answers; default 30. */
  retryAfterSec?: number;
}

export interface PageAnswer {
  status: number;
  /** Lower-case header names, ready for res.writeHead(). */
  headers: Record<string, string | string[]>;
  body: string | Buffer;
}

export interface PageOptions {
  maintenanceTemplate?: MaintenanceTemplate;
  /**
   * Cookies to clear with Set-Cookie (Max-Age=0), each as `name` (path /) or with attributes the cookie was set
   * with, e.g. 'jupyterhub-hub-login; Path=/hub/' or 'jupyterhub-session-id; Path=/; Domain=.example.org; Secure'.
   * Entries that are not valid are left out (see clearCookieHeader to check them at start).
   */
  clearCookies?: string[];
  /** How often an open maintenance page asks whether maintenance is over; default 15000, bounded to 100…300000. */
  pollIntervalMs?: number;
}
