// The request path, read top to bottom. Every request to the public port takes these steps, in this order, each in
// its own file under steps/, sharing one RequestContext:
//
//   health → resolve path → route → identify → operator → decide → refuse, or prepare → forward
//
// and every upstream answer, before the client sees it:
//
//   check response → refuse, or rewrite
//
// Nothing here does I/O of its own or waits for the database or Redis: the steps read memory that is fed in the
// background. A step returns a promise only when something must be computed once (a JWT seen for the first time, a
// session to sign); otherwise the whole path runs synchronously.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { log } from '../log.js';
import type { ResponseHook } from '../proxy/forward.js';
import type { Forwarder } from '../proxy/forward.js';
import { BadPath } from '../proxy/path.js';
import { RequestContext, contextOf } from './context.js';
import type { PipelineDeps } from './deps.js';
import { checkResponse } from './steps/check-response.js';
import { decideRequest } from './steps/decide.js';
import { fail } from './steps/fail.js';
import { forward } from './steps/forward.js';
import { answersHealth } from './steps/health.js';
import { identifyCaller } from './steps/identify.js';
import { checkOperator } from './steps/operator.js';
import { prepare } from './steps/prepare.js';
import { refusal, send } from './steps/refuse.js';
import { refuseBadPath, resolveTarget } from './steps/resolve-path.js';
import { routeOf } from './steps/route.js';

export interface Handlers {
  request(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

/** The forwarder's response hook (give it to the Forwarder when it is built): step 9 for every upstream answer. */
export function responseHook(deps: PipelineDeps): ResponseHook {
  return (req, head) => {
    const ctx = contextOf(req);
    if (!ctx) return false;
    const failed = (e: unknown) => {
      fail(e, ctx.client, ctx);
      return true;
    };
    try {
      const answered = checkResponse(ctx, head, deps);
      return answered instanceof Promise ? answered.catch(failed) : answered;
    } catch (e) {
      return failed(e);
    }
  };
}

export function createRequestPath(deps: PipelineDeps, forwarder: Forwarder): Handlers {
  function run(req: IncomingMessage, client: ServerResponse | Duplex, head: Buffer | undefined): void {
    let ctx: RequestContext | undefined;
    try {
      if (head === undefined && answersHealth(req, client as ServerResponse)) return;
      const path = resolveTarget(req, deps.cfg);
      if (path instanceof BadPath) return refuseBadPath(req, client, path, deps.errors);
      ctx = new RequestContext(req, client, head, path, routeOf(path, deps.routes));
      const c = ctx;
      const failed = (e: unknown) => fail(e, client, c);
      then(identifyCaller(c, deps), () => {
        checkOperator(c, deps);
        then(decideRequest(c, deps), (decision) => {
          if (decision.action !== 'allow') return send(c, refusal(c, decision, deps, c.identity.kind === 'problem'));
          then(prepare(c, deps), () => forward(c, forwarder, deps), failed);
        }, failed);
      }, failed);
    } catch (e) {
      fail(e, client, ctx);
    }
  }

  return {
    request: (req, res) => run(req, res, undefined),
    upgrade(req, socket, head) {
      socket.on('error', (e) => log.debug('client socket error', { error: e.message }));
      run(req, socket, head);
    },
  };
}

/** Runs `next` now when `step` finished synchronously, else when its promise does; `failed` gets what either throws. */
function then<T>(step: T | Promise<T>, next: (value: T) => void, failed: (e: unknown) => void): void {
  if (step instanceof Promise) step.then(next).catch(failed);
  else next(step);
}
