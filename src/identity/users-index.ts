// An in-memory view of the hub's users table, rebuilt from each watchdog read, so identity needs no I/O.
import { createHash } from 'node:crypto';
import type { AccessGrant, HubSnapshot, HubUser } from '../hubdb/snapshot.js';

export type CookieLookup = { kind: 'none' } | { kind: 'one'; user: HubUser } | { kind: 'many'; count: number };

/** Sessions carry this instead of the cookie_id itself, so a leaked session does not leak a login cookie. */
export function cookieIdHash(cookieId: string): string {
  return createHash('sha256').update(cookieId).digest('base64url').slice(0, 22);
}

export class UsersIndex {
  private byCookie = new Map<string, HubUser[]>();
  private byCookieHash = new Map<string, HubUser[]>();
  private byName = new Map<string, HubUser>();
  private access = new Map<string, AccessGrant>();
  private groups = new Map<string, string[]>();
  loadedAt = 0;
  private listeners: Array<() => void> = [];

  /** Called after every update: grants may have ended. */
  onUpdate(listener: () => void): void {
    this.listeners.push(listener);
  }

  get size(): number {
    return this.byName.size;
  }

  /** cookie_id → hash from the previous update: cookie_ids never change, so a read of 10k users hashes only new ones. */
  private hashes = new Map<string, string>();

  update(s: HubSnapshot): void {
    const byCookie = new Map<string, HubUser[]>();
    const byCookieHash = new Map<string, HubUser[]>();
    const byName = new Map<string, HubUser>();
    const hashes = new Map<string, string>();
    for (const u of s.users) {
      byName.set(u.name, u);
      if (u.cookieId === null) continue;
      push(byCookie, u.cookieId, u);
      const hash = this.hashes.get(u.cookieId) ?? cookieIdHash(u.cookieId);
      hashes.set(u.cookieId, hash);
      push(byCookieHash, hash, u);
    }
    this.hashes = hashes;
    // swapped in whole: a request never sees half of an update
    this.byCookie = byCookie;
    this.byCookieHash = byCookieHash;
    this.byName = byName;
    this.access = s.access;
    this.groups = s.groups;
    this.loadedAt = s.takenAt;
    for (const listener of this.listeners) listener();
  }

  byCookieId(cookieId: string): CookieLookup {
    return lookup(this.byCookie.get(cookieId));
  }

  byCookieIdHash(hash: string): CookieLookup {
    return lookup(this.byCookieHash.get(hash));
  }

  user(name: string): HubUser | undefined {
    return this.byName.get(name);
  }

  /** Shares with an expiry come as they were read: mayAccess() weighs them against the moment of the decision. */
  grant(name: string): AccessGrant | undefined {
    return this.access.get(name);
  }

  groupsOf(name: string): string[] | undefined {
    return this.groups.get(name);
  }
}

function push(m: Map<string, HubUser[]>, k: string, u: HubUser): void {
  const list = m.get(k);
  if (list) list.push(u);
  else m.set(k, [u]);
}

function lookup(users: HubUser[] | undefined): CookieLookup {
  if (!users) return { kind: 'none' };
  return users.length === 1 ? { kind: 'one', user: users[0] } : { kind: 'many', count: users.length };
}
