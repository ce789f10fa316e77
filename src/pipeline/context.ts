// One request's state, shared by every step of the request path: what is known of it, in the order it is learnt.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Resolved } from '../identity/identify.js';
import type { Identity } from '../identity/types.js';
import type { ResolvedPath } from '../proxy/path.js';
import type { Route } from '../proxy/route-table.js';
import type { Reason } from '../reasons.js';

const ANONYMOUS: Identity = { kind: 'anonymous' };

export class RequestContext {
  /** Who the caller is (the identify step). */
  resolved?: Resolved;
  /** The caller proved to be an operator (the operator step): passes maintenance. */
  operator = false;
  /** Set-Cookie lines hub-guard adds to the upstream's answer (the prepare step: sessions minted or cleared). */
  readonly setCookies: string[] = [];
  private id?: string;

  constructor(
    readonly req: IncomingMessage,
    /** Where answers go: the response, or a websocket upgrade's raw socket. */
    readonly client: ServerResponse | Duplex,
    /** A websocket upgrade's first bytes; undefined for plain HTTP. */
    readonly head: Buffer | undefined,
    /** The request target, resolved once: what is decided on and what is forwarded. */
    readonly path: ResolvedPath,
    readonly route: Route | undefined,
  ) {}

  get identity(): Identity {
    return this.resolved?.identity ?? ANONYMOUS;
  }

  /** Made on first use: most requests are never logged. */
  requestId(): string {
    return (this.id ??= randomUUID());
  }
}

/** A finished answer hub-guard gives instead of forwarding. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[]>;
  body: string | Buffer;
  /** Counted under hub_guard_blocked_total and logged. */
  reason: Reason;
  log?: Record<string, unknown>;
}

// the context rides on the request under a symbol, for the response hook: a WeakMap entry per request kept
// requests alive across scavenges and made GC the largest single cost on the request path (docs/benchmarks.md)
const CONTEXT = Symbol('hub-guard.context');

export function attach(ctx: RequestContext): void {
  (ctx.req as IncomingMessage & { [CONTEXT]?: RequestContext })[CONTEXT] = ctx;
}

export function contextOf(req: IncomingMessage): RequestContext | undefined {
  return (req as IncomingMessage & { [CONTEXT]?: RequestContext })[CONTEXT];
}
