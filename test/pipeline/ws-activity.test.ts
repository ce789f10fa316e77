// last_activity from open websockets without a listener per message: the sockets' byte counters, looked at once a
// second and when a socket closes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { WsActivity } from '../../src/pipeline/ws-activity.js';
import { RouteTable } from '../../src/proxy/route-table.js';

/** A socket stand-in whose byte counters the test moves. */
function socket(): PassThrough & { bytesRead: number; bytesWritten: number } {
  return Object.assign(new PassThrough(), { bytesRead: 0, bytesWritten: 0 });
}

test('a websocket that moved bytes advances its route at the next sweep; an idle one does not', () => {
  const routes = new RouteTable();
  const busy = routes.add('/user/alice', { target: 'http://127.0.0.1:1', user: 'alice' }, 1000);
  const idle = routes.add('/user/bob', { target: 'http://127.0.0.1:2', user: 'bob' }, 1000);
  const activity = new WsActivity();
  const a = socket();
  const b = socket();
  activity.add(busy, a);
  activity.add(idle, b);
  a.bytesRead += 64;
  activity.sweep(5000);
  assert.equal(busy.lastActivity, 5000);
  assert.equal(idle.lastActivity, 1000);
  // the server answering counts too, as a message either way does in configurable-http-proxy
  b.bytesWritten += 10;
  activity.sweep(6000);
  assert.equal(idle.lastActivity, 6000);
  assert.equal(busy.lastActivity, 5000, 'nothing new on alice');
  activity.stop();
});

test('bytes moved just before a close still count, and closed sockets are forgotten', async () => {
  const routes = new RouteTable();
  const route = routes.add('/user/alice', { target: 'http://127.0.0.1:1', user: 'alice' }, 1000);
  const activity = new WsActivity();
  const s = socket();
  activity.add(route, s);
  s.bytesRead += 5;
  s.destroy();
  await new Promise((resolve) => s.once('close', resolve));
  assert.ok(route.lastActivity > 1000);
  assert.equal(activity.size, 0);
  activity.stop();
});
