// Front mode: the hub configures an existing proxy (CHP), and hub-guard, in front of it, learns who owns which
// route by polling that proxy's REST API. The route table is then used for decisions only; forwarding goes upstream.
import http from 'node:http';
import https from 'node:https';
import { log } from '../log.js';
import type { RouteTable } from './route-table.js';

export interface UpstreamRoutesOptions { api: string; token?: string; pollMs: number; timeoutMs?: number }

function fetchRoutes(o: UpstreamRoutesOptions): Promise<Record<string, Record<string, unknown>>> {
  const url = new URL('/api/routes', o.api);
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.get(url, { headers: o.token ? { Authorization: `token ${o.token}` } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`upstream API answered ${res.statusCode}`));
        try {
          const parsed = JSON.parse(body) as unknown;
          if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a route table');
          resolve(parsed as Record<string, Record<string, unknown>>);
        } catch (e) {
          reject(new Error(`upstream API sent no route table: ${(e as Error).message}`));
        }
      });
    });
    req.setTimeout(o.timeoutMs ?? 5000, () => req.destroy(new Error('upstream API timed out')));
    req.on('error', reject);
  });
}

/** Mirrors the upstream's routes into `routes`; on failure the last known table stays, so decisions go on. */
export class UpstreamRoutes {
  private timer?: NodeJS.Timeout;
  lastOk = 0;
  lastError?: string;

  constructor(private readonly routes: RouteTable, private readonly o: UpstreamRoutesOptions) {}

  async poll(): Promise<void> {
    try {
      const remote = await fetchRoutes(this.o);
      const seen = new Set<string>();
      for (const [prefix, data] of Object.entries(remote)) {
        if (typeof data?.target !== 'string') continue;
        const { last_activity: _ignored, ...rest } = data;
        const existing = this.routes.get(prefix);
        seen.add(existing?.prefix ?? prefix);
        // re-adding an unchanged route would make it look new (and newer routes lose target conflicts)
        if (existing && JSON.stringify(existing.data) === JSON.stringify(rest)) continue;
        try {
          this.routes.add(prefix, rest as Record<string, unknown> & { target: string });
        } catch {
          log.warn('upstream route with a bad target skipped', { route: prefix });
        }
      }
      for (const r of [...this.routes.all()]) if (!seen.has(r.prefix)) this.routes.remove(r.prefix);
      this.lastOk = Date.now();
      this.lastError = undefined;
    } catch (e) {
      if (this.lastError !== (e as Error).message) log.warn('polling the upstream proxy API failed; keeping the last known routes', { error: (e as Error).message });
      this.lastError = (e as Error).message;
    }
  }

  start(): Promise<void> {
    const tick = () => {
      this.timer = setTimeout(() => void this.poll().finally(tick), this.o.pollMs);
      this.timer.unref();
    };
    return this.poll().finally(tick);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
