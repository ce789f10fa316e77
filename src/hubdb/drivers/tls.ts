import { readFileSync } from 'node:fs';
import { HubDbError } from '../errors.js';

/** Reads a certificate or key named by a db_url option, at open time so a wrong path fails at startup. */
export function readTlsFile(path: string | undefined, option: string, description: string): Buffer | undefined {
  if (path === undefined || path === '') return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new HubDbError(`hub database ${description}: cannot read the ${option} file ${path} (${code})`, 'ETLSFILE');
  }
}
