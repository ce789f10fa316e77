// The users index as a document in the shared store, written by `hub-guard watch` and read by the proxies. What
// comes from the store is a peer's word: a document that does not have the expected form is refused whole, so a
// proxy keeps the view it has rather than loading half of one.
import type { AccessGrant, ExpiringShare } from '../hubdb/snapshot.js';
import type { HubView, IndexedUser } from './users-index.js';

const FORMAT = 1;

type UserRow = [id: number, name: string, admin: 0 | 1, cookieHash: string | null];

export interface StoredView {
  format: typeof FORMAT;
  takenAt: number;
  users: UserRow[];
  access: [string, AccessGrant][];
  groups: [string, string[]][];
}

export function encodeView(v: HubView): StoredView {
  return {
    format: FORMAT,
    takenAt: v.takenAt,
    // rows rather than objects: 10k users' field names would be most of the document
    users: v.users.map((u) => [u.id, u.name, u.admin ? 1 : 0, u.cookieHash]),
    access: [...v.access],
    groups: [...v.groups],
  };
}

const isString = (x: unknown): x is string => typeof x === 'string';
const isStrings = (x: unknown): x is string[] => Array.isArray(x) && x.every(isString);

function userOf(row: unknown): IndexedUser | undefined {
  if (!Array.isArray(row) || row.length !== 4) return undefined;
  const [id, name, admin, cookieHash] = row as unknown[];
  if (!Number.isSafeInteger(id) || !isString(name) || (admin !== 0 && admin !== 1) || !(cookieHash === null || isString(cookieHash))) return undefined;
  return { id: id as number, name, admin: admin === 1, cookieHash };
}

function grantOf(x: unknown): AccessGrant | undefined {
  if (typeof x !== 'object' || x === null) return undefined;
  const g = x as Record<string, unknown>;
  if (typeof g.all !== 'boolean' || !isStrings(g.users) || !isStrings(g.groups) || !isStrings(g.servers)) return undefined;
  const grant: AccessGrant = { all: g.all, users: g.users, groups: g.groups, servers: g.servers };
  if (g.expiring !== undefined) {
    if (!Array.isArray(g.expiring)) return undefined;
    const expiring: ExpiringShare[] = [];
    for (const e of g.expiring as unknown[]) {
      const s = e as Record<string, unknown> | null;
      if (typeof s !== 'object' || s === null || !isString(s.server) || typeof s.expiresAt !== 'number') return undefined;
      expiring.push({ server: s.server, expiresAt: s.expiresAt });
    }
    grant.expiring = expiring;
  }
  return grant;
}

function entries<T>(x: unknown, value: (v: unknown) => T | undefined): Map<string, T> | undefined {
  if (!Array.isArray(x)) return undefined;
  const out = new Map<string, T>();
  for (const e of x as unknown[]) {
    if (!Array.isArray(e) || e.length !== 2 || !isString(e[0])) return undefined;
    const v = value(e[1]);
    if (v === undefined) return undefined;
    out.set(e[0], v);
  }
  return out;
}

/** The view a stored document describes, or undefined when it is not one this version can read. */
export function decodeView(doc: unknown): HubView | undefined {
  if (typeof doc !== 'object' || doc === null) return undefined;
  const d = doc as Record<string, unknown>;
  if (d.format !== FORMAT || typeof d.takenAt !== 'number' || !Array.isArray(d.users)) return undefined;
  const users: IndexedUser[] = [];
  for (const row of d.users as unknown[]) {
    const u = userOf(row);
    if (!u) return undefined;
    users.push(u);
  }
  const access = entries(d.access, grantOf);
  const groups = entries(d.groups, (v) => (isStrings(v) ? v : undefined));
  if (!access || !groups) return undefined;
  return { takenAt: d.takenAt, users, access, groups };
}
