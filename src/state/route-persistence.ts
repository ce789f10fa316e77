// Keeps the route table in the state store, so a restarted hub-guard serves users before the hub's next route check.
import { log } from '../log.js';
import type { RouteTable } from '../proxy/route-table.js';
import type { StateStore } from './store.js';

interface SavedRoute { data: Record<string, unknown> & { target: string }; lastActivity: number; addedAt: number }

const KEY = 'routes';

export async function restoreRoutes(store: StateStore, routes: RouteTable): Promise<number> {
  const saved = (await store.load<Record<string, SavedRoute>>(KEY)) ?? {};
  for (const [prefix, r] of Object.entries(saved)) {
    try {
      routes.add(prefix, r.data, r.lastActivity, r.addedAt);
    } catch {
      log.warn('skipping a saved route with a bad target', { route: prefix });
    }
  }
  return routes.size;
}

/** Saves after changes (coalesced) and every `activityMs`, so last_activity survives without a write per request. */
export function persistRoutes(store: StateStore, routes: RouteTable, activityMs = 10_000): { flush(): Promise<void>; stop(): void } {
  let pending: NodeJS.Timeout | undefined;
  let saving = Promise.resolve();
  const flush = () => {
    pending = undefined;
    const doc: Record<string, SavedRoute> = {};
    for (const r of routes.all()) doc[r.prefix] = { data: { ...r.data }, lastActivity: r.lastActivity, addedAt: r.addedAt };
    saving = saving.then(() => store.save(KEY, doc)).catch((e) => log.error('saving routes failed', { error: String(e) }));
    return saving;
  };
  routes.onChange(() => {
    pending ??= setTimeout(flush, 50);
  });
  const tick = setInterval(flush, activityMs);
  tick.unref();
  return {
    flush: () => {
      if (pending) clearTimeout(pending);
      return flush();
    },
    stop: () => {
      clearInterval(tick);
      if (pending) clearTimeout(pending);
    },
  };
}
