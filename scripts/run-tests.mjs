// Runs every compiled test file with node's test runner. Narrow with TEST_FILTER=<substring of the path>.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return collect(path);
    return path.endsWith('.test.js') ? [path] : [];
  });
}

const filter = process.env.TEST_FILTER ?? '';
const files = collect('dist/test').filter((f) => f.includes(filter)).sort();
if (files.length === 0) {
  console.error(`no test files match TEST_FILTER=${filter}`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
