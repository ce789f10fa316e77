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
    this.entries.set(token, { value, until: untilMs });
  }

  clear(): void {
    this.entries.clear();
  }
}
