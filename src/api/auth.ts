// Token checks for the API port, in CHP's form (`Authorization: token <t>`), compared in constant time.
import type { NextFunction, Request, Response } from 'express';
import { matchesAnyToken } from '../tokens.js';

/** The token after `token ` anywhere in the header, as CHP's unanchored `/token\s+(\S+)/` reads it. */
export function tokenFrom(header: string | undefined): string | undefined {
  return header ? /token\s+(\S+)/.exec(header)?.[1] : undefined;
}

/** Middleware allowing requests that carry one of `tokens`; with no token configured the API is open (as CHP). */
export function requireToken(tokens: () => (string | undefined)[]): (req: Request, res: Response, next: NextFunction) => void {
  return (req, res, next) => {
    const expected = tokens().filter((t): t is string => !!t);
    if (expected.length === 0) return next();
    const given = tokenFrom(req.headers.authorization);
    const ok = given !== undefined && matchesAnyToken(given, expected);
    if (ok) return next();
    res.writeHead(403);
    res.end();
  };
}
