// Step 5, operator: whether the caller proved to be an operator (token or network), which passes maintenance.
import { isOperator } from '../../policy/operator.js';
import type { RequestContext } from '../context.js';
import type { PipelineDeps } from '../deps.js';

export function checkOperator(ctx: RequestContext, deps: PipelineDeps): void {
  const { req } = ctx;
  ctx.operator = isOperator(req.headers, ctx.resolved!.cookies, req.socket.remoteAddress, deps.operators.tokens, deps.operators.cidrs);
}
