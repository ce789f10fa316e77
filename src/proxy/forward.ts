// Sends allowed requests upstream with http-proxy over keep-alive agents.
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy';
import type { Config } from '../config.js';
import type { Route } from './route-table.js';

export type ForwardError = (err: Error) => void;

/** http-proxy wants url.parse-shaped targets; building one per route once saves a parse per request. */
export interface Target { protocol: string; hostname: string; host: string; port: string; path: string }

const targets = new WeakMap<Route, Target>();

function targetOf(route: Route): Target {
  let t = targets.get(route);
  if (!t) {
    const u = route.target;
    const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    t = { protocol: u.protocol, hostname, host: hostname, port: u.port, path: u.pathname === '/' ? '' : u.pathname + u.search };
    targets.set(route, t);
  }
  return t;
}

export class Forwarder {
  readonly proxy: httpProxy;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

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
  }

  web(req: http.IncomingMessage, res: http.ServerResponse, route: Route, onError: ForwardError): void {
    const target = targetOf(route);
    const agent = target.protocol === 'https:' ? this.httpsAgent : this.httpAgent;
    this.proxy.web(req, res, { target, agent }, onError);
  }

  ws(req: http.IncomingMessage, socket: Duplex, head: Buffer, route: Route, onError: ForwardError): void {
    // websockets hold their upstream connection for their whole life, so a pooled agent buys nothing
    this.proxy.ws(req, socket, head, { target: targetOf(route) }, onError);
  }

  close(): void {
    this.proxy.close();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
