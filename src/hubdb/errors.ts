import { HubGuardError } from '../errors.js';

/** A failed read of the hub database; `code` lets the caller tell "not created yet" (ENOENT) from trouble. */
export class HubDbError extends HubGuardError {
  override readonly name = 'HubDbError';
  constructor(message: string, readonly code: string) {
    super(message);
  }
}

// Driver timeouts arrive under several names; the caller only needs to know the database did not answer.
const TIMEOUT_CODES = new Set([
  'ETIMEDOUT', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_LOCK_WAIT_TIMEOUT', '57014' /* pg statement_timeout */, '55P03' /* pg lock_timeout */,
]);
const TIMEOUT_MESSAGES = /timeout exceeded when trying to connect|connection terminated due to connection timeout|query read timeout|connect etimedout/i;

/** Wraps any driver error with the database's (password-free) description and a stable code. */
export function toHubDbError(err: unknown, description: string): HubDbError {
  if (err instanceof HubDbError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const raw = (err as { code?: unknown } | null)?.code;
  let code = typeof raw === 'string' && raw !== '' ? raw : 'EHUBDB';
  if (TIMEOUT_CODES.has(code) || TIMEOUT_MESSAGES.test(message)) code = 'ETIMEDOUT';
  return new HubDbError(`hub database ${description}: ${message || code}`, code);
}
