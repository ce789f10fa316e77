import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

/** What a backend saw: the JSON it answers with, and the entry it logs for every request and upgrade. */
export interface Seen {
  name: string;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** true for a websocket upgrade. */
  upgrade?: boolean;
}

export interface BackendOptions {
  /** Identifies which backend answered; defaults to `backend-<port>`. */
  name?: string;
  /** Status to answer with (default 200); the body is still the JSON echo. */
  status?: number;
  /** Wait this long before answering, to let a proxy timeout fire first. */
  delayMs?: number;
  /** Destroy the socket instead of answering, as a crashing server would. */
  reset?: boolean;
}

export interface Backend {
  name: string;
  port: number;
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  url: string;
  /** Every request and websocket upgrade received, oldest first. */
  seen: Seen[];
  stop(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * A real upstream on 127.0.0.1 that answers every request with JSON {name, method, url, headers, body}
 * and echoes every websocket message back. The 101 answer carries `X-Backend: <name>`.
 */
export async function startBackend(opts: BackendOptions = {}): Promise<Backend> {
  const seen: Seen[] = [];
  let name = opts.name ?? '';
  const timers = new Set<NodeJS.Timeout>();

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req).catch(() => '');
    const entry: Seen = { name, method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
    seen.push(entry);
    if (opts.reset) {
      req.socket.destroy();
      return;
    }
    const answer = () => {
      if (res.destroyed) return;
      res.writeHead(opts.status ?? 200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(entry));
    };
    if (opts.delayMs) {
      const t = setTimeout(() => { timers.delete(t); answer(); }, opts.delayMs);
      timers.add(t);
    } else {
      answer();
    }
  });

  const wss = new WebSocketServer({ noServer: true });
  wss.on('headers', (headers) => { headers.push(`X-Backend: ${name}`); });
  server.on('upgrade', (req, socket, head) => {
    seen.push({ name, method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '', upgrade: true });
    if (opts.reset) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  if (!name) name = `backend-${port}`;

  return {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    seen,
    async stop() {
      for (const t of timers) clearTimeout(t);
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      // The proxy under test keeps upstream sockets alive; close() alone would wait for them.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
