// The three ways kubespawner has turned a user name into part of a volume claim name (jupyterhub-facts §6), forward
// and, where the scheme allows it, backward.
import { createHash } from 'node:crypto';

/** escapism.escape(name, safe=[a-z0-9], escape_char='-').lower(): kubespawner 0.6–6.x ("escape" scheme). */
export function escapeSlug(name: string): string {
  let out = '';
  for (const ch of name) {
    if (/^[a-z0-9]$/.test(ch)) {
      out += ch;
      continue;
    }
    for (const byte of Buffer.from(ch, 'utf8')) out += `-${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** The inverse of escapeSlug, or null when the text is not something escapeSlug would have produced. */
export function unescapeSlug(slug: string): string | null {
  const bytes: number[] = [];
  for (let i = 0; i < slug.length; i++) {
    const ch = slug[i];
    if (ch === '-') {
      const hex = slug.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/.test(hex)) return null;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (/^[a-z0-9]$/.test(ch)) {
      bytes.push(ch.charCodeAt(0));
    } else {
      return null;
    }
  }
  let name: string;
  try {
    name = new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
  } catch {
    return null;
  }
  // Only text escapeSlug itself produces: 'a-62c' decodes to "abc" but would have been written "abc".
  return escapeSlug(name) === slug ? name : null;
}

const HASH_LENGTH = 8;
/** kubespawner 7 limits each name part to this many characters. */
const SLUG_MAX = 48;

function nameHash(name: string): string {
  return createHash('sha256').update(name, 'utf8').digest('hex').slice(0, HASH_LENGTH);
}

function extractSafeName(name: string, maxLength: number): string {
  let safe = name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  safe = safe.replace(/^-+/, '').slice(0, maxLength).replace(/-+$/, '');
  if (safe !== '' && !/^[a-z]/.test(safe)) safe = `x-${safe.slice(0, maxLength - 2)}`;
  return safe === '' ? 'x' : safe;
}

function isValidObjectName(s: string): boolean {
  return s.length >= 1 && s.length <= 63 && /^[a-z][a-z0-9-]*$/.test(s) && /[a-z0-9]$/.test(s);
}

/** kubespawner 7's safe_slug(name, max_length=48) ("safe" scheme): kept when already a clean DNS label, else hashed. */
export function safeSlug(name: string): string {
  if (!name.includes('--') && isValidObjectName(name) && name.length <= SLUG_MAX) return name;
  return `${extractSafeName(name, SLUG_MAX - (HASH_LENGTH + 3))}---${nameHash(name)}`;
}

/** Separators a hashed safe slug may have flattened into '-', tried when guessing the name back. */
const SEPARATORS = ['-', '.', '_', '@', '+'];
/** 5^6 hashes at most: instant, and beyond that guessing is no longer useful evidence. */
const MAX_GUESSED_DASHES = 6;

/**
 * Names that the hashed safe slug `<safe part>---<hash>` may have come from: every way of reading each '-' in the
 * safe part as one of the usual separators, with or without the 'x-' prefix kubespawner adds before a digit.
 * Only names whose hash matches are returned, so a hit is the name (up to a 32-bit hash collision).
 */
export function guessSafeSlugNames(slug: string): string[] {
  const m = /^(.+)---([0-9a-f]{8})$/.exec(slug);
  if (!m) return [];
  const [, part, hash] = m;
  const bases = part.startsWith('x-') ? [part, part.slice(2)] : [part];
  const found = new Set<string>();
  for (const base of bases) {
    const pieces = base.split('-');
    if (pieces.length - 1 > MAX_GUESSED_DASHES) continue;
    const combos = SEPARATORS.length ** (pieces.length - 1);
    for (let n = 0; n < combos; n++) {
      let name = pieces[0];
      let k = n;
      for (let i = 1; i < pieces.length; i++) {
        name += SEPARATORS[k % SEPARATORS.length] + pieces[i];
        k = Math.floor(k / SEPARATORS.length);
      }
      if (nameHash(name) === hash && safeSlug(name) === slug) found.add(name);
    }
  }
  return [...found];
}
