// Load generators and process probes: HTTP through wrk, websocket ping-pong, idle websockets, and what a
// process costs (CPU time, RSS, open file descriptors) read from /proc.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';

/** Latencies in 1 µs buckets up to 2 s (anything slower lands in the last bucket); percentiles exact to 1 µs. */
export class Latencies {
  private counts = new Uint32Array(2_000_001);
  count = 0;

  record(ms: number): void {
    this.add(Math.round(ms * 1000), 1);
  }

  /** `n` samples of `us` microseconds at once (a bucket of wrk's histogram). */
  add(us: number, n: number): void {
    this.counts[us < this.counts.length ? us : this.counts.length - 1] += n;
    this.count += n;
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

/**
 * One wrk thread: at proxy rates it needs under half a core. Two raised the backend's direct figure on the busy 2-core
 * machine (about 22k against 18k req/s) but cost wrk a third more CPU per request, taken from the processes under test.
 */
const WRK_THREADS = 1;

// Each wrk thread reads the requests from a file (path, then header name/value pairs, tab-separated, one request a
// line) and formats them once, so request() only hands out the next string. No response() function: with one, wrk
// parses every header and body and calls Lua per response, which cost 10–20 % of the direct figure here; its own count
// of statuses above 399 is free (a 3xx passes as good; the benchmark's requests all answer 200). done() prints one JSON
// line with the totals and the raw latency histogram.
const WRK_SCRIPT = `
local source, threads = %SOURCE%, %THREADS%
local assigned = 0
function setup(thread)
  thread:set("offset", assigned)
  assigned = assigned + 1
end

local requests, count, i = {}, 0, 0
function init()
  for line in io.lines(source) do
    local fields = {}
    for f in (line .. "\\t"):gmatch("([^\\t]*)\\t") do fields[#fields + 1] = f end
    local headers = {}
    for k = 2, #fields - 1, 2 do headers[fields[k]] = fields[k + 1] end
    count = count + 1
    requests[count] = wrk.format("GET", fields[1], headers)
  end
  -- threads start at different users
  i = math.floor(offset * count / threads)
end

function request()
  i = i % count + 1
  return requests[i]
end

function done(summary, latency)
  local buckets = {}
  for k = 1, #latency do
    local us, n = latency(k)
    buckets[k] = string.format("%d,%d", us, n)
  end
  local e = summary.errors
  io.write(string.format('\\n{"requests":%d,"duration":%d,"errors":[%d,%d,%d,%d,%d],"latency":[%s]}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, table.concat(buckets, ",")))
end
`;

interface WrkResult { requests: number; duration: number; errors: number[]; latency: number[] }

/**
 * wrk's histogram (1 µs buckets, as [µs, count, µs, count, …]) as the responses really took, into `lat`.
 * Before done() wrk "corrects" for coordinated omission: every latency n ≥ 2e, e being the mean time between a
 * connection's requests, also adds a sample at n − e, n − 2e, … down to just above e. That models an open-loop
 * client; this one is closed-loop (and so is the websocket test), so the synthetic samples are taken out again:
 * walking down from the largest, a bucket m > e holds its own count plus the true counts at m + e, m + 2e, …, which
 * are summed per residue m mod e. The result must add up to the responses wrk timed, or the method is wrong.
 */
function addWrkLatencies(r: WrkResult, connections: number, lat: Latencies): void {
  const timed = r.requests - r.errors[4];
  const pairs: [number, number][] = [];
  for (let k = 0; k < r.latency.length; k += 2) pairs.push([r.latency[k], r.latency[k + 1]]);
  const perConnection = Math.floor(r.requests / connections);
  const total = pairs.reduce((s, [, n]) => s + n, 0);
  if (total !== timed && perConnection > 0) {
    const e = Math.floor(r.duration / perConnection);
    const above = new Map<number, number>();
    for (let k = pairs.length - 1; k >= 0; k--) {
      const [us, n] = pairs[k];
      if (us <= e) break;
      const sum = above.get(us % e) ?? 0;
      pairs[k][1] = n - sum;
      above.set(us % e, sum + pairs[k][1]);
    }
  }
  if (pairs.reduce((s, [, n]) => s + n, 0) !== timed || pairs.some(([, n]) => n < 0)) {
    throw new Error(`wrk's latency histogram does not add up to its ${timed} timed responses: is this wrk 4.1?`);
  }
  for (const [us, n] of pairs) if (n > 0) lat.add(us, n);
}

function runWrk(args: string[], stopAfterMs: number | undefined): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    // wrk takes whole seconds only; it ends a run early on SIGINT and reports the time it really ran
    const timer = stopAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGINT'), stopAfterMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run wrk (apt-get install wrk): ${e.message}`));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith('{"requests":'));
      if (code !== 0 || !line) reject(new Error(`wrk ${args.join(' ')} failed (exit ${code}): ${stderr.trim() || stdout.trim()}`));
      else resolve(JSON.parse(line) as WrkResult);
    });
  });
}

/** Drives `connections` keep-alive connections with wrk as fast as they are answered, cycling through all `requests`. */
export async function httpLoad(port: number, requests: HttpRequest[], seconds: number, connections: number, lat?: Latencies, pid?: number): Promise<HttpRun> {
  const dir = mkdtempSync(join(os.tmpdir(), 'hub-guard-wrk-'));
  try {
    const source = join(dir, 'requests.tsv');
    writeFileSync(source, requests.map((r) => {
      const fields = [r.path, ...Object.entries(r.headers).flat()];
      if (fields.some((f) => /[\t\r\n]/.test(f))) throw new Error(`a request for wrk has a tab or line break: ${r.path}`);
      return fields.join('\t') + '\n';
    }).join(''));
    const script = join(dir, 'load.lua');
    writeFileSync(script, WRK_SCRIPT.replace('%SOURCE%', JSON.stringify(source)).replace('%THREADS%', String(WRK_THREADS)));
    const whole = Math.ceil(seconds);
    const args = ['-t', String(WRK_THREADS), '-c', String(connections), '-d', `${whole}s`, '--latency', '-s', script, `http://127.0.0.1:${port}`];
    // wrk starts in milliseconds (formatting 10k requests included): the proxy's CPU from spawn to exit is the run's
    const cpu0 = pid ? cpuSeconds(pid) : 0;
    const r = await runWrk(args, whole === seconds ? undefined : seconds * 1000);
    const cpu = pid ? cpuSeconds(pid) - cpu0 : 0;
    if (lat) addWrkLatencies(r, connections, lat);
    return { requests: r.requests, seconds: r.duration / 1e6, bad: r.errors.reduce((a, b) => a + b, 0), cpu };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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

export interface WsResult { mps: number; p50: number; p99: number; messages: number; seconds: number; cpuSeconds: number; cpuUsPerMsg?: number }

/**
 * `clients` websockets, each sending a message as soon as the previous one came back, for one timed run; `lat`
 * gathers latencies across runs (the rounds of one target).
 */
export async function wsMessages(t: WsTarget, clients: number, seconds: number, pid?: number, lat = new Latencies()): Promise<WsResult> {
  const sockets = await Promise.all(Array.from({ length: clients }, (_, i) => openWs(t, i)));
  const payload = Buffer.alloc(64, 'x');
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
    seconds,
    cpuSeconds: cpu,
    cpuUsPerMsg: pid && messages ? (cpu * 1e6) / messages : undefined,
  };
}

/** Runs of one target summed up: rates over all of them, percentiles over every message. */
export function wsTotal(runs: WsResult[], lat: Latencies, measuredCpu: boolean): WsResult {
  const messages = runs.reduce((n, r) => n + r.messages, 0);
  const seconds = runs.reduce((n, r) => n + r.seconds, 0);
  const cpuSeconds = runs.reduce((n, r) => n + r.cpuSeconds, 0);
  return {
    mps: messages / seconds, p50: lat.percentile(50), p99: lat.percentile(99), messages, seconds, cpuSeconds,
    cpuUsPerMsg: measuredCpu && messages ? (cpuSeconds * 1e6) / messages : undefined,
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
