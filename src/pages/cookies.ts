// Set-Cookie lines that make the browser drop a cookie: same name, path and domain as when it was set.

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const PATH = /^\/[\x21-\x3a\x3c-\x7e]*$/; // printable ASCII without ';' or space
const DOMAIN = /^\.?[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

/**
 * 'name[; Path=/p/][; Domain=d][; Secure]' → a Set-Cookie value that expires it now. __Host- and __Secure-
 * cookies get Secure (browsers ignore them otherwise) and __Host- ones must live at Path=/ without Domain.
 * Throws an Error saying what is wrong with the entry.
 */
export function clearCookieHeader(spec: string): string {
  const header = formatClear(spec);
  if (header instanceof Error) throw header;
  return header;
}

/** The non-throwing form used per request: a bad entry is skipped, never a failed answer. */
export function clearCookieHeaders(specs: readonly string[] | undefined): string[] {
  if (!Array.isArray(specs)) return [];
  const out: string[] = [];
  for (const spec of specs) {
    const header = formatClear(spec);
    if (typeof header === 'string') out.push(header);
  }
  return out;
}

function formatClear(spec: unknown): string | Error {
  if (typeof spec !== 'string') return new Error('cookie to clear must be a string');
  const [rawName = '', ...attrs] = spec.split(';').map((s) => s.trim());
  if (!TOKEN.test(rawName)) return new Error(`cookie to clear has an invalid name: ${JSON.stringify(rawName)}`);
  let path = '/';
  let domain: string | undefined;
  let secure = rawName.startsWith('__Secure-') || rawName.startsWith('__Host-');
  for (const attr of attrs) {
    if (attr === '') continue;
    const eq = attr.indexOf('=');
    const key = (eq < 0 ? attr : attr.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? '' : attr.slice(eq + 1).trim();
    if (key === 'path' && PATH.test(value)) path = value;
    else if (key === 'domain' && DOMAIN.test(value)) domain = value;
    else if (key === 'secure' && eq < 0) secure = true;
    else return new Error(`cookie to clear ${rawName}: unsupported or invalid attribute ${JSON.stringify(attr)}`);
  }
  if (rawName.startsWith('__Host-') && (path !== '/' || domain)) {
    return new Error(`cookie to clear ${rawName}: __Host- cookies live at Path=/ without Domain`);
  }
  return `${rawName}=; Path=${path}${domain ? `; Domain=${domain}` : ''}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT${secure ? '; Secure' : ''}; HttpOnly`;
}
