// Load generators and process probes: HTTP through autocannon, websocket ping-pong, idle websockets, and what a
// process costs (CPU time, RSS, open file descriptors) read from /proc.
import { readdirSync, readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import WebSocket from 'ws';

/** Latencies in 1 µs buckets up to 2 s (anything slower lands in the last bucket); percentiles exact to 1 µs. */
export class Latencies {
  private counts = new Uint32Array(2_000_001);
  count = 0;

  record(ms: number): void {
    const us = Math.round(ms * 1000);
    this.counts[us < this.counts.length ? us : this.counts.length - 1]++;
    this.count++;
  }

  /** The p-th percentile in ms. */
  percentile(p: number): number {
    const want = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (let us = 0; us < this.counts.length; us++) {
      seen += this.counts[us];
      if (seen >= want && seen > 0) return us / 1000;
    }
    return NaN;
  }
}

/** User CPU + system CPU of a process so far, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // fields after the command name, which is in parentheses and may contain spaces
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
// Linux reports CPU time in USER_HZ, 100 on every architecture node runs on
const CLOCK_TICKS = 100;

export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The highest RSS the process had so far (VmHWM). */
export function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export interface HttpRequest { path: string; headers: Record<string, string> }

/** What one load run measured; latencies go into the Latencies passed in, so rounds can be merged. */
export interface HttpRun {
  requests: number;
  seconds: number;
  /** Non-2xx answers, errors and timeouts: any of these makes the figures suspect. */
  bad: number;
  /** CPU seconds the proxy process spent meanwhile (independent of how the cores were shared). */
  cpu: number;
}

/** autocannon renders every request for every connection up front: 10k users × 32 connections takes seconds. */
const SAMPLE = 1000;

/** A fresh random sample of the requests, so successive runs spread over all users. */
function sample<T>(all: T[], n: number): T[] {
  if (all.length <= n) return all;
  const picked = new Set<number>();
  while (picked.size < n) picked.add(Math.floor(Math.random() * all.length));
  return [...picked].map((i) => all[i]);
}

/** Drives `connections` keep-alive connections as fast as they are answered, cycling through `requests` (a sample of them). */
export async function httpLoad(port: number, requests: HttpRequest[], seconds: number, connections: number, lat?: Latencies, pid?: number): Promise<HttpRun> {
  let bad = 0;
  const run = autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    duration: seconds,
    requests: sample(requests, SAMPLE).map((r) => ({ method: 'GET', path: r.path, headers: r.headers })),
  });
  // autocannon's own duration includes rendering the requests; time and CPU are counted from its 'start' instead
  let cpu0 = 0;
  let t0 = 0;
  run.once('start', () => {
    t0 = performance.now();
    cpu0 = pid ? cpuSeconds(pid) : 0;
  });
  run.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) lat?.record(ms);
    else bad++;
  });
  const r = await run;
  return { requests: r.requests.total, seconds: (performance.now() - t0) / 1000, bad: bad + r.errors + r.timeouts, cpu: pid ? cpuSeconds(pid) - cpu0 : 0 };
}

export interface WsTarget { port: number; path(i: number): string; headers(i: number): Record<string, string> }

function openWs(t: WsTarget, i: number, suffix = ''): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${t.port}${t.path(i)}${suffix}`, { headers: t.headers(i), perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => {
      ws.terminate();
      reject(new Error(`upgrade answered ${res.statusCode}`));
    });
  });
}

export interface WsResult { mps: number; p50: number; p99: number; messages: number; cpuUsPerMsg?: number }

/** `clients` websockets, each sending a message as soon as the previous one came back. */
export async function wsMessages(t: WsTarget, clients: number, seconds: number, pid?: number): Promise<WsResult> {
  const sockets = await Promise.all(Array.from({ length: clients }, (_, i) => openWs(t, i)));
  const payload = Buffer.alloc(64, 'x');
  const lat = new Latencies();
  // a short warm-up so the JIT and buffers settle before counting
  const deadline = { warm: Date.now() + 500, end: 0 };
  let messages = 0;
  let cpu0 = 0;
  await new Promise<void>((resolve) => {
    let running = clients;
    for (const ws of sockets) {
      let sent = 0;
      const send = () => {
        sent = performance.now();
        ws.send(payload);
      };
      ws.on('message', () => {
        const now = Date.now();
        if (deadline.end === 0 && now >= deadline.warm) {
          deadline.end = now + seconds * 1000;
          cpu0 = pid ? cpuSeconds(pid) : 0;
        }
        if (deadline.end !== 0) {
          if (now >= deadline.end) {
            if (--running === 0) resolve();
            return;
          }
          messages++;
          lat.record(performance.now() - sent);
        }
        send();
      });
      send();
    }
  });
  const cpu = pid ? cpuSeconds(pid) - cpu0 : 0;
  for (const ws of sockets) ws.terminate();
  return {
    mps: messages / seconds,
    p50: lat.percentile(50),
    p99: lat.percentile(99),
    messages,
    cpuUsPerMsg: pid && messages ? (cpu * 1e6) / messages : undefined,
  };
}

/** Opens `count` websockets, `concurrency` at a time, and leaves them open; returns them and the failures. */
export async function openIdle(t: WsTarget, count: number, concurrency: number): Promise<{ sockets: WebSocket[]; failed: number; firstError?: string }> {
  const sockets: WebSocket[] = [];
  let failed = 0;
  let firstError: string | undefined;
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const i = next++;
      try {
        const ws = await openWs(t, i);
        ws.on('error', () => undefined);
        sockets.push(ws);
      } catch (e) {
        failed++;
        firstError ??= (e as Error).message;
      }
    }
  }));
  return { sockets, failed, firstError };
}

export async function closeAll(sockets: WebSocket[]): Promise<void> {
  await Promise.all(sockets.map((ws) => new Promise<void>((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve();
    ws.once('close', () => resolve());
    ws.terminate();
  })));
}

/** How each websocket of the leak check ends: by the client or the server, with a close handshake, a FIN or a reset. */
export const ENDINGS = ['client-close', 'client-fin', 'client-rst', 'server-close', 'server-fin', 'server-rst'] as const;

export type Ending = (typeof ENDINGS)[number];

/** Opens and ends `count` websockets, `concurrency` at a time, cycling through `endings`; returns how many misbehaved. */
export async function churnWs(t: WsTarget, count: number, concurrency: number, endings: readonly Ending[] = ENDINGS): Promise<{ failed: number; firstError?: string }> {
  let failed = 0;
  let firstError: string | undefined;
  let next = 0;
  const one = async (i: number) => {
    const ending = endings[i % endings.length];
    const ws = await openWs(t, i, ending.startsWith('server') ? `/${ending}` : '');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`${ending}: no end after 5 s`));
      }, 5000);
      ws.on('error', () => undefined);
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.once('message', () => {
        if (ending === 'client-close') ws.close(1000);
        else if (ending === 'client-fin') ws.terminate();
        else if (ending === 'client-rst') (ws as unknown as { _socket: import('node:net').Socket })._socket.resetAndDestroy();
      });
      ws.send('ping');
    });
  };
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const i = next++;
      try {
        await one(i);
      } catch (e) {
        failed++;
        firstError ??= (e as Error).message;
      }
    }
  }));
  return { failed, firstError };
}
