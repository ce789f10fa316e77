// What the request path, the APIs and the status page know of the hub database's health: the watchdog in this
// process, or a `hub-guard watch` process elsewhere whose reports come through the shared store.
import type { Baseline, Finding } from '../hubdb/checks.js';

export type DbState = 'starting' | 'waiting' | 'healthy' | 'unhealthy' | 'unreachable';

export interface CheckTime { at: number; ms: number; error?: string }

/** One finished check as the console lists it: when, how long, and what it concluded. */
export interface CheckRecord extends CheckTime {
  state: DbState;
  critical: number;
  warnings: number;
}

/** How many checks recentChecks() keeps: at a 5 s interval, the last minute and a half. */
export const RECENT_CHECKS = 20;

/** Appends to a ring of at most RECENT_CHECKS records, oldest first. */
export function remember(ring: CheckRecord[], record: CheckRecord): void {
  ring.push(record);
  if (ring.length > RECENT_CHECKS) ring.splice(0, ring.length - RECENT_CHECKS);
}

export interface HubWatch {
  readonly state: DbState;
  readonly lastCheck?: CheckTime;
  readonly baseline: Baseline | null;
  start(): Promise<void>;
  stop(): void;
  /** The last few checks, oldest first. */
  recentChecks(): CheckRecord[];
  /** Findings from the last read and from live traffic. */
  current(): Finding[];
  /** A problem a request showed (a reason), for live findings. */
  report(problem: string): void;
  /** An unknown cookie_id may be a user created since the last read: refresh soon, rate-limited. */
  refreshOnMiss(): void;
  /** Settles after a read that started after this call, so it sees what the hub committed before it. */
  freshCheck(): Promise<void>;
  /** Asked before the hub deletes a user route: true to hold the deletion back. */
  holdDelete(userRoutes: number): Promise<boolean>;
  /** Extra readiness details (where the state comes from). */
  readiness(): Record<string, string>;
}
