// Step 4, identify: who the caller is, from what the request carries (docs/security.md, guarantee 2). Synchronous
// unless a token is seen for the first time; identity problems are counted and handed to the database watchdog.
import { ASSERTION_HEADER } from '../../identity/assertions.js';
import { identify, type Resolved } from '../../identity/identify.js';
import { metrics } from '../../metrics.js';
import type { RequestContext } from '../context.js';
import type { PipelineDeps } from '../deps.js';

export function identifyCaller(ctx: RequestContext, deps: PipelineDeps): void | Promise<void> {
  // only hub-guard writes this header; a client-sent copy is a forgery
  delete ctx.req.headers[ASSERTION_HEADER];
  const r = identify(ctx.req.headers, deps.identity);
  if (r instanceof Promise) return r.then((resolved) => learn(ctx, resolved, deps));
  learn(ctx, r, deps);
}

function learn(ctx: RequestContext, r: Resolved, deps: PipelineDeps): void {
  ctx.resolved = r;
  if (r.identity.kind === 'problem') {
    metrics.identityProblems.labels(r.identity.reason).inc();
    deps.report(r.identity.reason);
  }
  if (r.unknownCookieId) {
    metrics.identityProblems.labels('cookie-id-unknown').inc();
    deps.report('cookie-id-unknown');
  }
}
