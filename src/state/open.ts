// Picks the state store the flags ask for: Redis (mirrored locally) with --redis-url/--redis-sentinels, files with
// --state-dir, memory otherwise. The Redis client is loaded only when asked for: it is megabytes of memory that a
// hub-guard without Redis would carry for nothing.
import type { RedisConfig } from '../config.js';
import { FileStore, MemoryStore, type StateStore } from './store.js';

export async function openStore(o: { stateDir?: string; redis?: RedisConfig }): Promise<StateStore> {
  const local = o.stateDir ? new FileStore(o.stateDir) : new MemoryStore();
  if (!o.redis) return local;
  const { RedisStore } = await import('./redis-store.js');
  return new RedisStore(o.redis, local);
}
