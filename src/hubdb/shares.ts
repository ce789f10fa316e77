// The `shares` table of JupyterHub 5.x, joined with the spawner each row shares. 3.x and 4.x databases have no such
// table, and a 5.x one may hold rows the hub's API would never write: both read as rows that grant nothing.
import type { ShareRow } from './access.js';
import { parseScopes } from './access.js';
import type { SqlSession } from './session.js';
import { optionalNum, text, utcMillis } from './values.js';

const SHARE_COLUMNS = ['user_id', 'group_id', 'owner_id', 'spawner_id', 'scopes', 'expires_at'];
const SPAWNER_COLUMNS = ['id', 'user_id', 'name'];

// Like every reader of the snapshot, this runs the same statements whatever the rows hold (see readSnapshot).
export async function readShares(s: SqlSession, present: ReadonlySet<string>): Promise<ShareRow[]> {
  if (!present.has('shares') || !present.has('spawners')) return [];
  const has = async (table: string, wanted: string[]) => {
    const found = new Set(await s.columns(table));
    return wanted.every((c) => found.has(c));
  };
  if (!(await has('shares', SHARE_COLUMNS)) || !(await has('spawners', SPAWNER_COLUMNS))) return [];
  const q = (name: string) => s.quote(name);
  const rows = await s.rows(
    `SELECT sh.${q('user_id')} AS user_id, sh.${q('group_id')} AS group_id, sh.${q('owner_id')} AS owner_id, ` +
      `sh.${q('scopes')} AS scopes, sh.${q('expires_at')} AS expires_at, ` +
      `sp.${q('user_id')} AS server_owner_id, sp.${q('name')} AS server_name ` +
      `FROM ${q('shares')} sh JOIN ${q('spawners')} sp ON sp.${q('id')} = sh.${q('spawner_id')}`,
    ['user_id', 'group_id', 'owner_id', 'scopes', 'expires_at', 'server_owner_id', 'server_name'],
  );
  return rows.map((r) => ({
    userId: optionalNum(r.user_id),
    groupId: optionalNum(r.group_id),
    ownerId: optionalNum(r.owner_id),
    serverOwnerId: optionalNum(r.server_owner_id),
    serverName: text(r.server_name),
    scopes: parseScopes(text(r.scopes)),
    expiresAt: r.expires_at === null || r.expires_at === undefined ? null : utcMillis(r.expires_at),
  }));
}
