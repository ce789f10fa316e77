// The drop-in suite against hub-guard: the same flows as chp-baseline.test.ts, in both modes.
import { GUARD_CLI } from '../helpers/guard.js';
import { externalGuard, runDropInSuite } from './dropin-suite.js';

runDropInSuite('hub-guard started by the hub', () => ({ mode: { kind: 'command', command: [process.execPath, GUARD_CLI] } }));
runDropInSuite('hub-guard running on its own', externalGuard());
