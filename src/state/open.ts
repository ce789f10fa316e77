// Picks the state store the flags ask for: Redis (mirrored locally) with --redis-url/--redis-sentinels, files with
// --state-dir, memory otherwise.
import type { RedisConfig } from '../config.js';
import { RedisStore } from './redis-store.js';
import { FileStore, MemoryStore, type StateStore } from './store.js';

export function openStore(o: { stateDir?: string; redis?: RedisConfig }): StateStore {
  const local = o.stateDir ? new FileStore(o.stateDir) : new MemoryStore();
  return o.redis ? new RedisStore(o.redis, local) : local;
}
