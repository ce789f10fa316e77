// Scriptable stand-ins for the hub and user servers on 127.0.0.1: a JSON echo naming the upstream, websockets that
// echo their messages, scripted answers and handlers for chosen paths, and a crash (down) and restart (up).
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** The header lines as received, names in their case: `headers` is an object and cannot hold a `__proto__` header. */
  rawHeaders: string[];
  /** Body bytes that arrived. */
  bodyBytes: number;
  /** The request ended before its body was complete (the client, or the proxy for it, went away). */
  aborted: boolean;
  upgrade?: boolean;
}

/** A canned answer: status, headers (JSON content type unless given) and body (a small JSON note unless given). */
export interface Scripted { status: number; headers?: Record<string, string | string[]>; body?: string }

export type Handler = (req: IncomingMessage, res: ServerResponse, seen: Seen) => void;

export interface UpstreamOptions {
  /** Listen on this port (default: a free one). */
  port?: number;
  /**
   * The echo carries the request headers as received (what a test reads back to see what was forwarded). Off, the
   * echo names only upstream, method, url and body size, so an answer never repeats a credential sent to the hub.
   */
  echoHeaders?: boolean;
}

export interface Upstream {
  /** Which upstream answered: the JSON echo's `upstream`. */
  name: string;
  port: number;
  url: string;
  /** Every request and websocket upgrade received, oldest first. */
  seen: Seen[];
  /** The plain requests of `seen`. */
  requests: Seen[];
  /** The websocket upgrades of `seen`. */
  upgrades: Seen[];
  /** Open websockets on this upstream. */
  sockets: Set<WebSocket>;
  /** TCP connections accepted so far. */
  connections(): number;
  /** Answers requests for exactly `path` (query ignored) with this instead of the echo. */
  script(path: string, reply: Scripted): void;
  unscript(path: string): void;
  /** Hands requests for paths starting with `prefix` to `handler` (longest prefix wins; a script goes first). */
  handle(prefix: string, handler: Handler): void;
  /** Stops listening and cuts every connection (a crashed server); up() listens again on the same port. */
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts an upstream that answers `{upstream, method, url, bodyBytes}` (and `headers`, with echoHeaders). */
export async function startUpstream(name: string, opts: UpstreamOptions = {}): Promise<Upstream> {
  const seen: Seen[] = [];
  const requests: Seen[] = [];
  const upgrades: Seen[] = [];
  const scripts = new Map<string, Scripted>();
  const handlers = new Map<string, Handler>();
  const conns = new Set<Socket>();
  const wss = new WebSocketServer({ noServer: true });
  const sockets = new Set<WebSocket>();
  let connections = 0;
  let server: Server | undefined;

  const handlerFor = (url: string): Handler | undefined => {
    let best: Handler | undefined;
    let bestLen = -1;
    for (const [prefix, h] of handlers) {
      if (url.startsWith(prefix) && prefix.length > bestLen) {
        best = h;
        bestLen = prefix.length;
      }
    }
    return best;
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const entry: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: 0, aborted: false };
    seen.push(entry);
    requests.push(entry);
    req.on('data', (c: Buffer) => { entry.bodyBytes += c.length; });
    req.on('aborted', () => { entry.aborted = true; });
    req.on('error', () => { entry.aborted = true; });
    res.on('error', () => undefined);
    const scripted = scripts.get(entry.url.split('?')[0]!);
    if (scripted) {
      req.resume();
      res.writeHead(scripted.status, { 'content-type': 'application/json', ...scripted.headers });
      res.end(scripted.body ?? JSON.stringify({ upstream: name, scripted: true }));
      return;
    }
    const handler = handlerFor(entry.url);
    if (handler) return handler(req, res, entry);
    req.on('end', () => {
      if (res.destroyed) return;
      res.writeHead(200, { 'content-type': 'application/json' });
      const headers = opts.echoHeaders ? { headers: entry.headers } : {};
      res.end(JSON.stringify({ upstream: name, method: entry.method, url: entry.url, ...headers, bodyBytes: entry.bodyBytes }));
    });
    req.resume();
  };

  const listen = async (p: number) => {
    const s = createServer(onRequest);
    s.on('connection', (c: Socket) => {
      connections++;
      conns.add(c);
      c.on('close', () => conns.delete(c));
    });
    s.on('upgrade', (req, socket, head) => {
      const entry: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: 0, aborted: false, upgrade: true };
      seen.push(entry);
      upgrades.push(entry);
      socket.on('error', () => undefined);
      wss.handleUpgrade(req, socket, head, (ws) => {
        sockets.add(ws);
        ws.on('close', () => sockets.delete(ws));
        ws.on('error', () => undefined);
        ws.on('message', (m, binary) => ws.send(m, { binary }));
      });
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(p, '127.0.0.1', () => resolve());
    });
    server = s;
    return (s.address() as AddressInfo).port;
  };

  const port = await listen(opts.port ?? 0);
  const down = async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    for (const ws of sockets) ws.terminate();
    for (const c of conns) c.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  return {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    seen,
    requests,
    upgrades,
    sockets,
    connections: () => connections,
    script: (path, reply) => { scripts.set(path, reply); },
    unscript: (path) => { scripts.delete(path); },
    handle: (prefix, h) => { handlers.set(prefix, h); },
    down,
    async up() {
      if (server) return;
      // the port was ours a moment ago; another process grabbing it in between is not worth retrying for
      await listen(port);
    },
    async stop() {
      await down();
      wss.close();
    },
  };
}
