// Which hub-guard processes share this state: each one writes a heartbeat into one store map, and the console lists
// those heard from lately. With Redis that is every replica (and every --workers process); a memory or file store
// is this process's own, so it lists only itself, which is the truth there.
import { log } from '../log.js';
import type { StateStore } from '../state/store.js';

const MAP = 'replicas';
/** Often enough that a replica missing for a minute is plainly gone, rarely enough to cost nothing. */
export const BEAT_MS = 15_000;
/** A replica heard from within this is listed. */
export const SEEN_MS = 60_000;
/** Fields of replicas gone longer than this are deleted by whichever replica beats next, so the map stays small. */
const FORGET_MS = 60 * 60_000;

export interface ReplicaState {
  version: string;
  /** 'off', 'manual' or 'auto'. */
  maintenance: string;
  /** The hub database's state as this replica sees it, or 'not watched'. */
  db: string;
}

export interface Replica extends ReplicaState {
  instance: string;
  /** When it last wrote, by its own clock. */
  at: number;
}

/** A field as read back from the store, which another version (or anything with access) may have written. */
function replicaOf(instance: string, value: unknown): Replica | undefined {
  const v = value as Partial<Replica> | null;
  if (typeof v !== 'object' || v === null || typeof v.at !== 'number' || !Number.isFinite(v.at)) return undefined;
  const text = (x: unknown) => (typeof x === 'string' ? x.slice(0, 100) : 'unknown');
  return { instance: instance.slice(0, 200), version: text(v.version), maintenance: text(v.maintenance), db: text(v.db), at: v.at };
}

export class Replicas {
  private timer?: NodeJS.Timeout;

  constructor(private readonly store: StateStore, readonly instance: string, private readonly state: () => ReplicaState) {}

  start(): this {
    void this.beat();
    this.timer = setInterval(() => void this.beat(), BEAT_MS);
    this.timer.unref();
    return this;
  }

  async beat(now = Date.now()): Promise<void> {
    try {
      await this.store.mapSet(MAP, this.instance, { ...this.state(), at: now });
      for (const [instance, value] of Object.entries((await this.store.mapAll<unknown>(MAP)).values)) {
        const r = replicaOf(instance, value);
        if (!r || r.at < now - FORGET_MS) await this.store.mapDelete(MAP, instance);
      }
    } catch (e) {
      // a shared store that is away gets the next beat; the console then says the store is unreachable anyway
      log.debug('replica heartbeat not written', { error: String(e) });
    }
  }

  /** Replicas heard from in the last minute, this one first, then by name. */
  async seen(now = Date.now()): Promise<Replica[]> {
    const { values } = await this.store.mapAll<unknown>(MAP);
    const out: Replica[] = [];
    for (const [instance, value] of Object.entries(values)) {
      const r = replicaOf(instance, value);
      if (r && r.at > now - SEEN_MS) out.push(r);
    }
    const rank = (r: Replica) => (r.instance === this.instance ? 0 : 1);
    return out.sort((a, b) => rank(a) - rank(b) || (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0));
  }

  /** A replica that stops cleanly leaves the list at once instead of after a minute. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.store.mapDelete(MAP, this.instance).catch(() => undefined);
  }
}
