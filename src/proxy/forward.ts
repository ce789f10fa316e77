// Sends allowed requests upstream with http-proxy over keep-alive agents.
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy';
import type { Config } from '../config.js';
import type { Route } from './route-table.js';

export type ForwardError = (err: Error) => void;

/**
 * http-proxy joins target and request paths with a slash-collapsing join, which would turn `/user//alice/` (the
 * hub's) into `/user/alice/` (alice's): the path the guard decided on is set on the outgoing request instead.
 */
const PATH = Symbol('hub-guard.outgoing-path');
type WithPath = http.IncomingMessage & { [PATH]?: string };

/** http-proxy wants url.parse-shaped targets; building one per route once saves a parse per request. */
export interface Target { protocol: string; hostname: string; host: string; port: string; path: string }

const targets = new WeakMap<Route, Target>();

function toTarget(u: URL): Target {
  const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return { protocol: u.protocol, hostname, host: hostname, port: u.port, path: u.pathname === '/' ? '' : u.pathname + u.search };
}

function targetOf(route: Route): Target {
  let t = targets.get(route);
  if (!t) {
    t = toTarget(route.target);
    targets.set(route, t);
  }
  return t;
}

export class Forwarder {
  readonly proxy: httpProxy;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  /** Front mode: every request goes to this one proxy, whatever route it matched. */
  private readonly upstream?: Target;

  constructor(cfg: Config) {
    this.httpAgent = new http.Agent({ keepAlive: true, maxFreeSockets: 256 });
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      maxFreeSockets: 256,
      key: cfg.clientSsl?.key,
      cert: cfg.clientSsl?.cert,
      ca: cfg.clientSsl?.ca,
      rejectUnauthorized: !cfg.insecure,
    });
    this.proxy = httpProxy.createProxyServer({
      xfwd: cfg.xForward,
      prependPath: cfg.prependPath,
      autoRewrite: cfg.autoRewrite,
      changeOrigin: cfg.changeOrigin,
      protocolRewrite: cfg.protocolRewrite,
      secure: !cfg.insecure,
      headers: cfg.customHeaders,
      timeout: cfg.timeout,
      proxyTimeout: cfg.proxyTimeout,
    });
    const setPath = (proxyReq: http.ClientRequest, req: http.IncomingMessage) => {
      const path = (req as WithPath)[PATH];
      if (path !== undefined) proxyReq.path = path;
    };
    this.proxy.on('proxyReq', setPath);
    this.proxy.on('proxyReqWs', setPath);
    // http-proxy leaves the client waiting when an upstream dies mid-body; the client must see the break
    this.proxy.on('proxyRes', (upstream, _req, res) => {
      upstream.once('close', () => {
        if (!upstream.complete) res.destroy();
      });
    });
    this.prependPath = cfg.prependPath;
    if (cfg.front) this.upstream = toTarget(new URL(cfg.front.upstream));
  }

  private readonly prependPath: boolean;

  private remember(req: http.IncomingMessage, target: Target): void {
    const url = req.url ?? '/';
    const base = this.prependPath ? target.path.replace(/\/$/, '') : '';
    (req as WithPath)[PATH] = base + url;
  }

  /** `route` may be undefined only in front mode, where the upstream answers unrouted paths itself. */
  web(req: http.IncomingMessage, res: http.ServerResponse, route: Route | undefined, onError: ForwardError): void {
    const target = this.upstream ?? targetOf(route!);
    const agent = target.protocol === 'https:' ? this.httpsAgent : this.httpAgent;
    this.remember(req, target);
    this.proxy.web(req, res, { target, agent }, onError);
  }

  ws(req: http.IncomingMessage, socket: Duplex, head: Buffer, route: Route | undefined, onError: ForwardError): void {
    // websockets hold their upstream connection for their whole life, so a pooled agent buys nothing
    const target = this.upstream ?? targetOf(route!);
    this.remember(req, target);
    this.proxy.ws(req, socket, head, { target }, onError);
  }

  close(): void {
    this.proxy.close();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
