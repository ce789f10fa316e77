// Step 1, health: configurable-http-proxy's liveness answer on the public port, before anything is looked at.
import type { IncomingMessage, ServerResponse } from 'node:http';

export function answersHealth(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.url !== '/_chp_healthz') return false;
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end('{"status":"OK"}');
  return true;
}
