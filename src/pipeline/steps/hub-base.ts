// The hub's base_url as a request can know it: from the hub's own route, else `/`.
import { baseUrlOf } from '../../jupyterhub/conventions.js';
import type { Route } from '../../proxy/route-table.js';

export function hubBaseOf(route: Route | undefined): string {
  return route?.data.hub === true ? baseUrlOf(route.prefix) : '/';
}
