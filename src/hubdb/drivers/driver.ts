import type { HubSnapshot } from '../snapshot.js';

/** One engine's reader. open.ts adds the sharing of concurrent reads and the closed state on top. */
export interface Driver {
  /** Never called again before the previous call settles. */
  read(): Promise<HubSnapshot>;
  close(): Promise<void>;
}
