// Websockets of users on servers that are not theirs, held open by a grant (a share, a role, a group). When a read
// of the hub database shows the grant gone, the websocket is closed: JupyterHub itself leaves it open, so a revoked
// collaborator would keep a live kernel connection.
import type { Duplex } from 'node:stream';
import type { UsersIndex } from '../identity/users-index.js';
import { log } from '../log.js';
import { mayAccess } from '../policy/decide.js';

interface Visit { user: string; owner: string; server: string; socket: Duplex }

export class Visits {
  private open = new Set<Visit>();

  constructor(private readonly users: UsersIndex, private readonly adminAccess: boolean) {
    users.onUpdate(() => this.recheck());
  }

  add(user: string, owner: string, server: string, socket: Duplex): void {
    const visit = { user, owner, server, socket };
    this.open.add(visit);
    socket.once('close', () => this.open.delete(visit));
  }

  get size(): number {
    return this.open.size;
  }

  private recheck(): void {
    const now = Date.now();
    for (const v of this.open) {
      if (mayAccess(this.users.grant(v.user), v.owner, v.server, this.users.groupsOf(v.owner), this.adminAccess, now)) continue;
      log.warn('websocket closed: access ended', { user: v.user, owner: v.owner, server: v.server });
      this.open.delete(v);
      v.socket.destroy();
    }
  }
}
