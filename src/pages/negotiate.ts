// Browser or API client? Mirrors the hub's UserUrlHandler rule (JSON preferred in Accept, or an `api` segment).

/**
 * True when the answer should be JSON: Accept prefers application/json (or a `+json` type) over text/html, or
 * the path has an `api` segment. The hub (3.0 utils._parse_accept_header) sorts Accept by ascending q, which
 * picks the *least* preferred type; this follows the q values as meant, with ties going to the earlier entry.
 * A segment right after `user` or `services` is a user or service name, so `/user/api/tree` is a page.
 */
export function wantsJson(accept: string | undefined, path: string): boolean {
  return acceptPrefersJson(accept) || hasApiSegment(path);
}

function acceptPrefersJson(accept: string | undefined): boolean {
  if (typeof accept !== 'string' || accept === '') return false;
  let best: 'json' | 'html' | null = null;
  let bestQ = 0;
  for (const range of accept.split(',')) {
    const [typePart = '', ...params] = range.split(';');
    const type = typePart.trim().toLowerCase();
    const kind = type === 'text/html' ? 'html' : isJsonType(type) ? 'json' : null;
    if (!kind) continue;
    const q = quality(params);
    if (q > bestQ) {
      best = kind;
      bestQ = q;
    }
  }
  return best === 'json';
}

function isJsonType(type: string): boolean {
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

function quality(params: string[]): number {
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq < 0 || p.slice(0, eq).trim().toLowerCase() !== 'q') continue;
    const q = Number(p.slice(eq + 1).trim());
    // an unreadable weight is not a refusal; q=0 is
    return Number.isFinite(q) ? Math.min(Math.max(q, 0), 1) : 1;
  }
  return 1;
}

function hasApiSegment(path: string): boolean {
  if (typeof path !== 'string') return false;
  const end = path.search(/[?#]/);
  const segments = (end < 0 ? path : path.slice(0, end)).split('/');
  let nameNext = false;
  for (const raw of segments) {
    const seg = decodeLoosely(raw);
    if (nameNext) {
      nameNext = false;
      continue;
    }
    if (seg === 'api') return true;
    nameNext = seg === 'user' || seg === 'services';
  }
  return false;
}

function decodeLoosely(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
