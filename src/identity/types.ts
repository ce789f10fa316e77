// Who the caller is: what identify() resolves a request to, and what decide() judges.
import type { IdentityProblem } from '../reasons.js';

/** Who the caller is, as far as hub-guard can tell without I/O. */
export type Identity =
  | { kind: 'anonymous' }
  | { kind: 'user'; name: string; id: number; source: 'hub-cookie' | 'session' | 'idp' }
  | { kind: 'problem'; reason: IdentityProblem; name?: string };
