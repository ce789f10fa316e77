// The drop-in suite against hub-guard: the same flows as chp-baseline.test.ts, in both modes.
import { fileURLToPath } from 'node:url';
import { externalProxy, runDropInSuite } from './dropin-suite.js';

/** dist/src/cli.js, next to this file's compiled location (dist/test/e2e/). */
const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

runDropInSuite('hub-guard started by the hub', () => ({ mode: { kind: 'command', command: [process.execPath, CLI] } }));
runDropInSuite('hub-guard running on its own', externalProxy([process.execPath, CLI]));
