// A bug met by one request ends that request, never the process: users' names and the hub's data are input, and one
// odd value must not take everyone's proxy down. The request gets a 500 page and one log line.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { log } from '../../log.js';
import { metrics } from '../../metrics.js';
import { renderPage } from '../../pages/index.js';
import type { RequestContext } from '../context.js';

const failures = metrics.requests.labels('internal_error');

export function fail(e: unknown, client: http.ServerResponse | Duplex, ctx: RequestContext | undefined): void {
  failures.inc();
  const requestId = ctx?.requestId() ?? randomUUID();
  log.error('request failed', { request_id: requestId, path: ctx?.path.routePath, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
  try {
    if (client instanceof http.ServerResponse) {
      if (client.headersSent) return void client.destroy();
      const page = renderPage({ kind: 'error', status: 500, reason: 'internal-error', requestId }, ctx?.req.headers.accept, ctx?.path.routePath ?? '/');
      client.writeHead(page.status, page.headers);
      client.end(page.body);
    } else if (client.writable && ((client as { bytesWritten?: number }).bytesWritten ?? 0) === 0) {
      client.end('HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    } else {
      client.destroy();
    }
  } catch {
    client.destroy();
  }
}
