// Maintenance: the switch that puts every proxied request on hold, flipped by operators or by the DB watchdog.
// Every change is one audit line (who, when, why, manual or automatic, which findings), logged and kept.
// The switch lives in the state store, so with Redis every replica flips together; its rules are applied inside an
// atomic update, so they hold across replicas too: a manual switch is never replaced by an automatic one, and a
// switch-off clears only the maintenance it was made against.
import { log } from '../log.js';
import { metrics } from '../metrics.js';
import type { Finding } from '../hubdb/checks.js';
import type { StateStore } from '../state/store.js';

export type MaintenanceMode = 'manual' | 'auto';

export interface MaintenanceState {
  mode: MaintenanceMode;
  reason: string;
  since: number;
  by: string;
  findings?: string[];
}

export interface AuditEntry {
  time: string;
  action: 'on' | 'off';
  mode: MaintenanceMode;
  by: string;
  reason: string;
  findings?: string[];
}

const KEY = 'maintenance';
const AUDIT = 'audit';
const AUDIT_KEEP = 1000;

type Stored = MaintenanceState | null;

const same = (a: MaintenanceState, b: MaintenanceState) => a.mode === b.mode && a.since === b.since;

export class Maintenance {
  current: MaintenanceState | undefined;
  private listeners: ((s: MaintenanceState | undefined) => void)[] = [];

  constructor(private readonly store: StateStore) {}

  async load(): Promise<void> {
    this.current = (await this.store.load<Stored>(KEY)) ?? undefined;
    this.store.watch<Stored>(KEY, (s) => this.adopt(s ?? undefined));
    this.publishMetric();
  }

  /** 'off', 'manual' or 'auto', as readiness and the replicas' heartbeats say it. */
  get mode(): MaintenanceMode | 'off' {
    return this.current ? this.current.mode : 'off';
  }

  /**
   * Automatic maintenance for critical findings, from the watchdog or a proxy's live findings. Never rejects: a
   * store that cannot be written is logged, and the next critical finding tries again.
   */
  async latch(critical: Finding[], by: string): Promise<void> {
    const why = critical.map((f) => f.message).join(' ');
    try {
      await this.on('auto', `The hub database needs attention: ${why}`, by, critical.map((f) => f.check));
    } catch (e) {
      log.error('could not switch maintenance on', { error: String(e) });
    }
  }

  onChange(listener: (s: MaintenanceState | undefined) => void): void {
    this.listeners.push(listener);
  }

  /** Takes a state that another replica or the store decided, without auditing it again. */
  adopt(state: MaintenanceState | undefined): void {
    this.current = state;
    this.publishMetric();
    for (const l of this.listeners) l(state);
  }

  async on(mode: MaintenanceMode, reason: string, by: string, findings?: string[]): Promise<MaintenanceState> {
    const state: MaintenanceState = { mode, reason, since: Date.now(), by, findings };
    let switched = false;
    const result = await this.store.update<Stored>(KEY, (cur) => {
      // an automatic switch never downgrades a manual one, and a repeat keeps the original start time
      switched = !(cur && (cur.mode === 'manual' || mode === 'auto'));
      return switched ? state : undefined;
    });
    if (switched) await this.audit({ time: new Date(state.since).toISOString(), action: 'on', mode, by, reason, findings });
    this.adopt(result ?? undefined);
    return result ?? state;
  }

  async off(by: string, reason: string): Promise<void> {
    const was = this.current;
    if (!was) return;
    let cleared = false;
    const result = await this.store.update<Stored>(KEY, (cur) => {
      // a maintenance switched on elsewhere since this one was seen stays: it was not the one being cleared
      cleared = !!cur && same(cur, was);
      return cleared ? null : undefined;
    });
    if (cleared) await this.audit({ time: new Date().toISOString(), action: 'off', mode: was.mode, by, reason });
    this.adopt(result ?? undefined);
  }

  /** The audit trail, oldest first (about the last 1000 changes). */
  history(): Promise<AuditEntry[]> {
    return this.store.tail<AuditEntry>(AUDIT);
  }

  private async audit(entry: AuditEntry): Promise<void> {
    log.warn('maintenance', { audit: true, ...entry });
    await this.store.append(AUDIT, entry, AUDIT_KEEP);
  }

  private publishMetric(): void {
    metrics.maintenance.labels('manual').set(this.current?.mode === 'manual' ? 1 : 0);
    metrics.maintenance.labels('auto').set(this.current?.mode === 'auto' ? 1 : 0);
  }
}
