// Share codes work on the first try: the hub writes the share, then at once redirects the user into the owner's
// server. hub-guard learns of grants by reading the database, so a refusal of an identified user on someone else's
// server first asks for one fresh read and decides again after it. Bounded (a slow database costs a refused user
// at most WAIT_MS), coalesced (one read serves everyone waiting) and rate-limited per user and server (a user
// probing servers costs no more than one read per server per window). The outage's case still ends refused: a hub
// sending a user into another's server for a shared cookie_id has written no grant to find.

const WAIT_MS = 2000;
const WINDOW_MS = 10_000;
const MAX_KEYS = 10_000;

export class GrantRefresh {
  /** `why\nuser\nowner/server` → when a read was last asked for it. */
  private asked = new Map<string, number>();

  constructor(private readonly freshRead: (() => Promise<void>) | undefined) {}

  /**
   * A promise that settles when a fresh read is done (or after WAIT_MS), or undefined when none may be asked. A hub
   * redirect and a request count apart: a user refused a moment ago, who then accepts a share code, is redirected
   * in by the hub, and that redirect must still get its fresh read.
   */
  refresh(why: 'request' | 'redirect', user: string, owner: string, server: string): Promise<void> | undefined {
    if (!this.freshRead) return undefined;
    const key = `${why}\n${user}\n${owner}/${server}`;
    const now = Date.now();
    const last = this.asked.get(key);
    if (last !== undefined && now - last < WINDOW_MS) return undefined;
    // wholesale reset instead of expiry bookkeeping: forgetting only allows one more read
    if (this.asked.size >= MAX_KEYS) this.asked.clear();
    this.asked.set(key, now);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, WAIT_MS); });
    return Promise.race([this.freshRead().catch(() => undefined), timeout]).finally(() => clearTimeout(timer));
  }
}
