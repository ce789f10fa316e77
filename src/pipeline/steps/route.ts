// Step 3, route: configurable-http-proxy's longest whole-segment prefix, on the resolved path.
import type { ResolvedPath } from '../../proxy/path.js';
import type { Route, RouteTable } from '../../proxy/route-table.js';

export function routeOf(path: ResolvedPath, routes: RouteTable): Route | undefined {
  return routes.match(path.routePath);
}
