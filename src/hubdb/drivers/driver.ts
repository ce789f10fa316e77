import type { HubSnapshot } from '../snapshot.js';
import { toHubDbError } from '../errors.js';

/**
 * A pooled connection the server dropped while idle (restart, failover, idle kill) is only noticed on use, so a
 * read that fails that way is tried once more on a fresh connection.
 */
export async function retryLostConnection(attempt: () => Promise<HubSnapshot>, isLost: (err: unknown) => boolean, description: string): Promise<HubSnapshot> {
  try {
    return await attempt();
  } catch (err) {
    if (!isLost(err)) throw toHubDbError(err, description);
    return attempt().catch((again: unknown) => { throw toHubDbError(again, description); });
  }
}

/** One engine's reader. open.ts adds the sharing of concurrent reads and the closed state on top. */
export interface Driver {
  /** Never called again before the previous call settles. */
  read(): Promise<HubSnapshot>;
  close(): Promise<void>;
}
