import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atExit } from './at-exit.js';

export interface Scratch { dir: string; remove(): void }

/** A fresh directory under the system's tmpdir; removed by remove(), or when the test process exits without it. */
export function scratch(prefix = 'hg-test-'): Scratch {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const forget = atExit(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    remove: () => {
      rmSync(dir, { recursive: true, force: true });
      forget();
    },
  };
}
