// The operators' API on the API port: maintenance on/off/status and the guard's status.
import express, { Router } from 'express';
import type { HubWatch } from '../monitor/hub-watch.js';
import type { Maintenance } from '../monitor/maintenance.js';
import type { RouteTable } from '../proxy/route-table.js';
import type { TargetConflicts } from '../proxy/target-conflicts.js';
import { requireToken } from './auth.js';

export interface OperatorDeps {
  maintenance: Maintenance;
  watch?: HubWatch;
  routes: RouteTable;
  conflicts: TargetConflicts;
  tokens: () => (string | undefined)[];
  /** Where the state lives and whether it is reachable (a shared store may be down while this process serves on). */
  store?: { readonly description: string; readonly up: boolean };
}

export function operatorApi(d: OperatorDeps): Router {
  const router = Router();
  router.use(requireToken(d.tokens));
  router.use(express.json({ limit: '16kb', type: () => true }));

  const maintenanceJson = () => {
    const m = d.maintenance.current;
    return m ? { on: true, ...m, since: new Date(m.since).toISOString() } : { on: false };
  };

  router.get('/maintenance', (_req, res) => {
    res.json(maintenanceJson());
  });

  router.put('/maintenance', async (req, res) => {
    const reason = (req.body as { reason?: unknown } | undefined)?.reason;
    if (typeof reason !== 'string' || !reason.trim() || reason.length > 2000) {
      res.status(400).json({ error: "body must be JSON like {\"reason\": \"…\"} with a non-empty reason (at most 2000 characters)" });
      return;
    }
    await d.maintenance.on('manual', reason.trim(), by(req));
    res.json(maintenanceJson());
  });

  router.delete('/maintenance', async (req, res) => {
    const reason = (req.body as { reason?: unknown } | undefined)?.reason;
    await d.maintenance.off(by(req), typeof reason === 'string' && reason.trim() ? reason.trim() : 'cleared by an operator');
    res.json(maintenanceJson());
  });

  router.get('/status', async (_req, res) => {
    const w = d.watch;
    res.json({
      maintenance: maintenanceJson(),
      state_store: d.store ? { where: d.store.description, status: d.store.up ? 'up' : 'degraded' } : undefined,
      history: (await d.maintenance.history()).slice(-50),
      db: w ? { state: w.state, last_check: w.lastCheck && { ...w.lastCheck, at: new Date(w.lastCheck.at).toISOString() }, findings: w.current() } : { state: 'not configured (--hub-db)' },
      baseline: w?.baseline ? { high_water: w.baseline.highWater, users: Object.keys(w.baseline.users).length, updated_at: new Date(w.baseline.updatedAt).toISOString() } : null,
      routes: [...d.routes.all()].map((r) => ({ prefix: r.prefix, owner: r.owner, target: r.data.target, last_activity: new Date(r.lastActivity).toISOString() })),
      target_conflicts: d.conflicts.list(),
    });
  });

  router.use((err: Error & { status?: number; type?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(err.status && err.status < 500 ? err.status : 500).json({ error: err.type === 'entity.parse.failed' ? 'body is not valid JSON' : err.message });
  });
  return router;
}

/** Who made a change, for the audit trail: the caller says who they are; the token proved they may. */
function by(req: express.Request): string {
  const who = req.headers['x-hub-guard-operator-name'];
  const name = typeof who === 'string' && who.trim() ? who.trim().slice(0, 100) : 'operator';
  return `${name} via API from ${req.socket.remoteAddress ?? 'unknown'}`;
}
