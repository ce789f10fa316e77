// Sends allowed requests upstream: plain HTTP through undici pools (one per upstream origin), websockets through
// http-proxy. undici costs about half the CPU per request of node's http client, and http-proxy's upgrade handling
// is leak-free under the websocket tests and the benchmark's leak check (docs/benchmarks.md, "The forwarding engine").
import http from 'node:http';
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy';
import { Pool, type Dispatcher } from 'undici';
import type { Config } from '../config.js';
import { targetFrom, type Route, type Target } from './route-table.js';

export type ForwardError = (err: Error) => void;

/** What the guard may look at, and change, before the client sees an upstream response. */
export interface UpstreamHead {
  statusCode: number;
  /** Only the headers the guard checks; every other header goes to the client as the upstream sent it. */
  headers: { 'set-cookie'?: string[]; location?: string };
}

/**
 * Sees every upstream answer's head, HTTP or websocket, before the client does, and may change it. Returns true when
 * it answered the client itself; the upstream's answer is then dropped.
 */
export type ResponseHook = (req: http.IncomingMessage, head: UpstreamHead) => boolean | Promise<boolean>;

/**
 * http-proxy joins target and request paths with a slash-collapsing join, which would turn `/user//alice/` (the
 * hub's) into `/user/alice/` (alice's): the path the guard decided on is set on the outgoing request instead.
 */
const PATH = Symbol('hub-guard.outgoing-path');
type WithPath = http.IncomingMessage & { [PATH]?: string };


/** Belong to one connection (RFC 9110 §7.6.1); undici refuses most of them, and sets its own. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect']);
/** Headers node's own parser keeps only the first of (as CHP's clients see them): `Location: /a, /b` leads nowhere. */
const SINGLE = new Set(['age', 'content-length', 'content-type', 'etag', 'expires', 'last-modified', 'location', 'retry-after', 'server', 'from', 'authorization', 'proxy-authorization', 'referer', 'user-agent', 'host', 'max-forwards', 'if-modified-since', 'if-unmodified-since']);
const REDIRECT = new Set([201, 301, 302, 307, 308]);
/** Idle pools of upstreams that went away (stopped servers, deleted routes) are closed this often. */
const SWEEP_MS = 60_000;

export class Forwarder {
  /** Websockets only. */
  readonly proxy: httpProxy;
  private readonly pools = new Map<string, Pool>();
  private readonly poolOptions: Pool.Options;
  private readonly timeouts: { headersTimeout: number; bodyTimeout: number };
  private readonly sweeper: NodeJS.Timeout;
  /** --custom-header, lower-cased: they replace whatever the client sent under those names. */
  private readonly custom: Array<[string, string]>;
  /** Client headers dropped because hub-guard sets them itself. */
  private readonly replaced: Set<string>;
  /** Front mode: every request goes to this one proxy, whatever route it matched. */
  private readonly upstream?: Target;

  constructor(private readonly cfg: Config, readonly onResponse: ResponseHook = () => false) {
    this.poolOptions = {
      // as many connections as requests in flight, like node's agent: a slow user server must not queue the hub's
      connections: null,
      connect: { key: cfg.clientSsl?.key, cert: cfg.clientSsl?.cert, ca: cfg.clientSsl?.ca, rejectUnauthorized: !cfg.insecure },
    };
    // undici gives up on a silent upstream after 300 s by default; CHP waits for ever unless told otherwise
    const limit = cfg.proxyTimeout ?? 0;
    this.timeouts = { headersTimeout: limit, bodyTimeout: limit };
    this.proxy = httpProxy.createProxyServer({
      xfwd: cfg.xForward,
      prependPath: cfg.prependPath,
      changeOrigin: cfg.changeOrigin,
      secure: !cfg.insecure,
      headers: cfg.customHeaders,
      timeout: cfg.timeout,
      proxyTimeout: cfg.proxyTimeout,
    });
    this.proxy.on('proxyReqWs', (proxyReq: http.ClientRequest, req: http.IncomingMessage, socket: Duplex) => {
      const path = (req as WithPath)[PATH];
      if (path !== undefined) proxyReq.path = path;
      // http-proxy copies the upstream's answer to an upgrade, 101 or not, to the client as it is: the guard sees
      // it first (a user server must not set a login cookie through its websocket answer either)
      const check = (res: http.IncomingMessage, upgraded?: Duplex) => {
        const cookies = res.headers['set-cookie'];
        const head: UpstreamHead = { statusCode: res.statusCode ?? 0, headers: cookies ? { 'set-cookie': [...cookies] } : {} };
        const verdict = this.onResponse(req, head);
        if (verdict !== false) {
          upgraded?.destroy();
          res.destroy();
          // a websocket answer cannot wait: one the guard is not sure of yet is cut off
          if (verdict !== true) socket.destroy();
          return;
        }
        if (head.headers['set-cookie']) res.headers['set-cookie'] = head.headers['set-cookie'];
        else delete res.headers['set-cookie'];
      };
      proxyReq.prependListener('response', (res) => check(res));
      proxyReq.prependListener('upgrade', (res, upstreamSocket: Duplex) => check(res, upstreamSocket));
    });
    this.custom = Object.entries(cfg.customHeaders ?? {}).map(([k, v]) => [k.toLowerCase(), v]);
    this.replaced = new Set([
      ...this.custom.map(([k]) => k),
      ...(cfg.xForward ? ['x-forwarded-for', 'x-forwarded-port', 'x-forwarded-proto', 'x-forwarded-host'] : []),
      ...(cfg.changeOrigin ? ['host'] : []),
    ]);
    if (cfg.front) this.upstream = targetFrom(new URL(cfg.front.upstream));
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS).unref();
  }

  private outgoingPath(req: http.IncomingMessage, target: Target): string {
    const url = req.url ?? '/';
    return this.cfg.prependPath ? target.path + url : url;
  }

  private poolFor(target: Target): Pool {
    const cached = target.pool;
    if (cached && !cached.closed) return cached;
    let pool = this.pools.get(target.origin);
    if (!pool) {
      pool = new Pool(target.origin, this.poolOptions);
      this.pools.set(target.origin, pool);
    }
    target.pool = pool;
    return pool;
  }

  private sweep(): void {
    for (const [origin, pool] of this.pools) {
      const s = pool.stats;
      if (s.connected === 0 && s.pending === 0 && s.running === 0) {
        this.pools.delete(origin);
        void pool.close();
      }
    }
  }

  /** `route` may be undefined only in front mode, where the upstream answers unrouted paths itself. */
  web(req: http.IncomingMessage, res: http.ServerResponse, route: Route | undefined, onError: ForwardError): void {
    const target = this.upstream ?? route!.target;
    if (this.cfg.timeout) req.socket.setTimeout(this.cfg.timeout);
    const exchange = new Exchange(this, req, res, target, onError);
    // node parses a request without length or chunked encoding as having no body
    const body = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined ? req : null;
    this.poolFor(target).dispatch(
      { path: this.outgoingPath(req, target), method: req.method as Dispatcher.HttpMethod, headers: this.requestHeaders(req, target), body, ...this.timeouts },
      exchange,
    );
  }

  /** A flat name/value list (undici takes it as is): the client's headers without hop-by-hop ones, then ours. */
  private requestHeaders(req: http.IncomingMessage, target: Target): string[] {
    const out: string[] = [];
    const h = req.headers;
    for (const k in h) {
      const v = h[k];
      if (v === undefined || HOP_BY_HOP.has(k) || this.replaced.has(k)) continue;
      if (typeof v === 'string') out.push(k, v);
      else for (const x of v) out.push(k, x);
    }
    if (this.cfg.xForward) {
      // appended to what earlier proxies said, as CHP (http-proxy) does: the first hop's address stays first
      const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
      const port = h.host ? /:(\d+)/.exec(h.host)?.[1] : undefined;
      out.push(
        'x-forwarded-for', after(h['x-forwarded-for'], req.socket.remoteAddress ?? ''),
        'x-forwarded-port', after(h['x-forwarded-port'], port ?? (encrypted ? '443' : '80')),
        'x-forwarded-proto', after(h['x-forwarded-proto'], encrypted ? 'https' : 'http'),
        'x-forwarded-host', (h['x-forwarded-host'] as string | undefined) ?? h.host ?? '',
      );
    }
    if (this.cfg.changeOrigin && !this.custom.some(([k]) => k === 'host')) out.push('host', target.authority);
    for (const [k, v] of this.custom) out.push(k, v);
    return out;
  }

  /** Rewrites a redirect to the upstream itself into one to this proxy (--auto-rewrite, --protocol-rewrite). */
  rewriteLocation(req: http.IncomingMessage, target: Target, head: UpstreamHead): void {
    const location = head.headers.location;
    if (location === undefined || !REDIRECT.has(head.statusCode) || !(this.cfg.autoRewrite || this.cfg.protocolRewrite)) return;
    let u: URL;
    try {
      u = new URL(location);
    } catch {
      return; // relative: already points at whoever the client asked
    }
    if (u.host !== target.authority) return;
    if (this.cfg.autoRewrite && req.headers.host) u.host = req.headers.host;
    if (this.cfg.protocolRewrite) u.protocol = this.cfg.protocolRewrite;
    head.headers.location = u.href;
  }

  ws(req: http.IncomingMessage, socket: Duplex, head: Buffer, route: Route | undefined, onError: ForwardError): void {
    // websockets hold their upstream connection for their whole life, so a pooled agent buys nothing
    const target = this.upstream ?? route!.target;
    (req as WithPath)[PATH] = this.outgoingPath(req, target);
    this.proxy.ws(req, socket, head, { target }, onError);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.proxy.close();
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy()));
  }
}

/** Whether a flat name/value list already has this (lower-case) name. */
function named(list: string[], name: string): boolean {
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) return true;
  return false;
}

function after(earlier: string | string[] | undefined, value: string): string {
  return earlier ? `${earlier},${value}` : value;
}

/**
 * One request's trip upstream and back, as undici's dispatch handler: response bytes go straight to the client
 * with backpressure both ways, without a stream in between.
 */
class Exchange implements Dispatcher.DispatchHandlers {
  private abort?: (err?: Error) => void;
  private resume?: () => void;
  private done = false;

  constructor(
    private readonly fwd: Forwarder,
    private readonly req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
    private readonly target: Target,
    private readonly failed: ForwardError,
  ) {
    // a client that leaves stops the upstream request too (a stream it was watching, a large download)
    res.once('close', () => {
      if (!this.done) this.abort?.();
    });
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    if (this.res.destroyed) abort();
  }

  onHeaders(statusCode: number, raw: Buffer[] | string[] | null, resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true; // 1xx: node answers Expect itself; early hints are not passed on
    this.resume = resume;
    // a flat name/value list, as node's writeHead takes it: no object with per-response keys to build
    const list: string[] = [];
    const head: UpstreamHead = { statusCode, headers: {} };
    let framed = false;
    for (let i = 0; raw && i < raw.length; i += 2) {
      const k = raw[i].toString('latin1').toLowerCase();
      const v = raw[i + 1].toString('latin1');
      if (k === 'set-cookie') (head.headers['set-cookie'] ??= []).push(v);
      else if (k === 'location') head.headers.location ??= v;
      else if (HOP_BY_HOP.has(k)) framed ||= k === 'transfer-encoding';
      else if (!SINGLE.has(k) || !named(list, k)) {
        framed ||= k === 'content-length' && v !== '0';
        list.push(k, v);
      }
    }
    this.fwd.rewriteLocation(this.req, this.target, head);
    const verdict = this.fwd.onResponse(this.req, head);
    if (verdict === true) return this.finishEarly();
    if (verdict === false) return this.sendHead(head, list, statusText, framed);
    // the guard must learn something first (a grant the hub has just written): the upstream waits, paused
    verdict.then((answered) => {
      if (this.done) return;
      if (answered) this.finishEarly();
      else if (this.sendHead(head, list, statusText, framed)) resume();
    }, (err: Error) => this.onError(err));
    return false;
  }

  /** Writes the head as the guard left it; false when the answer is complete already. */
  private sendHead(head: UpstreamHead, list: string[], statusText: string, framed: boolean): boolean {
    const { location, 'set-cookie': cookies } = head.headers;
    if (location !== undefined) list.push('location', location);
    if (cookies) for (const c of cookies) list.push('set-cookie', c);
    this.res.writeHead(head.statusCode, statusText || undefined, list);
    // undici frames a 304 by its Content-Length or chunking (both legal, RFC 9110 §8.6) and would wait for a body
    // that never comes; a 304 has none, so it is complete now
    if (head.statusCode === 304 && framed) {
      this.res.end();
      return this.finishEarly();
    }
    return true;
  }

  /** The client has its answer; the upstream connection is given up rather than drained. */
  private finishEarly(): false {
    this.done = true;
    this.abort?.();
    return false;
  }

  onData(chunk: Buffer): boolean {
    if (this.res.write(chunk)) return true;
    this.res.once('drain', this.resume!);
    return false;
  }

  onComplete(): void {
    this.done = true;
    this.res.end();
  }

  onError(err: Error): void {
    if (this.done) return;
    this.done = true;
    // before the head: the handler answers with an error page; after it: the client must see the break
    if (!this.res.headersSent) this.failed(err);
    else this.res.destroy(err);
  }
}
