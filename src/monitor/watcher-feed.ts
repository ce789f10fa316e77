// The proxy's side of the proxy/watcher split (--watcher): the hub database's state, findings and users index as a
// `hub-guard watch` process reports them through the shared store (see watcher-report.ts). While the watcher is
// away (its pod restarting with the hub), the proxy keeps the last index and state it had, and says so in readiness
// and in hub_guard_watcher_up.
import { baselineFrom, type Baseline, type Finding } from '../hubdb/checks.js';
import { decodeView } from '../identity/hub-view.js';
import type { UsersIndex } from '../identity/users-index.js';
import { log } from '../log.js';
import { metrics, registerWatcherMetrics } from '../metrics.js';
import { newItemId, type StateStore } from '../state/store.js';
import { remember, type CheckRecord, type CheckTime, type DbState, type HubWatch } from './hub-watch.js';
import { LiveFindings, deletionsSuspect } from './live-findings.js';
import type { Maintenance } from './maintenance.js';
import { INDEX_KEY, REPORT_KEY, REQUEST_KEY, reportOf, type WatchRequest, type WatcherReport } from './watcher-report.js';

export interface WatcherFeedOptions {
  store: StateStore;
  users: UsersIndex;
  maintenance: Maintenance;
}

/** A fresh read the watcher does not answer in this time is given up on (the caller decides on what it has). */
const FRESH_WAIT_MS = 2000;
const MISS_REFRESH_MS = 2000;
/** Missed reports before the watcher counts as away; the slack covers a slow check and the store's delivery. */
const AWAY_AFTER_INTERVALS = 3;
const AWAY_SLACK_MS = 1000;

export class WatcherFeed implements HubWatch {
  private last?: WatcherReport;
  /** When this process last heard from the watcher, by its own clock (the watcher's may differ). */
  private heardAt = 0;
  baseline: Baseline | null = null;
  private readonly live: LiveFindings;
  /** Fresh-read requests sent and not yet answered, by id. */
  private waiting = new Map<string, () => void>();
  private pending?: Promise<void>;
  private lastMissRefresh = 0;
  private timer?: NodeJS.Timeout;
  private wasAway = false;
  /** The watcher's checks as its reports named them; a report repeats its last check until the next one. */
  private recent: CheckRecord[] = [];

  constructor(private readonly o: WatcherFeedOptions) {
    this.live = new LiveFindings({
      latch: (critical) => void o.maintenance.latch(critical, 'proxy'),
      refresh: () => this.refreshOnMiss(),
    });
  }

  async start(): Promise<void> {
    registerWatcherMetrics();
    const { store } = this.o;
    store.watch<unknown>(INDEX_KEY, (doc) => this.adoptIndex(doc));
    store.watch<unknown>(REPORT_KEY, (doc) => this.adoptReport(doc));
    store.watch<Baseline>('baseline', (doc) => { if (doc) this.baseline = baselineFrom(doc); });
    this.adoptIndex(await store.load(INDEX_KEY));
    this.adoptReport(await store.load(REPORT_KEY));
    const saved = await store.load<Baseline>('baseline');
    if (saved) this.baseline = baselineFrom(saved);
    this.timer = setInterval(() => this.publishUp(), 1000);
    this.timer.unref();
    this.publishUp();
  }

  stop(): void {
    clearInterval(this.timer);
    for (const settle of this.waiting.values()) settle();
  }

  /** Before the first report the database's state is unknown, and treated as a database that cannot be read. */
  get state(): DbState {
    return this.last?.state ?? 'unreachable';
  }

  get lastCheck(): CheckTime | undefined {
    return this.last?.lastCheck;
  }

  get away(): boolean {
    const r = this.last;
    return !r || Date.now() - this.heardAt > AWAY_AFTER_INTERVALS * r.intervalMs + AWAY_SLACK_MS;
  }

  current(): Finding[] {
    const findings = this.last ? [...this.last.findings] : [{ check: 'watcher-unseen', severity: 'warning' as const, message: 'No report from the hub-guard watch process yet: nobody can be identified until it has read the hub database.' }];
    return [...findings, ...this.live.list()];
  }

  recentChecks(): CheckRecord[] {
    return [...this.recent];
  }

  report(problem: string): void {
    this.live.report(problem);
  }

  refreshOnMiss(): void {
    const now = Date.now();
    if (now - this.lastMissRefresh < MISS_REFRESH_MS || this.away) return;
    this.lastMissRefresh = now;
    this.ask(newItemId());
  }

  /** Callers arriving while a request is out share it: the watcher coalesces fresh reads anyway. */
  freshCheck(): Promise<void> {
    if (this.away) return Promise.resolve();
    this.pending ??= new Promise<void>((resolve) => {
      const id = newItemId();
      const timer = setTimeout(() => settle(), FRESH_WAIT_MS);
      const settle = () => {
        clearTimeout(timer);
        this.waiting.delete(id);
        this.pending = undefined;
        resolve();
      };
      this.waiting.set(id, settle);
      this.ask(id);
    });
    return this.pending;
  }

  async holdDelete(userRoutes: number): Promise<boolean> {
    await this.freshCheck();
    // an away watcher alone is not suspect: it restarts with the hub, which deletes a stale route or two on start
    return this.live.holdDelete(userRoutes, deletionsSuspect(this.state, this.o.maintenance));
  }

  readiness(): Record<string, string> {
    const r = this.last;
    if (!r) return { watcher: 'never seen' };
    return { watcher: this.away ? 'away' : 'up', watcher_last_report: new Date(this.heardAt).toISOString() };
  }

  private ask(id: string): void {
    const request: WatchRequest = { id };
    this.o.store.save(REQUEST_KEY, request).catch(() => this.waiting.get(id)?.());
  }

  private adoptIndex(doc: unknown): void {
    // a vanished document (Redis restarted empty) is no news: the last index stays
    if (doc === undefined || doc === null) return;
    const view = decodeView(doc);
    if (!view) {
      log.warn('ignoring a users index in the state store that this version cannot read', { key: INDEX_KEY });
      return;
    }
    this.o.users.load(view);
    this.settleAnswered();
  }

  private adoptReport(doc: unknown): void {
    if (doc === undefined || doc === null) return;
    const r = reportOf(doc);
    if (!r) {
      log.warn('ignoring a watcher report in the state store that this version cannot read', { key: REPORT_KEY });
      return;
    }
    this.last = r;
    this.heardAt = Date.now();
    const c = r.lastCheck;
    if (c && typeof c.at === 'number' && typeof c.ms === 'number' && this.recent.at(-1)?.at !== c.at) {
      const critical = r.findings.filter((f) => f.severity === 'critical').length;
      remember(this.recent, { at: c.at, ms: c.ms, error: typeof c.error === 'string' ? c.error : undefined, state: r.state, critical, warnings: r.findings.length - critical });
    }
    metrics.watcherLastReport.set(r.at / 1000);
    this.publishUp();
    this.settleAnswered();
  }

  /** A fresh read counts once both its answer and the index it produced have arrived. */
  private settleAnswered(): void {
    const r = this.last;
    if (!r || this.o.users.loadedAt < r.indexAt) return;
    for (const id of r.answered) this.waiting.get(id)?.();
  }

  private publishUp(): void {
    const away = this.away;
    metrics.watcherUp.set(away ? 0 : 1);
    if (away !== this.wasAway && this.last) log.warn(away ? 'the hub-guard watch process is away; keeping its last state' : 'the hub-guard watch process is back');
    this.wasAway = away;
  }
}
