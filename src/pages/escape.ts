const entities: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Text safe in HTML content and in quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return asText(value).replace(/[&<>"'`]/g, (c) => entities[c]!);
}

/** Untyped callers (state read from JSON, Redis) may hand over anything; pages show it as text. */
export function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  return value === undefined || value === null ? '' : String(value);
}
