// The hub's cookie secret, loaded as JupyterHub 3.0 does in JupyterHub.init_secrets (app.py), so the guard verifies
// login cookies with exactly the key the hub signs them with. Runs once at startup; errors never show the secret.
import { readFileSync, statSync, type Stats } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { isPythonWhitespace } from './cookies.js';
import { a2bBase64 } from './tornado.js';
import { ConfigError } from '../errors.js';

const ENV_NAME = 'JPY_COOKIE_SECRET';
const DEFAULT_FLAG = '--cookie-secret-file';

export interface CookieSecretSource {
  /** Path of the hub's cookie_secret_file; relative paths are taken from the current directory. */
  file?: string;
  /** The value of JPY_COOKIE_SECRET; when non-empty it wins over the file, as in the hub. */
  envHex?: string;
  /** The option that named the file, for error messages (default --cookie-secret-file). */
  flagName?: string;
}

/**
 * The secret's bytes: JPY_COOKIE_SECRET hex-decoded when set, else the file, hex-decoded when its stripped content
 * is an even number of hex digits and otherwise decoded as legacy base64 the lenient way binascii.a2b_base64 does.
 * Throws a ConfigError naming the variable or the flag and path when the hub would refuse the source, and also when the
 * file is missing or yields no bytes (the hub would then generate a secret the guard cannot know yet).
 */
export function loadCookieSecret(opts: CookieSecretSource): Buffer {
  const flag = opts.flagName ?? DEFAULT_FLAG;
  if (opts.envHex) {
    const problem = hexProblem(opts.envHex);
    if (problem) throw new ConfigError(`${ENV_NAME} is not hex (${problem}); JupyterHub would refuse to start with it`, ENV_NAME);
    return Buffer.from(opts.envHex, 'hex');
  }
  if (!opts.file) throw new ConfigError(`no hub cookie secret: set ${ENV_NAME} or ${flag}`, flag);
  return readSecretFile(resolve(expandHome(opts.file)), flag);
}



function readSecretFile(path: string, flag: string): Buffer {
  const where = `${flag} ${path}`;
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') {
      throw new ConfigError(`${where}: no such file (the hub writes its cookie secret file on first start; point ${flag} at that file)`, flag);
    }
    throw new ConfigError(`${where}: cannot read the file's status (${errorCode(err)})`, flag);
  }
  if (!stats.isFile()) throw new ConfigError(`${where}: not a regular file`, flag);
  // Same refusal as the hub's: any permission bit for "other" users; group bits are allowed.
  if (stats.mode & 0o007) {
    const mode = (stats.mode & 0o777).toString(8).padStart(4, '0');
    throw new ConfigError(`${where}: file mode ${mode} lets other users read or write it, which JupyterHub refuses too; run chmod o-rwx on it`, flag);
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${where}: cannot read the file (${errorCode(err)})`, flag);
  }
  let text: string;
  try {
    // The hub reads it as UTF-8 text and keeps a byte-order mark, which then makes the content invalid.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new ConfigError(`${where}: content is not UTF-8 text`, flag);
  }
  let start = 0;
  let end = text.length;
  while (start < end && isPythonWhitespace(text.charCodeAt(start))) start++;
  while (end > start && isPythonWhitespace(text.charCodeAt(end - 1))) end--;
  const content = text.slice(start, end);

  let secret: Buffer | null;
  if (content.length > 0 && !hexProblem(content)) {
    secret = Buffer.from(content, 'hex');
  } else {
    if (!isAscii(content)) throw new ConfigError(`${where}: content is neither hex nor base64 (non-ASCII characters)`, flag);
    // Legacy (pre-0.8) base64 secret: decoding stops at the first complete padding and ignores what follows.
    secret = a2bBase64(Buffer.from(content, 'latin1'));
    if (!secret) throw new ConfigError(`${where}: content is neither hex nor valid base64 (incorrect padding)`, flag);
  }
  if (secret.length === 0) {
    throw new ConfigError(`${where}: content yields an empty secret (the hub would replace the file with a new secret on its next start)`, flag);
  }
  return secret;
}

/** Why binascii.a2b_hex would refuse s, or undefined when it is an even number of hex digits in either case. */
function hexProblem(s: string): string | undefined {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66))) {
      return `non-hex character at position ${i + 1}`;
    }
  }
  return s.length % 2 === 0 ? undefined : 'odd number of characters';
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? homedir() + p.slice(1) : p;
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
