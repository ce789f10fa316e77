// Failed sign-ins per client address, so the console's form cannot be used to guess the operator token.
// Addresses are whatever connects to the API port: behind a port-forward every browser is 127.0.0.1 and shares one
// allowance, which is the safe side (curl with the header is never limited). X-Forwarded-For is not read: the API
// port has no proxy of its own to trust, and a forged header would give every guess a fresh allowance.

export class FailureLimiter {
  /** Failure times per address, oldest first; the Map's order doubles as least-recently-failed first. */
  private failures = new Map<string, number[]>();

  constructor(readonly limit = 5, readonly windowMs = 60_000, readonly maxAddresses = 10_000) {}

  /** Seconds until `address` may try again, 0 when it may now. */
  retryAfter(address: string, now = Date.now()): number {
    const times = this.recent(address, now);
    if (times.length < this.limit) return 0;
    return Math.max(1, Math.ceil((times[times.length - this.limit]! + this.windowMs - now) / 1000));
  }

  fail(address: string, now = Date.now()): void {
    const times = [...this.recent(address, now), now].slice(-this.limit);
    this.failures.delete(address);
    this.failures.set(address, times);
    // bounded whatever the number of addresses: the ones that failed longest ago are forgotten first
    for (const oldest of this.failures.keys()) {
      if (this.failures.size <= this.maxAddresses) break;
      this.failures.delete(oldest);
    }
  }

  get size(): number {
    return this.failures.size;
  }

  private recent(address: string, now: number): number[] {
    const times = this.failures.get(address);
    if (!times) return [];
    const kept = times.filter((t) => t > now - this.windowMs);
    if (kept.length === 0) this.failures.delete(address);
    return kept;
  }
}
