// last_activity of routes with open websockets, for the hub's idle culler. Kernel messages are most of a notebook's
// traffic: a listener on every message was work on each of them. Instead the byte counters of the open sockets are
// looked at once a second, which costs nothing per message and is as exact as the activity writes need (every
// --activity-interval seconds, 5 by default).
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Route } from '../proxy/route-table.js';

const SWEEP_MS = 1000;

interface Open { route: Route; socket: Duplex; bytes: number }

export class WsActivity {
  private open = new Set<Open>();
  private timer?: NodeJS.Timeout;

  add(route: Route, socket: Duplex): void {
    const o: Open = { route, socket, bytes: bytesOf(socket) };
    this.open.add(o);
    socket.once('close', () => {
      this.sweepOne(o, Date.now());
      this.open.delete(o);
    });
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), SWEEP_MS);
      this.timer.unref();
    }
  }

  get size(): number {
    return this.open.size;
  }

  sweep(now = Date.now()): void {
    for (const o of this.open) this.sweepOne(o, now);
    if (this.open.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private sweepOne(o: Open, now: number): void {
    const bytes = bytesOf(o.socket);
    if (bytes === o.bytes) return;
    o.bytes = bytes;
    o.route.lastActivity = now;
  }
}

/** What the client sent and was sent; a TLS socket counts its own bytes the same way. */
function bytesOf(socket: Duplex): number {
  const s = socket as Partial<Socket>;
  return (s.bytesRead ?? 0) + (s.bytesWritten ?? 0);
}
