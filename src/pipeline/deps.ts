// What the steps of the request path read: all of it in memory, fed in the background.
import type { BlockList } from 'node:net';
import type { Config } from '../config.js';
import type { Assertions } from '../identity/assertions.js';
import type { IdentifyDeps } from '../identity/identify.js';
import type { Maintenance } from '../monitor/maintenance.js';
import type { MaintenanceTemplate } from '../pages/index.js';
import type { ErrorPages } from '../proxy/error-pages.js';
import type { Route, RouteTable } from '../proxy/route-table.js';
import type { TargetConflicts } from '../proxy/target-conflicts.js';
import type { GrantRefresh } from './grant-refresh.js';
import type { Visits } from './visits.js';
import type { WsActivity } from './ws-activity.js';

export interface PipelineDeps {
  cfg: Config;
  routes: RouteTable;
  errors: ErrorPages;
  /** The cookie secret, the users index, sessions and the identity provider. */
  identity: IdentifyDeps;
  /** X-Hub-Guard-User for user servers. */
  assertions?: Assertions;
  maintenance: Maintenance;
  conflicts: TargetConflicts;
  operators: { tokens: string[]; cidrs?: BlockList };
  pages: { template?: MaintenanceTemplate; contact?: string };
  /** Identity problems seen on requests and hub answers, for the database watchdog. */
  report(problem: string): void;
  /** The hub just logged in a user the index does not know yet: read the database again soon. */
  refresh(): void;
  /** One bounded fresh read of the grants before refusing a user another's server (share codes). */
  grants: GrantRefresh;
  /** Websockets held open by a grant, closed when it ends. */
  visits: Visits;
  /** last_activity of routes with open websockets. */
  wsActivity: WsActivity;
  /** Whether a route leads to the hub itself: the one upstream trusted with credentials. */
  isHub(route: Route): boolean;
}
