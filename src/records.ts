// Records keyed by names that users or the hub's database choose, for data stored as JSON. Their keys must never
// reach Object.prototype: with `{}`, `r.constructor` is a function for every hub. Lookups use Map where they can.

/** A record with no prototype holding these entries (a later entry for a key wins). */
export function recordOf<T>(entries: Iterable<readonly [string, T]>): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  for (const [k, v] of entries) out[k] = v;
  return out;
}
