// Two user routes pointing at one target (a reused pod IP) can send one user into another's server:
// the newer route is suspect until the older one is gone.
import { log } from '../log.js';
import type { Route, RouteTable } from './route-table.js';

export class TargetConflicts {
  private suspects = new Set<Route>();
  private dirty = true;

  constructor(private readonly routes: RouteTable) {
    routes.onChange(() => {
      this.dirty = true;
    });
  }

  /** Recomputed lazily after changes, so restoring 10k routes costs one pass, not 10k. */
  isSuspect(route: Route): boolean {
    if (this.dirty) this.recompute();
    return this.suspects.size > 0 && this.suspects.has(route);
  }

  list(): { target: string; routes: string[] }[] {
    if (this.dirty) this.recompute();
    const byTarget = new Map<string, string[]>();
    for (const r of this.routes.all()) {
      if (!r.owner) continue;
      const list = byTarget.get(r.data.target) ?? [];
      list.push(r.prefix);
      byTarget.set(r.data.target, list);
    }
    return [...byTarget].filter(([, prefixes]) => prefixes.length > 1).map(([target, prefixes]) => ({ target, routes: prefixes }));
  }

  private recompute(): void {
    this.dirty = false;
    const oldest = new Map<string, Route>();
    const suspects = new Set<Route>();
    for (const r of this.routes.all()) {
      // only user routes: services and the hub may legitimately share a target
      if (!r.owner) continue;
      const key = r.data.target;
      const first = oldest.get(key);
      if (!first) {
        oldest.set(key, r);
      } else if (first.owner !== r.owner) {
        const [older, newer] = first.addedAt <= r.addedAt ? [first, r] : [r, first];
        oldest.set(key, older);
        suspects.add(newer);
      }
    }
    for (const r of suspects) {
      if (!this.suspects.has(r)) log.warn('two users\' routes point at one target; refusing the newer', { route: r.prefix, target: r.data.target });
    }
    this.suspects = suspects;
  }
}
