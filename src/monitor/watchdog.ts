// Reads the hub DB in the background (every few seconds, and at once when a sqlite file is replaced), turns each read
// into findings, feeds the identity index, and latches maintenance on anything critical.
import { watch, statSync, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { log } from '../log.js';
import { metrics } from '../metrics.js';
import type { Maintenance } from './maintenance.js';
import type { StateStore } from '../state/store.js';
import type { Config } from '../config.js';
import { DEFAULT_CHECK_OPTIONS, baselineFrom, checkSnapshot, nextBaseline, type Baseline, type CheckOptions, type Finding } from '../hubdb/checks.js';
import type { HubDb, HubSnapshot } from '../hubdb/snapshot.js';
import { maybeBackup, type BackupPolicy, type SkipReason } from '../doctor/backups.js';
import { remember, type CheckRecord, type CheckTime, type DbState, type HubWatch } from './hub-watch.js';
import { LiveFindings, deletionsSuspect } from './live-findings.js';

export type { DbState } from './hub-watch.js';

export interface WatchdogOptions {
  db: HubDb;
  store: StateStore;
  maintenance: Maintenance;
  /** Gets every snapshot that differs from the last: the users index here, or the watcher's publisher. */
  users: { update(s: HubSnapshot): void };
  /** Called after every check, whatever its outcome. */
  onCheck?: () => void;
  intervalMs: number;
  unreachableChecks: number;
  checks: CheckOptions;
  /** Healthy checks in a row that clear automatic maintenance; undefined = only an operator clears it. */
  autoRecoverChecks?: number;
  /** Unknown-cookie_id sightings per minute that count as a burst (a rebuilt users table looks like this). */
  unknownCookieBurst?: number;
  /** Verified online copies of a sqlite DB, taken after healthy reads while there is room for them. */
  backup?: BackupPolicy;
  /** Share of the user routes the hub may delete within a minute before further deletions are held back. */
  massDeleteShare?: number;
}

/** The watchdog's flags, for the proxy's own watchdog and for `hub-guard watch` alike. */
export function watchdogSettings(cfg: Config): Pick<WatchdogOptions, 'intervalMs' | 'unreachableChecks' | 'checks' | 'autoRecoverChecks' | 'backup'> {
  return {
    intervalMs: cfg.dbCheckIntervalMs,
    unreachableChecks: cfg.dbUnreachableChecks,
    checks: { ...DEFAULT_CHECK_OPTIONS, maxUserDrop: cfg.maxUserDrop, maxIdChanges: cfg.maxIdChanges },
    autoRecoverChecks: cfg.autoRecoverChecks,
    backup: cfg.backup,
  };
}

export class Watchdog implements HubWatch {
  state: DbState = 'starting';
  findings: Finding[] = [];
  baseline: Baseline | null = null;
  lastCheck?: CheckTime;
  private failures = 0;
  private healthyStreak = 0;
  private timer?: NodeJS.Timeout;
  private watcher?: FSWatcher;
  private fileId?: { ino: number; size: number };
  /** The current verdict comes from a snapshot (false after a failed read). */
  private judged = false;
  /** The baseline learned from the last snapshot, so the same content may now be judged differently. */
  private relearn = false;
  /** That snapshot, kept only while `relearn` asks for one more pass: 10k users' rows are megabytes. */
  private relearnFrom?: HubSnapshot;
  private running?: Promise<void>;
  private fresh?: Promise<void>;
  private stopped = false;
  private readonly live: LiveFindings;
  private lastMissRefresh = 0;
  /** Why the last due copy was skipped, until one is taken: a full volume is told once, not every interval. */
  private backupSkip?: SkipReason;
  private recent: CheckRecord[] = [];

  constructor(private readonly o: WatchdogOptions) {
    this.live = new LiveFindings({
      latch: (critical) => void this.latch(critical),
      refresh: () => this.refreshOnMiss(),
      unknownCookieBurst: o.unknownCookieBurst,
      massDeleteShare: o.massDeleteShare,
    });
  }

  async start(): Promise<void> {
    const saved = await this.o.store.load<Baseline>('baseline');
    this.baseline = saved ? baselineFrom(saved) : null;
    await this.checkNow();
    this.watchFile();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.watcher?.close();
  }

  /** One check at a time; callers arriving meanwhile share it. */
  checkNow(): Promise<void> {
    this.running ??= this.check().finally(() => {
      this.running = undefined;
      this.schedule();
      this.o.onCheck?.();
    });
    return this.running;
  }

  /**
   * A check that starts after this call, so it sees what the hub committed before it: a check already running may
   * have read too early. Callers arriving while one waits to start share it.
   */
  freshCheck(): Promise<void> {
    this.fresh ??= (this.running ?? Promise.resolve()).then(() => {
      this.fresh = undefined;
      return this.checkNow();
    });
    return this.fresh;
  }

  /** An unknown cookie_id may be a user created since the last read: refresh, at most every 2 s. */
  refreshOnMiss(): void {
    const now = Date.now();
    if (now - this.lastMissRefresh < 2000) return;
    this.lastMissRefresh = now;
    void this.checkNow();
  }

  report(problem: string): void {
    this.live.report(problem);
  }

  async holdDelete(userRoutes: number): Promise<boolean> {
    if (!this.lastCheck || Date.now() - this.lastCheck.at > 1000) await this.checkNow();
    return this.live.holdDelete(userRoutes, deletionsSuspect(this.state, this.o.maintenance));
  }

  current(): Finding[] {
    return [...this.findings, ...this.live.list()];
  }

  recentChecks(): CheckRecord[] {
    return [...this.recent];
  }

  readiness(): Record<string, string> {
    return {};
  }

  private latch(critical: Finding[]): Promise<void> {
    this.healthyStreak = 0;
    return this.o.maintenance.latch(critical, 'watchdog');
  }

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.checkNow(), this.o.intervalMs);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    const started = Date.now();
    const end = metrics.dbCheckSeconds.startTimer();
    let findings: Finding[];
    try {
      let snapshot = await this.o.db.readIfChanged();
      // "unchanged" is only worth something next to a snapshot this watchdog judged (the reader resets after errors too)
      if (!snapshot && !this.judged) snapshot = await this.o.db.read();
      const judging = snapshot ?? (this.relearn ? this.relearnFrom : undefined);
      this.failures = 0;
      if (snapshot) {
        this.o.users.update(snapshot);
        metrics.hubUsers.set(snapshot.users.length);
      }
      if (judging) {
        // after a verdict that taught the baseline something, the same content may be judged differently (waiting
        // becomes healthy, an accepted id change stops being reported): one more pass settles it
        this.judged = true;
        findings = await this.judge(judging);
        this.relearnFrom = this.relearn ? judging : undefined;
      } else {
        // nothing changed: the verdict stands, and the index needs no rebuild
        findings = this.findings;
        if (this.state === 'healthy') this.backup();
      }
      this.lastCheck = { at: started, ms: Date.now() - started };
    } catch (e) {
      const err = e as Error & { code?: string };
      this.judged = false;
      this.relearnFrom = undefined;
      this.lastCheck = { at: started, ms: Date.now() - started, error: err.message };
      findings = [];
      if (err.code === 'ENOENT' && !this.baseline) {
        // the hub creates its DB on first start: nothing to protect yet
        this.state = 'waiting';
      } else {
        this.failures++;
        this.state = 'unreachable';
        findings.push({
          check: 'unreachable',
          severity: this.failures >= this.o.unreachableChecks ? 'critical' : 'warning',
          message: `The hub database could not be read (${this.failures} check${this.failures > 1 ? 's' : ''} in a row): ${err.message}`,
        });
      }
    } finally {
      end();
    }
    this.publish(findings);
    const critical = findings.filter((f) => f.severity === 'critical');
    if (this.lastCheck) remember(this.recent, { ...this.lastCheck, state: this.state, critical: critical.length, warnings: findings.length - critical.length });
    if (critical.length) return this.latch(critical);
    if (this.state !== 'healthy') return;
    this.healthyStreak++;
    const m = this.o.maintenance.current;
    if (m?.mode === 'auto' && this.o.autoRecoverChecks && this.healthyStreak >= this.o.autoRecoverChecks) {
      this.live.clear();
      await this.o.maintenance.off('watchdog', `--auto-recover: ${this.healthyStreak} healthy checks in a row`);
    }
  }

  /** Findings and state for a snapshot; the baseline learns from it when it is healthy. */
  private async judge(snapshot: HubSnapshot): Promise<Finding[]> {
    let findings = checkSnapshot(snapshot, this.baseline, this.o.checks);
    const critical = findings.some((f) => f.severity === 'critical');
    this.state = critical ? 'unhealthy' : 'healthy';
    if (!this.baseline && snapshot.users.length === 0) {
      // never seen healthy and no users yet: a hub creating its DB on first start, not one that lost it
      // (with --state-dir the baseline survives restarts, so a wiped DB is still recognised)
      this.state = 'waiting';
      findings = [];
    }
    this.relearn = false;
    // baselines learn only from healthy reads: a wiped DB must never become the new normal
    if (!critical) {
      const next = nextBaseline(snapshot, this.baseline);
      // written only when it learned something: with 10k users a save every check is real work on the event loop
      if (!sameBaseline(this.baseline, next)) {
        await this.o.store.save('baseline', next);
        this.relearn = true;
      }
      this.baseline = next;
      if (this.state === 'healthy') this.backup();
    }
    return findings;
  }

  /** Not awaited: a slow copy never delays a check. */
  private backup(): void {
    const b = this.o.backup;
    if (!b || !this.o.db.file) return;
    maybeBackup(this.o.db.file, b).then(
      (done) => {
        if (done?.status === 'taken') {
          if (this.backupSkip) log.info('hub database backups resumed', { skipped: this.backupSkip });
          this.backupSkip = undefined;
          log.info('hub database backed up', { file: done.backup.file, users: done.backup.users, removed: done.removed.length });
        } else if (done?.status === 'skipped' && done.reason !== this.backupSkip) {
          this.backupSkip = done.reason;
          log.warn('hub database backup skipped', { reason: done.reason, message: done.message });
        }
      },
      (e: Error) => log.warn('hub database backup failed', { error: e.message }),
    );
  }

  private publish(findings: Finding[]): void {
    for (const f of this.findings) metrics.dbFindings.labels(f.check, f.severity).set(0);
    for (const f of findings) metrics.dbFindings.labels(f.check, f.severity).set(1);
    metrics.dbHealthy.set(this.state === 'healthy' ? 1 : 0);
    for (const f of findings) {
      if (!this.findings.some((o) => o.check === f.check && o.severity === f.severity)) log.warn('finding', { ...f });
    }
    this.findings = findings;
  }

  /** A replaced, renamed or truncated sqlite file is checked at once, not at the next tick. */
  private watchFile(): void {
    const file = this.o.db.file;
    if (!file) return;
    this.fileId = fileIdentity(file);
    try {
      this.watcher = watch(dirname(file), (_event, name) => {
        if (name && !String(name).startsWith(basename(file))) return;
        // the hub writes all the time; only a new inode (replaced, renamed) or a shrink (truncated) is news
        const id = fileIdentity(file);
        const was = this.fileId;
        this.fileId = id;
        if (!was || id.ino !== was.ino || id.size < was.size) void this.checkNow();
      });
      this.watcher.on('error', () => this.watcher?.close());
      this.watcher.unref();
    } catch (e) {
      log.warn('cannot watch the hub database file; relying on the check interval', { error: String(e) });
    }
  }
}

function sameBaseline(a: Baseline | null, b: Baseline): boolean {
  if (!a || a.highWater !== b.highWater) return false;
  const names = Object.keys(b.users);
  if (names.length !== Object.keys(a.users).length) return false;
  for (const n of names) if (a.users[n] !== b.users[n]) return false;
  return true;
}

function fileIdentity(file: string): { ino: number; size: number } {
  try {
    const s = statSync(file);
    return { ino: s.ino, size: s.size };
  } catch {
    return { ino: -1, size: -1 };
  }
}

