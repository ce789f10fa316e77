// Bare forwarders, the yardsticks for hub-guard: one upstream, no routing, no checks, keep-alive upstream
// connections and X-Forwarded-* headers (which CHP and hub-guard add too).
// Run as its own process: node dist/bench/forwarder.js <undici|http-proxy|http-proxy-3> <port> <backend port>
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy';
import { createProxyServer as createProxy3 } from 'http-proxy-3';
import { Pool } from 'undici';

const [engine, portArg, backendArg] = process.argv.slice(2);
const port = Number(portArg);
const backendPort = Number(backendArg);
if (!Number.isInteger(port) || !Number.isInteger(backendPort)) {
  console.error('usage: forwarder.js <undici|http-proxy|http-proxy-3> <port> <backend port>');
  process.exit(2);
}
const target = `http://127.0.0.1:${backendPort}`;

type Handlers = { web: http.RequestListener; ws: (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void };

// connection-level headers belong to one hop and may not be passed on (RFC 9110 §7.6.1)
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

function forwardedHeaders(req: http.IncomingMessage): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP.has(k)) out[k] = v;
  out['x-forwarded-for'] = req.socket.remoteAddress ?? '';
  out['x-forwarded-port'] = String(req.socket.localPort);
  out['x-forwarded-proto'] = 'http';
  out['x-forwarded-host'] = req.headers.host ?? '';
  return out;
}

/** undici's Pool for requests; websockets as a raw TCP splice after replaying the upgrade request. */
function undiciEngine(): Handlers {
  const pool = new Pool(target, { connections: 256, keepAliveTimeout: 60_000 });
  return {
    web(req, res) {
      const body = req.method === 'GET' || req.method === 'HEAD' ? null : req;
      pool.request({ path: req.url ?? '/', method: req.method as 'GET', headers: forwardedHeaders(req), body }, (err, data) => {
        if (err) {
          res.writeHead(502).end();
          return;
        }
        const headers: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(data.headers)) if (v !== undefined && !HOP.has(k)) headers[k] = v;
        res.writeHead(data.statusCode, headers);
        data.body.pipe(res);
      });
    },
    ws(req, socket, head) {
      const up = net.connect(backendPort, '127.0.0.1');
      const end = () => { socket.destroy(); up.destroy(); };
      up.on('error', end).on('close', end);
      socket.on('error', end).on('close', end);
      up.once('connect', () => {
        const lines = [`${req.method} ${req.url} HTTP/1.1`];
        for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
        up.write(`${lines.join('\r\n')}\r\n\r\n`);
        if (head.length) up.write(head);
        socket.pipe(up).pipe(socket);
      });
    },
  };
}

/** http-proxy or http-proxy-3 with a keep-alive agent for requests (websockets hold their own connection). */
function proxyEngine(create: (o: object) => httpProxy): Handlers {
  const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 256 });
  const proxy = create({ target, xfwd: true });
  proxy.on('error', (_e, _req, res) => {
    if (res instanceof http.ServerResponse) {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    } else {
      (res as Duplex).destroy();
    }
  });
  return {
    web: (req, res) => proxy.web(req, res, { agent }),
    ws: (req, socket, head) => proxy.ws(req, socket, head),
  };
}

const engines: Record<string, () => Handlers> = {
  undici: undiciEngine,
  'http-proxy': () => proxyEngine((o) => httpProxy.createProxyServer(o)),
  'http-proxy-3': () => proxyEngine((o) => createProxy3(o) as unknown as httpProxy),
};
if (!engines[engine]) {
  console.error(`unknown engine '${engine}' (known: ${Object.keys(engines).join(', ')})`);
  process.exit(2);
}
const h = engines[engine]();
const server = http.createServer(h.web);
server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => socket.destroy());
  h.ws(req, socket, head);
});
server.listen(port, '127.0.0.1');
// nothing to flush; waiting for server.close() would also wait for upgraded sockets the run may have left open
process.on('SIGTERM', () => process.exit(0));
