// Values as the three engines' drivers hand them back, turned into plain ones: BLOBs come as Buffers, BIGINTs as
// strings or bigints, booleans as numbers, bits or letters, and datetimes stay text (see the drivers).

export function text(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (v instanceof Date) return v.toISOString();
  return String(v);
}

export function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(text(v));
}

/** For nullable foreign keys: `Number(null)` would be 0, a row id that may well exist. */
export function optionalNum(v: unknown): number | null {
  const t = text(v);
  const n = t === null ? NaN : num(v);
  return Number.isSafeInteger(n) ? n : null;
}

export function bool(v: unknown): boolean {
  if (Buffer.isBuffer(v)) return v.length === 1 && v[0] === 1; // MySQL BIT(1)
  return v === true || v === 1 || v === 1n || v === '1' || v === 't' || v === 'true';
}

const DATETIME = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}(?::?\d{2})?)?$/;

/** The hub writes naive UTC datetimes; say so with a 'Z' so the value parses the same everywhere. */
export function isoTimestamp(v: unknown): string | null {
  const raw = text(v);
  if (raw === null) return null;
  const m = DATETIME.exec(raw);
  return m && m[3] === undefined ? `${m[1]}T${m[2]}Z` : raw;
}

/** A datetime column as ms epoch (naive values are UTC, as the hub writes them); NaN for anything else. */
export function utcMillis(v: unknown): number {
  const raw = text(v);
  const m = raw === null ? null : DATETIME.exec(raw);
  if (!m) return NaN;
  const offset = m[3];
  const zone = offset === undefined || offset === 'Z' ? 'Z' : `${offset.slice(0, 3)}:${offset.length === 3 ? '00' : offset.slice(-2)}`;
  return Date.parse(`${m[1]}T${m[2]}${zone}`);
}
