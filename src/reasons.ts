// Every reason hub-guard refuses or holds a request, once: its status, the page it shows, and what it means in plain
// words. Pages, logs, metrics (`hub_guard_blocked_total{reason}`), the watchdog's findings and the README read from
// here; test/reasons.test.ts fails when the README's list misses one.

export type PageKind = 'blocked' | 'conflict' | 'maintenance' | 'error';

export interface ReasonInfo {
  status: 403 | 409 | 500 | 503;
  page: PageKind;
  /** For operators (logs, findings, the README); names no user. */
  text: string;
}

export const REASONS = {
  'other-user-server': { status: 403, page: 'blocked', text: "An identified user asked for another user's server, and the hub grants them no access to it." },
  'redirect-to-other-user': { status: 403, page: 'blocked', text: "The hub redirected an identified user into another user's server that they may not open: the hub took them for someone else." },
  'route-target-shared': { status: 409, page: 'conflict', text: "Two users' routes point at one target (a reused pod IP): the newer one may reach the wrong server." },
  'cookie-id-empty': { status: 409, page: 'conflict', text: 'A login cookie carried an empty cookie_id: the hub would log this browser in as whichever user sorts first.' },
  'cookie-id-malformed': { status: 409, page: 'conflict', text: 'A login cookie carried a cookie_id the hub never generates: the users table was edited by hand.' },
  'cookie-id-shared': { status: 409, page: 'conflict', text: 'A login cookie carried a cookie_id that several users share: the hub would log them in as one another.' },
  'identity-conflict': { status: 409, page: 'conflict', text: "A browser's hub-guard session and its hub login cookie (or the identity provider) name different users." },
  'maintenance-manual': { status: 503, page: 'maintenance', text: 'An operator switched maintenance on.' },
  'maintenance-auto': { status: 503, page: 'maintenance', text: 'The database watchdog found the hub database wiped, rebuilt or inconsistent, and holds traffic until an operator clears it.' },
  'internal-error': { status: 500, page: 'error', text: 'hub-guard met an unexpected error while handling this one request (logged as "request failed"); the process goes on.' },
} as const satisfies Record<string, ReasonInfo>;

export type Reason = keyof typeof REASONS;
/** Problems with who a request claims to be. */
export type IdentityProblem = 'cookie-id-empty' | 'cookie-id-malformed' | 'cookie-id-shared' | 'identity-conflict';

export function reasonInfo(reason: Reason): ReasonInfo {
  return REASONS[reason];
}
