// Maintenance: the switch that puts every proxied request on hold, flipped by operators or by the DB watchdog.
// Every change is one audit line (who, when, why, manual or automatic, which findings), logged and kept.
import { log } from '../log.js';
import { metrics } from '../metrics.js';
import type { StateStore } from './store.js';

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

const AUDIT_KEEP = 1000;

export class Maintenance {
  current: MaintenanceState | undefined;
  private listeners: ((s: MaintenanceState | undefined) => void)[] = [];

  constructor(private readonly store: StateStore) {}

  async load(): Promise<void> {
    this.current = (await this.store.load<MaintenanceState | null>('maintenance')) ?? undefined;
    this.publishMetric();
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
    // an automatic switch never downgrades a manual one, and a repeat keeps the original start time
    if (this.current && (this.current.mode === 'manual' || mode === 'auto')) return this.current;
    const state: MaintenanceState = { mode, reason, since: Date.now(), by, findings };
    await this.store.save('maintenance', state);
    await this.audit({ time: new Date().toISOString(), action: 'on', mode, by, reason, findings });
    this.adopt(state);
    return state;
  }

  async off(by: string, reason: string): Promise<void> {
    const was = this.current;
    if (!was) return;
    await this.store.save('maintenance', null);
    await this.audit({ time: new Date().toISOString(), action: 'off', mode: was.mode, by, reason });
    this.adopt(undefined);
  }

  async history(): Promise<AuditEntry[]> {
    return (await this.store.load<AuditEntry[]>('audit')) ?? [];
  }

  private async audit(entry: AuditEntry): Promise<void> {
    log.warn('maintenance', { audit: true, ...entry });
    const trail = await this.history();
    trail.push(entry);
    await this.store.save('audit', trail.slice(-AUDIT_KEEP));
  }

  private publishMetric(): void {
    metrics.maintenance.labels('manual').set(this.current?.mode === 'manual' ? 1 : 0);
    metrics.maintenance.labels('auto').set(this.current?.mode === 'auto' ? 1 : 0);
  }
}
