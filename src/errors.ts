// The errors hub-guard throws on purpose: one family under HubGuardError, each with a `code`. Callers tell errors
// apart by their class (or code) and a ConfigError's `flag`, never by the text of their message.

export abstract class HubGuardError extends Error {
  /**
   * What went wrong, stable for callers: 'config', 'bad-path', 'apply-failed', 'bad-volume-list', 'command-failed';
   * an error reading the hub database carries its driver's code instead ('ENOENT', 'ETIMEDOUT', 'SQLITE_NOTADB', …).
   */
  abstract readonly code: string;
}

/**
 * A flag, an environment variable or a file one names that hub-guard cannot work with: the proxy does not start
 * (exit code 2), a subcommand exits with its usage code. The message names `flag` when there is one.
 */
export class ConfigError extends HubGuardError {
  readonly code = 'config';

  /** @param flag what the message names: `--hub-db`, or an environment variable such as `JPY_COOKIE_SECRET`. */
  constructor(message: string, readonly flag?: string) {
    super(message);
  }
}
