// HTTP clients for tests: one request per connection, the path sent byte for byte (no URL normalisation, unlike
// fetch), so tests can send dot segments, `//`, backslashes and bad percent-escapes.
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON; throws with the body in the message when it is not JSON. */
  json<T = any>(): T;
}

export interface SendOptions {
  headers?: OutgoingHttpHeaders;
  /** A string or Buffer is sent as is (for malformed bodies); anything else is JSON-encoded. */
  body?: unknown;
}

/** One HTTP request to 127.0.0.1:port on its own connection. */
export function send(port: number, method: string, path: string, opts: SendOptions = {}): Promise<Reply> {
  const headers: OutgoingHttpHeaders = { ...opts.headers };
  let payload: Buffer | undefined;
  if (opts.body !== undefined) {
    const verbatim = typeof opts.body === 'string' || Buffer.isBuffer(opts.body);
    payload = Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(verbatim ? (opts.body as string) : JSON.stringify(opts.body));
    headers['content-length'] = payload.length;
    if (!verbatim) headers['content-type'] ??= 'application/json';
  }
  return new Promise((resolve, reject) => {
    // agent:false gives every request its own connection, so a proxy that closes one cannot break the next.
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          json() {
            try {
              return JSON.parse(text);
            } catch {
              throw new Error(`${method} ${path}: expected JSON, got ${res.statusCode} ${JSON.stringify(text.slice(0, 300))}`);
            }
          },
        });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** send() with the headers and a verbatim body as arguments. */
export const request = (port: number, method: string, path: string, headers: OutgoingHttpHeaders = {}, body?: string | Buffer): Promise<Reply> =>
  send(port, method, path, { headers, body });

export const get = (port: number, path: string, headers: OutgoingHttpHeaders = {}): Promise<Reply> => send(port, 'GET', path, { headers });

export interface UpgradeResult {
  /** 101 when the upgrade went through, else the refusal's status. */
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A websocket handshake (GET with Upgrade) to 127.0.0.1:port; the connection is closed once answered. */
export function upgrade(port: number, path: string, headers: OutgoingHttpHeaders = {}): Promise<UpgradeResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1', port, path, agent: false,
      headers: {
        connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'), ...headers,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The Set-Cookie lines of a reply. */
export const setCookies = (r: { headers: IncomingHttpHeaders }): string[] => r.headers['set-cookie'] ?? [];

/** The value a Set-Cookie line gives `name`, or undefined when no line sets it. */
export function setCookieValue(r: { headers: IncomingHttpHeaders }, name: string): string | undefined {
  for (const line of setCookies(r)) {
    if (!line.startsWith(`${name}=`)) continue;
    const semi = line.indexOf(';');
    return line.slice(name.length + 1, semi === -1 ? undefined : semi);
  }
  return undefined;
}
