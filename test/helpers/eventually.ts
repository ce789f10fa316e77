import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `probe` until it returns something other than undefined; throws after timeoutMs. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await sleep(everyMs);
  }
  throw new Error(`gave up waiting for ${what}${last ? `; last error: ${(last as Error).message}` : ''}`);
}
