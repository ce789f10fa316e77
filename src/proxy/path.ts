// Turns a request line into the path routing sees and the URL the upstream gets, once, so both agree.
import { HubGuardError } from '../errors.js';

export interface ResolvedPath {
  /** Decoded path used for route matching (prefixed with `/<host>` under host routing). */
  routePath: string;
  /** Path and query sent upstream: the request's own, with dot segments resolved (WHATWG-normalised in front mode). */
  forwardUrl: string;
}

/** A request target or Host header hub-guard will not route (answered 400). */
export class BadPath extends HubGuardError {
  readonly code = 'bad-path';
}

// Characters that can make the raw path differ from its normalised, decoded form.
function needsSlowPath(url: string, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const c = url.charCodeAt(i);
    if (c === 37 /* % */ || c === 46 /* . */ || c === 92 /* \ */) return true;
  }
  return false;
}

function hasDotSegment(path: string): boolean {
  for (const seg of path.split('/')) if (seg === '.' || seg === '..') return true;
  return false;
}

const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * One Host header of the form host[:port] (RFC 9112 §3.2): a proxy in front that read another copy, or parsed
 * `a:80:b` differently, would route or authorise differently.
 */
export function checkHost(req: { rawHeaders: string[]; headers: { host?: string } }): void {
  const host = req.headers.host;
  if (host === undefined) return;
  let count = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i];
    if (name.length === 4 && name.toLowerCase() === 'host') count++;
  }
  if (count > 1) throw new BadPath('more than one Host header');
  // empty is allowed: it is what a client sends for a target without an authority
  if (host !== '' && !HOST.test(host)) throw new BadPath('Host header is not host[:port]');
}

/** Host header without the port, lower-cased (hostnames are case-insensitive). */
export function hostOf(host: string | undefined): string {
  if (!host) return '';
  const end = host.startsWith('[') ? host.indexOf(']') + 1 : host.indexOf(':');
  return (end > 0 ? host.slice(0, end) : host).toLowerCase();
}

export interface ResolveOptions {
  /**
   * The upstream is another proxy (front mode), which parses the forwarded target again with its own parser: refuse
   * what parsers read differently and forward only the WHATWG-normalised form the route was chosen by.
   */
  front?: boolean;
}

// The upstream proxy parses the target again: CHP 5 reads a leading `//` as a host, CHP 4 trims every leading slash,
// both drop `#…`, and only some parsers take `\` for a slash. JupyterHub makes no such paths, so they are refused
// rather than guessed at.
function checkFrontTarget(url: string): void {
  if (url.includes('#')) throw new BadPath('fragment in the request target');
  const q = url.indexOf('?');
  let path = q === -1 ? url : url.slice(0, q);
  if (path.includes('\\')) throw new BadPath('backslash in the path');
  if (path.charCodeAt(0) !== 47) {
    // absolute-form: the path begins after the authority
    const authority = path.indexOf('//');
    const start = authority === -1 ? -1 : path.indexOf('/', authority + 2);
    path = start === -1 ? '' : path.slice(start);
  }
  if (path.includes('//')) throw new BadPath('empty segment in the path');
}

export function resolvePath(url: string | undefined, host: string | undefined, hostRouting: boolean, opts: ResolveOptions = {}): ResolvedPath {
  if (!url) throw new BadPath('empty request target');
  const front = opts.front === true;
  if (front) checkFrontTarget(url);
  let forwardUrl = url;
  let pathname: string;
  if (url.charCodeAt(0) !== 47) {
    // absolute-form (`GET http://host/path`) as sent to proxies; anything else (`*`) has no path to route
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new BadPath('request target is neither a path nor an absolute URL');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new BadPath('request target is not an http URL');
    pathname = parsed.pathname;
    forwardUrl = pathname + parsed.search;
  } else {
    const q = url.indexOf('?');
    const end = q === -1 ? url.length : q;
    if (front || needsSlowPath(url, end)) {
      // WHATWG parsing resolves `.`/`..` (also as %2e) and `\`, as browsers and CHP 5 do; the prefix
      // keeps `//x` from being read as a host. Front mode always takes it, so a proxy behind gets one canonical form.
      const parsed = new URL(`http://h${url}`);
      pathname = parsed.pathname;
      forwardUrl = pathname + parsed.search;
    } else {
      pathname = url.slice(0, end);
    }
  }
  let decoded: string;
  try {
    decoded = pathname.indexOf('%') === -1 ? pathname : decodeURIComponent(pathname);
  } catch {
    throw new BadPath('malformed percent-encoding in the path');
  }
  if (decoded.indexOf('\0') !== -1) throw new BadPath('NUL byte in the path');
  // an encoded slash can make one too (`/%2Fuser/bob/`), and the upstream routes on the decoded path
  if (front && decoded.indexOf('//') !== -1) throw new BadPath('empty segment in the path');
  // literal dot segments are resolved above; any left came through encoded slashes (`a%2F..%2Fb`), and would
  // name one route while the request is matched to another
  if (decoded !== pathname && hasDotSegment(decoded)) throw new BadPath('dot segment hidden behind an encoded slash');
  return { routePath: hostRouting ? `/${hostOf(host)}${decoded}` : decoded, forwardUrl };
}

/** Drops the route prefix's segments from the forwarded URL (`--no-include-prefix`). */
export function stripPrefix(forwardUrl: string, prefix: string, hostRouting: boolean): string {
  let count = prefix === '/' ? 0 : prefix.split('/').length - 1;
  if (hostRouting) count--;
  let i = 0;
  for (; count > 0; count--) {
    const next = forwardUrl.indexOf('/', i + 1);
    const q = forwardUrl.indexOf('?');
    if (next === -1 || (q !== -1 && next > q)) {
      i = q === -1 ? forwardUrl.length : q;
      break;
    }
    i = next;
  }
  const rest = forwardUrl.slice(i);
  return rest.startsWith('/') ? rest : `/${rest}`;
}
