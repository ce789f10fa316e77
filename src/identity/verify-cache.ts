// Verified tokens, remembered until they expire, so the request path verifies a given token once.

export class VerifyCache<T> {
  private entries = new Map<string, { value: T | null; until: number }>();

  constructor(private readonly max = 100_000) {}

  get(token: string, nowMs = Date.now()): T | null | undefined {
    const e = this.entries.get(token);
    if (!e) return undefined;
    if (e.until <= nowMs) {
      this.entries.delete(token);
      return undefined;
    }
    return e.value;
  }

  /** Failures are remembered too (for a minute), so a flood of one bad token costs one verification. */
  set(token: string, value: T | null, untilMs: number): void {
    // wholesale reset instead of LRU bookkeeping: a full cache only costs re-verification
    if (this.entries.size >= this.max) this.entries.clear();
    this.entries.set(detached(token), { value, until: untilMs });
  }

  clear(): void {
    this.entries.clear();
  }
}

/**
 * A copy of `s` that shares no memory with the string it was cut from. A token sliced out of a Cookie header is a
 * view of the whole header in V8; kept as a cache key, it would keep every header it came in alive (10k sessions
 * held 4.5 MB of Cookie headers that way).
 */
export function detached(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}
