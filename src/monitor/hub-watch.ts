// What the request path, the APIs and the status page know of the hub database's health: the watchdog in this
// process, or a `hub-guard watch` process elsewhere whose reports come through the shared store.
import type { Baseline, Finding } from '../hubdb/checks.js';

export type DbState = 'starting' | 'waiting' | 'healthy' | 'unhealthy' | 'unreachable';

export interface CheckTime { at: number; ms: number; error?: string }

export interface HubWatch {
  readonly state: DbState;
  readonly lastCheck?: CheckTime;
  readonly baseline: Baseline | null;
  start(): Promise<void>;
  stop(): void;
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
