// What the operators' status page shows: what /api/guard/status says, plus refusals per minute over the last hour,
// the watchdog's recent checks, the replicas sharing the state, and for each finding what to do. The page itself,
// its sign-in and its forms are the console (console.ts).
import { adviceFor, commandsFor, type CommandContext } from '../doctor/advice.js';
import { metrics } from '../metrics.js';
import type { Replicas } from '../monitor/replicas.js';
import type { RefusalSeries, StatusRoute, StatusView } from '../pages/status.js';
import type { OperatorDeps } from './operator.js';

const MINUTE = 60_000;
const WINDOW_MINUTES = 60;

export interface StatusPageDeps extends OperatorDeps {
  /** Defaults to one that samples hub_guard_blocked_total every minute from the moment the router is made. */
  refusals?: RefusalHistory;
  /** Defaults to the host name (the pod name on Kubernetes). */
  instance?: string;
  /** The heartbeats of the processes sharing the state; without it the page has no replicas section. */
  replicas?: Replicas;
  /** What the findings' commands name: the hub database and the backup directory. */
  commands?: CommandContext;
}

/** Totals of a counter by one label, e.g. hub_guard_blocked_total by reason. */
export type CounterReader = () => Promise<Map<string, number>>;

export const readBlockedTotals: CounterReader = async () => {
  const { values } = await metrics.blocked.get();
  return new Map(values.map((v) => [String(v.labels.reason ?? ''), v.value]));
};

/**
 * Refusals per minute by reason, from the refusal counter read once a minute: the request path stays untouched.
 * Each reading's increase belongs to the minute the previous reading was taken in; readings are aligned to minute
 * boundaries, so that is the minute the refusals happened in. A page also peeks at the increase since the last
 * reading, so the current minute is never empty.
 */
export class RefusalHistory {
  /** When counting began: minutes before it are unknown, not quiet. */
  readonly since: number;
  private buckets = new Map<number, Map<string, number>>();
  private last = new Map<string, number>();
  private lastAt: number;
  private timer?: NodeJS.Timeout;
  private readonly primed: Promise<void>;

  constructor(private readonly read: CounterReader = readBlockedTotals, now = Date.now()) {
    this.since = now;
    this.lastAt = now;
    // what was counted before now is not this history's; if even that reading fails, it starts from zero
    this.primed = read().then((totals) => {
      this.last = totals;
    }, () => undefined);
  }

  /** Starts reading every minute, on the minute; the timers never keep the process alive. */
  start(): this {
    const tick = () => void this.sample();
    const first = setTimeout(() => {
      tick();
      this.timer = setInterval(tick, MINUTE);
      this.timer.unref();
    }, MINUTE - (Date.now() % MINUTE));
    first.unref();
    this.timer = first;
    return this;
  }

  stop(): void {
    // one call clears either: Node's timeouts and intervals are the same kind of object
    clearInterval(this.timer);
  }

  async sample(now = Date.now()): Promise<void> {
    await this.primed;
    let totals: Map<string, number>;
    try {
      totals = await this.read();
    } catch {
      return; // the next reading covers this minute too
    }
    const minute = Math.floor(this.lastAt / MINUTE);
    this.add(this.buckets, minute, this.increase(totals));
    this.last = totals;
    this.lastAt = now;
    for (const m of this.buckets.keys()) if (m <= Math.floor(now / MINUTE) - WINDOW_MINUTES) this.buckets.delete(m);
  }

  /** The last hour, ending with the current minute. */
  async series(now = Date.now()): Promise<RefusalSeries> {
    await this.primed;
    const buckets = new Map([...this.buckets].map(([m, counts]) => [m, new Map(counts)]));
    try {
      this.add(buckets, Math.floor(this.lastAt / MINUTE), this.increase(await this.read()));
    } catch {
      // show what was sampled; the peek is a nicety
    }
    const first = Math.floor(now / MINUTE) - WINDOW_MINUTES + 1;
    const byReason = new Map<string, number[]>();
    for (const [minute, counts] of buckets) {
      const i = minute - first;
      if (i < 0 || i >= WINDOW_MINUTES) continue;
      for (const [reason, n] of counts) {
        let row = byReason.get(reason);
        if (!row) byReason.set(reason, (row = new Array<number>(WINDOW_MINUTES).fill(0)));
        row[i]! += n;
      }
    }
    return { start: first * MINUTE, since: this.since, reasons: [...byReason].map(([reason, counts]) => ({ reason, counts })) };
  }

  private increase(totals: Map<string, number>): Map<string, number> {
    const out = new Map<string, number>();
    for (const [reason, total] of totals) {
      const before = this.last.get(reason) ?? 0;
      // a counter only falls when it was reset; then everything it holds is new
      const n = total >= before ? total - before : total;
      if (n > 0) out.set(reason, n);
    }
    return out;
  }

  private add(buckets: Map<number, Map<string, number>>, minute: number, counts: Map<string, number>): void {
    if (counts.size === 0) return;
    const bucket = buckets.get(minute) ?? new Map<string, number>();
    for (const [reason, n] of counts) bucket.set(reason, (bucket.get(reason) ?? 0) + n);
    buckets.set(minute, bucket);
  }
}

/** Everything the page shows, read now. */
export async function statusView(d: StatusPageDeps, refusals: RefusalHistory, instance: string): Promise<StatusView> {
  const now = Date.now();
  const w = d.watch;
  const m = d.maintenance.current;
  const routes: StatusRoute[] = [...d.routes.all()].map((r) => {
    const data = r.data;
    const kind: StatusRoute['kind'] = r.owner !== undefined ? 'user' : data.hub ? 'hub' : typeof data.service === 'string' ? 'service' : 'other';
    return {
      prefix: r.prefix,
      kind,
      name: kind === 'user' ? r.owner : kind === 'service' ? (data.service as string) : undefined,
      target: r.data.target,
      lastActivity: r.lastActivity,
      refused: r.owner !== undefined && d.conflicts.isSuspect(r),
    };
  });
  return {
    now,
    instance,
    maintenance: m && { mode: m.mode, reason: m.reason, since: m.since, by: m.by, findings: m.findings },
    history: await d.maintenance.history(),
    db: w && { state: w.state, lastCheck: w.lastCheck, findings: w.current().map((f) => ({ ...f, advice: adviceFor(f.check), commands: commandsFor(f.check, d.commands ?? {}) })) },
    checks: w?.recentChecks(),
    replicas: d.replicas && (await d.replicas.seen(now)),
    baseline: w?.baseline ? { highWater: w.baseline.highWater, users: Object.keys(w.baseline.users).length, updatedAt: w.baseline.updatedAt } : undefined,
    routes,
    conflicts: d.conflicts.list(),
    refusals: await refusals.series(now),
    store: d.store && { where: d.store.description, up: d.store.up },
  };
}
