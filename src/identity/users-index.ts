// An in-memory view of the hub's users table, rebuilt from each watchdog read (or handed over by a `hub-guard watch`
// process), so identity needs no I/O. Login cookie_ids are held only as keyed hashes: the view can travel through
// Redis without giving away a login.
import { createHmac } from 'node:crypto';
import type { AccessGrant, HubSnapshot } from '../hubdb/snapshot.js';

/** What identity needs of a hub user; `cookieHash` is the keyed hash of the user's cookie_id (null without one). */
export interface IndexedUser {
  readonly id: number;
  readonly name: string;
  readonly admin: boolean;
  readonly cookieHash: string | null;
}

/** The index as data: what a watcher publishes and a proxy loads. */
export interface HubView {
  /** ms epoch of the read it comes from */
  takenAt: number;
  users: IndexedUser[];
  access: Map<string, AccessGrant>;
  groups: Map<string, string[]>;
}

export type CookieLookup = { kind: 'none' } | { kind: 'one'; user: IndexedUser } | { kind: 'many'; count: number };

/**
 * The key of the cookie_id hashes, derived from the hub's cookie secret: the watcher and every replica derive the
 * same one (sessions carry a hash and are checked on any replica), and without the secret nobody can test a guessed
 * cookie_id, even one of the short malformed ones a hand-rebuilt table holds, against the published hashes.
 */
export function indexKey(secret: Buffer): Buffer {
  return createHmac('sha256', secret).update('hub-guard cookie_id index').digest();
}

export function cookieIdHash(key: Buffer, cookieId: string): string {
  return createHmac('sha256', key).update(cookieId).digest('base64url').slice(0, 22);
}

/** Turns snapshots into views; cookie_ids never change, so a read of 10k users hashes only the new ones. */
export class CookieIdHasher {
  private seen = new Map<string, string>();

  constructor(private readonly key: Buffer) {}

  hash(cookieId: string): string {
    return this.seen.get(cookieId) ?? cookieIdHash(this.key, cookieId);
  }

  viewOf(s: HubSnapshot): HubView {
    const seen = new Map<string, string>();
    const users = s.users.map((u): IndexedUser => {
      let cookieHash: string | null = null;
      if (u.cookieId !== null) {
        cookieHash = this.hash(u.cookieId);
        seen.set(u.cookieId, cookieHash);
      }
      return { id: u.id, name: u.name, admin: u.admin, cookieHash };
    });
    this.seen = seen;
    return { takenAt: s.takenAt, users, access: s.access, groups: s.groups };
  }
}

export class UsersIndex {
  private readonly hasher: CookieIdHasher;
  /** One user, or all who share the hash (a list only for those: 10k one-element arrays were half a megabyte). */
  private byCookieHash = new Map<string, IndexedUser | IndexedUser[]>();
  private byName = new Map<string, IndexedUser>();
  private access = new Map<string, AccessGrant>();
  private groups = new Map<string, string[]>();
  loadedAt = 0;
  private listeners: Array<() => void> = [];

  constructor(key: Buffer) {
    this.hasher = new CookieIdHasher(key);
  }

  /** Called after every update: grants may have ended. */
  onUpdate(listener: () => void): void {
    this.listeners.push(listener);
  }

  get size(): number {
    return this.byName.size;
  }

  update(s: HubSnapshot): void {
    this.load(this.hasher.viewOf(s));
  }

  load(v: HubView): void {
    const byCookieHash = new Map<string, IndexedUser | IndexedUser[]>();
    const byName = new Map<string, IndexedUser>();
    for (const u of v.users) {
      byName.set(u.name, u);
      if (u.cookieHash === null) continue;
      const had = byCookieHash.get(u.cookieHash);
      if (had === undefined) byCookieHash.set(u.cookieHash, u);
      else if (Array.isArray(had)) had.push(u);
      else byCookieHash.set(u.cookieHash, [had, u]);
    }
    // swapped in whole: a request never sees half of an update
    this.byCookieHash = byCookieHash;
    this.byName = byName;
    this.access = v.access;
    this.groups = v.groups;
    this.loadedAt = v.takenAt;
    for (const listener of this.listeners) listener();
  }

  /** The hash sessions carry for this cookie_id. */
  hashOf(cookieId: string): string {
    return this.hasher.hash(cookieId);
  }

  byCookieId(cookieId: string): CookieLookup {
    return this.byCookieIdHash(this.hasher.hash(cookieId));
  }

  byCookieIdHash(hash: string): CookieLookup {
    const found = this.byCookieHash.get(hash);
    if (found === undefined) return { kind: 'none' };
    return Array.isArray(found) ? { kind: 'many', count: found.length } : { kind: 'one', user: found };
  }

  user(name: string): IndexedUser | undefined {
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
