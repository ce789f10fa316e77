// The Cookie request header as tornado reads it (httputil.parse_cookie, then http.cookies.SimpleCookie), so the
// guard judges the same cookie values the hub and the single-user servers will see.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The cookies tornado's request.cookies would hold: split on ';', name and value split at the first '=' (a chunk
 * without '=' is a value with an empty name), both stripped of Python whitespace, one pair of surrounding double
 * quotes removed with Python's backslash unescaping, the last occurrence of a name wins, and names SimpleCookie
 * refuses (empty, characters outside its legal set, attribute names like "path") are left out. Never throws.
 */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (typeof header !== 'string') return cookies;
  const len = header.length;
  // Next '=' and backslash at or after the current chunk; both only move forward, so the whole parse stays linear.
  let nextEq = -1;
  let nextBackslash = -1;
  for (let start = 0; start <= len; ) {
    const end = indexOrEnd(header, ';', start);
    if (nextEq < start) nextEq = indexOrEnd(header, '=', start);
    const keyEnd = nextEq < end ? nextEq : start;
    const ks = skipSpace(header, start, keyEnd);
    const ke = trimEnd(header, ks, keyEnd);
    if (ks < ke && isLegalCookieName(header, ks, ke)) {
      const vs = skipSpace(header, nextEq < end ? nextEq + 1 : start, end);
      const ve = trimEnd(header, vs, end);
      let value: string;
      if (ve - vs >= 2 && header.charCodeAt(vs) === QUOTE && header.charCodeAt(ve - 1) === QUOTE) {
        if (nextBackslash <= vs) nextBackslash = indexOrEnd(header, '\\', vs + 1);
        value = nextBackslash < ve - 1 ? unescapeQuoted(header, vs + 1, ve - 1, nextBackslash) : header.slice(vs + 1, ve - 1);
      } else {
        value = header.slice(vs, ve);
      }
      cookies.set(header.slice(ks, ke), value);
    }
    start = end + 1;
  }
  return cookies;
}

/**
 * The header without the cookies whose (stripped) name `drop` picks, or undefined when no cookie is left. The kept
 * cookies stay byte for byte in their order, so parseCookies of the result equals parseCookies of the input minus
 * the dropped names. When nothing is dropped the header is returned as it is.
 */
export function stripCookies(header: string, drop: (name: string) => boolean): string | undefined {
  const len = header.length;
  let kept = 0;
  let dropped = false;
  // Before the first drop the kept cookies are one span of the header; after it they are appended one by one.
  let spanStart = -1;
  let spanEnd = -1;
  let out = '';
  let nextEq = -1;
  for (let start = 0; start <= len; ) {
    const end = indexOrEnd(header, ';', start);
    if (nextEq < start) nextEq = indexOrEnd(header, '=', start);
    const keyEnd = nextEq < end ? nextEq : start;
    const ks = skipSpace(header, start, keyEnd);
    const ke = trimEnd(header, ks, keyEnd);
    // Like tornado, a chunk with neither name nor value is no cookie; it is left out once anything is dropped.
    if (ks < ke || skipSpace(header, nextEq < end ? nextEq + 1 : start, end) < end) {
      if (drop(header.slice(ks, ke))) {
        if (!dropped && kept > 0) out = header.slice(spanStart, spanEnd);
        dropped = true;
      } else {
        kept++;
        if (dropped) {
          out = out === '' ? header.slice(skipSpace(header, start, end), end) : `${out};${header.slice(start, end)}`;
        } else {
          if (spanStart < 0) spanStart = skipSpace(header, start, end);
          spanEnd = end;
        }
      }
    }
    start = end + 1;
  }
  if (kept === 0) return undefined;
  return dropped ? out : header;
}

/** Python's str.isspace(), which str.strip() uses. */
export function isPythonWhitespace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
  if (c < 0x85) return false;
  return (
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

/** s.indexOf(search, from), or s.length when it does not occur. */
function indexOrEnd(s: string, search: string, from: number): number {
  const i = s.indexOf(search, from);
  return i < 0 ? s.length : i;
}

function skipSpace(s: string, start: number, end: number): number {
  while (start < end && isPythonWhitespace(s.charCodeAt(start))) start++;
  return start;
}

function trimEnd(s: string, start: number, end: number): number {
  while (end > start && isPythonWhitespace(s.charCodeAt(end - 1))) end--;
  return end;
}

// http.cookies._LegalChars: letters, digits and !#$%&'*+-.^_`|~:
const LEGAL_NAME_CHAR = (() => {
  const table = new Uint8Array(128);
  const legal = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~:";
  for (let i = 0; i < legal.length; i++) table[legal.charCodeAt(i)] = 1;
  return table;
})();

// Morsel._reserved: SimpleCookie refuses these names in any letter case.
const RESERVED_NAMES = new Set(['expires', 'path', 'comment', 'domain', 'max-age', 'secure', 'httponly', 'version', 'samesite']);

function isLegalCookieName(s: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || LEGAL_NAME_CHAR[c] === 0) return false;
  }
  const n = end - start;
  return n < 4 || n > 8 || !RESERVED_NAMES.has(s.slice(start, end).toLowerCase());
}

/**
 * The backslash escapes of http.cookies._unquote inside the quotes s[start, end), the first backslash being at
 * `from`: \ooo (first digit 0-3) becomes that octal character, \x (x not a newline) becomes x.
 */
function unescapeQuoted(s: string, start: number, end: number, from: number): string {
  let out = '';
  let copied = start;
  for (let i = from; i < end; i++) {
    if (s.charCodeAt(i) !== BACKSLASH || i + 1 >= end) continue;
    if (isOctalEscape(s, i + 1, end)) {
      out += s.slice(copied, i) + String.fromCharCode(parseInt(s.slice(i + 1, i + 4), 8));
      i += 3;
    } else if (s.charCodeAt(i + 1) !== 0x0a) {
      out += s.slice(copied, i) + s[i + 1]!;
      i += 1;
    } else {
      continue;
    }
    copied = i + 1;
  }
  return out + s.slice(copied, end);
}

function isOctalEscape(s: string, at: number, end: number): boolean {
  if (at + 3 > end) return false;
  const a = s.charCodeAt(at);
  const b = s.charCodeAt(at + 1);
  const c = s.charCodeAt(at + 2);
  return a >= 0x30 && a <= 0x33 && b >= 0x30 && b <= 0x37 && c >= 0x30 && c <= 0x37;
}

/**
 * A cookie name the way the most lenient reader downstream could take it: no surrounding whitespace or quotes,
 * lower case, without the `__Host-`/`__Secure-` prefixes. Credentials are recognised by this form, so that no
 * spelling of a login cookie's name slips through in either direction.
 */
export function canonicalCookieName(name: string): string {
  let n = name.trim();
  if (n.length >= 2 && n.startsWith('"') && n.endsWith('"')) n = n.slice(1, -1).trim();
  n = n.toLowerCase();
  for (const prefix of ['__host-', '__secure-']) if (n.startsWith(prefix)) return n.slice(prefix.length);
  return n;
}

/** The name a Set-Cookie line gives its cookie, canonical; '' for a nameless cookie (`=v`, or no `=` at all). */
export function setCookieName(line: string): string {
  const eq = line.indexOf('=');
  const semi = line.indexOf(';');
  // without '=' before the first ';' browsers store a nameless cookie whose value is the whole pair
  if (eq === -1 || (semi !== -1 && semi < eq)) return '';
  return canonicalCookieName(line.slice(0, eq));
}
