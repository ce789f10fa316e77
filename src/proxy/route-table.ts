// The routing table JupyterHub writes through the CHP API, matched by longest whole-segment prefix.
import type { Pool } from 'undici';

/** One upstream per route, parsed once: the url.parse shape http-proxy wants, plus the origin for undici. */
export interface Target {
  protocol: 'http:' | 'https:';
  hostname: string;
  host: string;
  port: string;
  /** the target's own path, prepended to request paths (--no-prepend-path turns that off) */
  path: string;
  origin: string;
  /** host[:port] as it appears in URLs, to recognise the upstream's own Location headers */
  authority: string;
  pool?: Pool;
}

/** The parts the forwarder needs, not the URL: 10k routes' URL objects were two megabytes. */
export function targetFrom(u: URL): Target {
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError(`unsupported target protocol ${u.protocol}`);
  const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return {
    protocol: u.protocol === 'https:' ? 'https:' : 'http:', hostname, host: hostname, port: u.port,
    path: u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '') + u.search,
    origin: u.origin, authority: u.host,
  };
}

export interface Route {
  /** Decoded key without a trailing slash, e.g. `/user/jane doe` (`/` for the root). */
  readonly prefix: string;
  /** Exactly what the hub POSTed, `target` included; CHP returns it unchanged. */
  readonly data: Readonly<Record<string, unknown>> & { target: string };
  readonly target: Target;
  /** ms epoch; kept in memory and written out in batches, never per request. */
  lastActivity: number;
  /** The hub user whose server this is (`data.user`), if any. */
  readonly owner?: string;
  /** ms epoch of insertion, so the newer of two routes to one target can be told apart. */
  readonly addedAt: number;
}

interface Node {
  /** Made on the first child: most nodes are the leaves of user routes, and an empty Map costs half a kilobyte. */
  children?: Map<string, Node>;
  route?: Route;
}

/** CHP's key form: leading slash, no trailing slash except for the root. */
export function cleanPrefix(prefix: string): string {
  let p = prefix.startsWith('/') ? prefix : `/${prefix}`;
  while (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

function segments(prefix: string): string[] {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? [] : trimmed.split('/');
}

export type RouteEvent = { kind: 'add'; route: Route } | { kind: 'remove'; prefix: string };

export class RouteTable {
  private root: Node = {};
  private byPrefix = new Map<string, Route>();
  private listeners: ((e: RouteEvent) => void)[] = [];

  get size(): number {
    return this.byPrefix.size;
  }

  onChange(listener: (e: RouteEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Adds or replaces a route; throws on a target that is not an http(s) URL (the API turns that into a 400). */
  add(prefix: string, data: Record<string, unknown> & { target: string }, lastActivity = Date.now(), addedAt = Date.now()): Route {
    const key = cleanPrefix(prefix);
    const target = targetFrom(new URL(data.target));
    const owner = typeof data.user === 'string' ? data.user : undefined;
    const route: Route = { prefix: key, data: { ...data }, target, lastActivity, owner, addedAt };
    let node = this.root;
    for (const seg of segments(key)) {
      node.children ??= new Map();
      let next = node.children.get(seg);
      if (!next) {
        next = {};
        node.children.set(seg, next);
      }
      node = next;
    }
    node.route = route;
    this.byPrefix.set(key, route);
    for (const l of this.listeners) l({ kind: 'add', route });
    return route;
  }

  remove(prefix: string): boolean {
    const key = cleanPrefix(prefix);
    if (!this.byPrefix.delete(key)) return false;
    const path: Node[] = [this.root];
    const segs = segments(key);
    for (const seg of segs) path.push(path[path.length - 1].children!.get(seg)!);
    path[path.length - 1].route = undefined;
    // prune empty branches so a churn of user routes does not grow the trie forever
    for (let i = segs.length; i > 0; i--) {
      const node = path[i];
      if (node.route || (node.children?.size ?? 0) > 0) break;
      const parent = path[i - 1];
      parent.children!.delete(segs[i - 1]);
      if (parent.children!.size === 0) parent.children = undefined;
    }
    for (const l of this.listeners) l({ kind: 'remove', prefix: key });
    return true;
  }

  get(prefix: string): Route | undefined {
    return this.byPrefix.get(cleanPrefix(prefix));
  }

  all(): IterableIterator<Route> {
    return this.byPrefix.values();
  }

  /** Longest prefix with a route, on whole segments; walks the string without splitting it. */
  match(path: string): Route | undefined {
    let node = this.root;
    let best = node.route;
    let start = 0;
    const end = path.length;
    // one leading slash only: in `//user/alice/` the first segment is empty, and empty segments match nothing
    if (path.charCodeAt(0) === 47) start = 1;
    let stop = end;
    while (stop > start && path.charCodeAt(stop - 1) === 47) stop--;
    while (start < stop) {
      let slash = path.indexOf('/', start);
      if (slash === -1 || slash > stop) slash = stop;
      const next = node.children?.get(path.slice(start, slash));
      if (!next) break;
      node = next;
      if (node.route) best = node.route;
      start = slash + 1;
    }
    return best;
  }
}
