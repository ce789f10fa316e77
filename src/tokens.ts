// Secrets compared in constant time: the API's tokens, the operator token and cookie.
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Equal-length digests make the comparison independent of where the strings differ, and of their lengths. */
export function tokensEqual(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** Whether `given` is one of `tokens`; every one is compared, so the time taken does not tell which one was close. */
export function matchesAnyToken(given: string, tokens: readonly string[]): boolean {
  return tokens.map((t) => tokensEqual(given, t)).includes(true);
}
