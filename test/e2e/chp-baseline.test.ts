// The drop-in suite against Debian's configurable-http-proxy 4.5: the baseline hub-guard must match.
import { DEBIAN_CHP, DEBIAN_NODE_PATH, debianChpCommand } from './hub.js';
import { externalProxy, runDropInSuite } from './dropin-suite.js';

runDropInSuite('Debian CHP started by the hub', () => ({ mode: debianChpCommand() }));
runDropInSuite('Debian CHP running on its own', externalProxy([DEBIAN_CHP], { env: { NODE_PATH: DEBIAN_NODE_PATH } }));
