// CHP's answers for proxy errors (no route, dead upstream): from --error-target, --error-path, or a plain page.
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { log } from '../log.js';
import { renderPage } from '../pages/index.js';

export interface ErrorPageSource {
  errorTarget?: string;
  errorPath?: string;
}

export class ErrorPages {
  private readonly target?: URL;
  private readonly files = new Map<number, Buffer | null>();

  constructor(private readonly src: ErrorPageSource) {
    if (src.errorTarget) this.target = new URL(src.errorTarget.endsWith('/') ? src.errorTarget : `${src.errorTarget}/`);
  }

  /** Answers a web request with `code`; the hub's own error page when --error-target is set. */
  web(code: number, req: http.IncomingMessage, res: http.ServerResponse): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (this.target) return this.fromTarget(code, req, res);
    const page = this.src.errorPath ? this.fromPath(code) : null;
    if (page) {
      res.writeHead(code, { 'Content-Type': 'text/html' });
      res.end(page);
      return;
    }
    builtin(code, req, res);
  }

  /** Websocket refusals are a bare status line; there is no page to show. */
  ws(code: number, req: http.IncomingMessage, socket: Duplex): void {
    // after the 101 the socket carries websocket frames: a status line there would be garbage, so just close it
    const upgraded = ((socket as { bytesWritten?: number }).bytesWritten ?? 0) > 0;
    if (socket.writable && !upgraded) socket.end(`HTTP/${req.httpVersion} ${code} ${http.STATUS_CODES[code]}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    else socket.destroy();
  }

  private fromTarget(code: number, req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(String(code), this.target);
    url.searchParams.set('url', req.url ?? '/');
    const client = url.protocol === 'https:' ? https : http;
    const upstream = client.get(url, (page) => {
      const headers: Record<string, string> = {};
      for (const key of ['content-type', 'content-encoding']) {
        const v = page.headers[key];
        if (typeof v === 'string') headers[key] = v;
      }
      if (res.headersSent || res.destroyed) {
        page.resume();
        return;
      }
      res.writeHead(code, headers);
      page.pipe(res);
    });
    upstream.setTimeout(10_000, () => upstream.destroy(new Error('timed out')));
    upstream.on('error', (e) => {
      log.warn('error page request failed', { code, error: e.message });
      if (!res.headersSent) builtin(code, req, res);
      else res.destroy();
    });
  }

  private fromPath(code: number): Buffer | null {
    // files are read once: an error storm must not become a disk storm
    if (!this.files.has(code)) {
      const dir = this.src.errorPath!;
      this.files.set(code, readOrNull(join(dir, `${code}.html`)) ?? readOrNull(join(dir, 'error.html')));
    }
    return this.files.get(code)!;
  }
}

function readOrNull(file: string): Buffer | null {
  try {
    return readFileSync(file);
  } catch {
    return null;
  }
}

function builtin(code: number, req: http.IncomingMessage, res: http.ServerResponse): void {
  const page = renderPage({ kind: 'error', status: code, reason: `proxy-${code}`, requestId: randomUUID() }, req.headers.accept, req.url ?? '/');
  res.writeHead(page.status, page.headers);
  res.end(page.body);
}
