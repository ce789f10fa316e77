// The upstream every proxy in the benchmark forwards to: a small HTTP answer on keep-alive connections and a
// websocket echo. Run as its own process: node dist/bench/backend.js <port>
import http from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: backend.js <port>');
  process.exit(2);
}

const BODY = Buffer.from('{"ok":true}\n');

const server = http.createServer((req, res) => {
  // the sanity check reads back what the proxy forwarded; the load path answers the same small body always
  if (req.url?.endsWith('/headers')) {
    const body = JSON.stringify({ url: req.url, headers: req.headers });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': BODY.length });
  res.end(BODY);
});
// a Jupyter server (tornado) keeps idle connections for an hour; a short timeout here would make the proxies'
// pooled sockets churn and blur the file-descriptor counts of the leak check
server.keepAliveTimeout = 0;
server.headersTimeout = 0;
server.requestTimeout = 0;

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => socket.destroy());
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('error', () => ws.terminate());
    // the leak check's server-side endings: a close handshake, a FIN without one, or a reset
    const url = req.url ?? '';
    if (url.endsWith('/server-close')) ws.once('message', () => ws.close(1000, 'bye'));
    else if (url.endsWith('/server-fin')) ws.once('message', () => ws.terminate());
    else if (url.endsWith('/server-rst')) ws.once('message', () => (socket as Socket).resetAndDestroy());
    else ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
});

server.listen(port, '127.0.0.1');
// nothing to flush; waiting for server.close() would also wait for upgraded sockets the run may have left open
process.on('SIGTERM', () => process.exit(0));
