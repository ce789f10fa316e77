// The route table in the state store: restored at start, so a restarted hub-guard serves users before the hub's next
// route check, and shared with Redis, so a route the hub adds or deletes through any replica's API is applied by all.
// last_activity travels as the field's mark: written at most once per route per interval, newest wins.
import { log } from '../log.js';
import type { RouteTable } from '../proxy/route-table.js';
import type { StateStore } from '../state/store.js';

interface SavedRoute { data: Record<string, unknown> & { target: string }; lastActivity: number; addedAt: number }

const MAP = 'routes';

export interface RouteSync {
  /** Applies a change to this process's table only (the --default-target route, which every replica adds itself). */
  locally(change: () => void): void;
  /** Writes newer last_activity values now and takes the newest known to the store. */
  flush(): Promise<void>;
  stop(): void;
}

function isSaved(v: unknown): v is SavedRoute {
  const data = (v as SavedRoute | null)?.data;
  return typeof data === 'object' && data !== null && typeof data.target === 'string';
}

export async function syncRoutes(store: StateStore, routes: RouteTable, activityMs: number): Promise<RouteSync> {
  let applying = false;
  const locally = (change: () => void) => {
    applying = true;
    try {
      change();
    } finally {
      applying = false;
    }
  };
  /** The newest last_activity this process wrote or learned, per route: only newer ones are written. */
  const sent = new Map<string, number>();

  const apply = (prefix: string, saved: unknown, mark = 0) => locally(() => {
    if (saved === undefined) {
      routes.remove(prefix);
      sent.delete(prefix);
      return;
    }
    if (!isSaved(saved)) {
      log.warn('skipping a stored route without a target', { route: prefix });
      return;
    }
    const lastActivity = Math.max(Number(saved.lastActivity) || 0, mark, routes.get(prefix)?.lastActivity ?? 0) || Date.now();
    try {
      routes.add(prefix, saved.data, lastActivity, Number(saved.addedAt) || Date.now());
      sent.set(prefix, lastActivity);
    } catch {
      log.warn('skipping a stored route with a bad target', { route: prefix });
    }
  });

  const snapshot = await store.mapAll<unknown>(MAP);
  for (const [prefix, saved] of Object.entries(snapshot.values)) apply(prefix, saved, snapshot.marks[prefix]);
  store.watchMap<unknown>(MAP, (prefix, saved) => apply(prefix, saved));

  const failed = (e: unknown) => log.error('saving a route failed', { error: String(e) });
  routes.onChange((e) => {
    if (applying) return;
    if (e.kind === 'add') {
      const r = e.route;
      sent.set(r.prefix, r.lastActivity);
      store.mapSet(MAP, r.prefix, { data: r.data, lastActivity: r.lastActivity, addedAt: r.addedAt } satisfies SavedRoute).catch(failed);
    } else {
      sent.delete(e.prefix);
      store.mapDelete(MAP, e.prefix).catch(failed);
    }
  });

  let running: Promise<void> | undefined;
  const exchange = async () => {
    const newer: Record<string, number> = {};
    for (const r of routes.all()) if (r.lastActivity > (sent.get(r.prefix) ?? 0)) newer[r.prefix] = r.lastActivity;
    const marks = await store.touch(MAP, newer);
    for (const [prefix, t] of Object.entries(marks)) {
      const r = routes.get(prefix);
      if (!r) continue;
      if (t > r.lastActivity) r.lastActivity = t;
      sent.set(prefix, Math.max(sent.get(prefix) ?? 0, t));
    }
  };
  const flush = () => {
    running ??= exchange().catch((e) => log.error('sharing last_activity failed', { error: String(e) })).finally(() => { running = undefined; });
    return running;
  };
  const tick = setInterval(() => void flush(), activityMs);
  tick.unref();

  return {
    locally,
    flush,
    stop: () => clearInterval(tick),
  };
}
