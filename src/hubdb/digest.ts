import { createHash } from 'node:crypto';
import type { HubSnapshot } from './snapshot.js';

/**
 * A digest of everything a snapshot says about the database, so two reads can be compared without keeping the
 * first. takenAt is left out: it says when, not what. readSnapshot builds every object in a fixed order, so equal
 * content gives equal JSON; anything else merely counts as a change, which is never wrong.
 */
export function snapshotDigest(s: HubSnapshot): string {
  return createHash('sha256').update(JSON.stringify({ ...s, takenAt: 0 }, mapsAsEntries)).digest('base64url');
}

// JSON.stringify writes a Map as {}: grants would drop out of the digest
function mapsAsEntries(_key: string, value: unknown): unknown {
  return value instanceof Map ? [...value] : value;
}
