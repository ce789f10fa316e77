// The watcher's side of the proxy/watcher split. `hub-guard watch` reads the hub database beside the hub and hands
// the proxies (run with --watcher) what they would otherwise read themselves, through the shared store:
//   hub-index       the users and grants index (cookie_ids as keyed hashes), written when the database changed;
//   watcher         a report after every check: state, findings, the index it matches, fresh reads it answered;
//   watch-request   a proxy asking for a fresh read (a share code just accepted, an unknown cookie_id).
// Maintenance and the baseline are already shared documents; the watcher writes them as a watchdog does.
import { hostname } from 'node:os';
import type { HubSnapshot } from '../hubdb/snapshot.js';
import type { Finding } from '../hubdb/checks.js';
import { encodeView } from '../identity/hub-view.js';
import { CookieIdHasher } from '../identity/users-index.js';
import { log } from '../log.js';
import type { StateStore } from '../state/store.js';
import type { CheckTime, DbState, HubWatch } from './hub-watch.js';

export const INDEX_KEY = 'hub-index';
export const REPORT_KEY = 'watcher';
export const REQUEST_KEY = 'watch-request';

export interface WatcherReport {
  /** ms epoch, the watcher's clock */
  at: number;
  /** Its check interval: a report older than a few of these means the watcher is away. */
  intervalMs: number;
  state: DbState;
  lastCheck?: CheckTime;
  findings: Finding[];
  /** takenAt of the index that goes with this state */
  indexAt: number;
  /** Ids of the latest fresh-read requests it answered. */
  answered: string[];
  instance: string;
}

export interface WatchRequest { id: string }

const ANSWERED_KEEP = 32;
const STATES: readonly DbState[] = ['starting', 'waiting', 'healthy', 'unhealthy', 'unreachable'];

/** A report as read from the store, or undefined when it is not one. */
export function reportOf(doc: unknown): WatcherReport | undefined {
  const r = doc as Partial<WatcherReport> | null | undefined;
  if (typeof r !== 'object' || r === null) return undefined;
  if (typeof r.at !== 'number' || typeof r.intervalMs !== 'number' || typeof r.indexAt !== 'number') return undefined;
  if (!STATES.includes(r.state as DbState) || !Array.isArray(r.findings) || !Array.isArray(r.answered)) return undefined;
  const findings = r.findings.filter((f): f is Finding => typeof f?.check === 'string' && (f.severity === 'critical' || f.severity === 'warning') && typeof f.message === 'string');
  return { ...r, findings, answered: r.answered.filter((a) => typeof a === 'string') } as WatcherReport;
}

export class WatcherPublisher {
  private readonly hasher: CookieIdHasher;
  private indexAt = 0;
  private answered: string[] = [];
  private readonly instance = `${hostname()}:${process.pid}`;

  constructor(private readonly store: StateStore, key: Buffer, private readonly intervalMs: number) {
    this.hasher = new CookieIdHasher(key);
  }

  /** The watchdog's sink for changed snapshots. */
  update(s: HubSnapshot): void {
    this.indexAt = s.takenAt;
    this.save(INDEX_KEY, encodeView(this.hasher.viewOf(s)));
  }

  /** Answers proxies' requests for a fresh read with one, then a report that names them. */
  serve(watch: HubWatch): void {
    this.store.watch<WatchRequest>(REQUEST_KEY, (r) => {
      if (typeof r?.id !== 'string') return;
      const id = r.id.slice(0, 64);
      void watch.freshCheck().then(() => {
        this.answered = [...this.answered.slice(1 - ANSWERED_KEEP), id];
        this.report(watch);
      });
    });
  }

  report(watch: HubWatch): void {
    const report: WatcherReport = {
      at: Date.now(),
      intervalMs: this.intervalMs,
      state: watch.state,
      lastCheck: watch.lastCheck,
      findings: watch.current(),
      indexAt: this.indexAt,
      answered: this.answered,
      instance: this.instance,
    };
    this.save(REPORT_KEY, report);
  }

  private save(key: string, value: unknown): void {
    // the store keeps what it could not send and sends it when Redis answers again
    this.store.save(key, value).catch((e: Error) => log.warn('could not publish to the state store', { key, error: e.message }));
  }
}
