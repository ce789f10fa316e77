// Secrets compared in constant time: the API's tokens, the operator token and cookie.
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Equal-length digests make the comparison independent of where the strings differ, and of their lengths. */
export function tokensEqual(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}
