// Findings raised from live traffic (requests, the hub's API calls) rather than a database read. The watchdog and a
// proxy fed by a watcher both keep these themselves: each sees its own requests.
import { log } from '../log.js';
import type { Finding } from '../hubdb/checks.js';
import { REASONS, type Reason } from '../reasons.js';
import type { DbState } from './hub-watch.js';
import type { Maintenance } from './maintenance.js';

const MINUTE = 60_000;
/** Live findings are shown this long after they were last raised. */
const KEEP_MS = 10 * MINUTE;

export interface LiveFindingsOptions {
  /** Switch automatic maintenance on for these critical findings. */
  latch(critical: Finding[]): void;
  /** An unknown cookie_id may be a user created since the last read: ask for one soon. */
  refresh(): void;
  /** Unknown-cookie_id sightings per minute that count as a burst (a rebuilt users table looks like this). */
  unknownCookieBurst?: number;
  /** Share of the user routes the hub may delete within a minute before further deletions are held back. */
  massDeleteShare?: number;
}

/** Route deletions are suspect while maintenance holds traffic or the database looks wrong or cannot be read. */
export function deletionsSuspect(state: DbState, maintenance: Maintenance): boolean {
  return !!maintenance.current || state === 'unhealthy' || state === 'unreachable';
}

export class LiveFindings {
  private live = new Map<string, { finding: Finding; at: number }>();
  private unknownCookies: number[] = [];
  private deletions: number[] = [];

  constructor(private readonly o: LiveFindingsOptions) {}

  /** Problems the guard saw on requests; critical ones latch maintenance like a DB finding. */
  report(problem: string): void {
    const now = Date.now();
    this.o.refresh();
    if (problem === 'cookie-id-unknown') {
      this.unknownCookies = this.unknownCookies.filter((t) => now - t < MINUTE);
      this.unknownCookies.push(now);
      if (this.unknownCookies.length < (this.o.unknownCookieBurst ?? 20)) return;
      this.raise({ check: 'cookie-id-unknown-burst', severity: 'warning', message: `${this.unknownCookies.length} login cookies in the last minute carried a cookie_id no user has: the users table may have been rebuilt or replaced.` });
      return;
    }
    // the request itself was refused; the DB read that follows decides whether everyone must wait
    this.raise({ check: `request-${problem}`, severity: 'warning', message: problem in REASONS ? REASONS[problem as Reason].text : `A request showed ${problem}.` });
  }

  /**
   * Whether to hold back the hub's deletion of a user route. A hub started on an empty DB deletes every user route it
   * no longer knows; such deletions (while the database looks wrong, or in bulk) are held back (the route keeps
   * working) and raise a critical finding.
   */
  holdDelete(userRoutes: number, suspect: boolean): boolean {
    const now = Date.now();
    this.deletions = this.deletions.filter((t) => now - t < MINUTE);
    const burst = this.deletions.length + 1 > Math.max(2, (this.o.massDeleteShare ?? 0.5) * (userRoutes + this.deletions.length));
    if (suspect || burst) {
      this.raise({ check: 'route-deletions-held', severity: 'critical', message: 'The hub is deleting user routes while its database looks wrong or in bulk; the deletions are held back and the routes keep working.' });
      return true;
    }
    this.deletions.push(now);
    return false;
  }

  list(): Finding[] {
    const cutoff = Date.now() - KEEP_MS;
    for (const [k, v] of this.live) if (v.at < cutoff) this.live.delete(k);
    return [...this.live.values()].map((v) => v.finding);
  }

  clear(): void {
    this.live.clear();
  }

  private raise(finding: Finding): void {
    const fresh = !this.live.has(finding.check);
    this.live.set(finding.check, { finding, at: Date.now() });
    if (fresh) log.warn('finding', { ...finding });
    if (finding.severity === 'critical') this.o.latch([finding]);
  }
}
