// Where a proxy's CPU goes under the benchmark's HTTP load. Starts the backend and one target, sets it up as
// `npm run bench` does, and samples it through the inspector only while the load runs (setup and
// warm-up stay out of the profile). Prints CPU µs per request by area and by function, or with --alloc the bytes
// allocated per request (garbage included) by area and by function.
// Run: node dist/bench/profile.js [--alloc] [hub-guard|chp|undici|http-proxy|http-proxy-3] [users=10000] [seconds=10] [top=30]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { browserCookies, type BenchUser } from './hub-fixture.js';
import { connectInspector } from './inspector.js';
import { httpLoad, type HttpRequest } from './load.js';
import { postRoutes, startBackend, startChp, startForwarder, startHubGuard, stopAll, touchAll, userRequests, type Engine, type Running } from './targets.js';

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

// CommonJS modules report plain paths, ES modules file:// URLs; either way keep what follows the repository root
const placeOf = (n: ProfileNode) => n.callFrame.url.replace(/^(?:file:\/\/)?\/.*?\/(node_modules|dist)\//, '$1/');
const nameOf = (n: ProfileNode) => {
  const place = placeOf(n);
  return `${n.callFrame.functionName || '(anonymous)'}${place ? ` ${place}:${n.callFrame.lineNumber + 1}` : ''}`;
};

// native functions that do the socket system calls
const SOCKET_WRITES = new Set(['writev', 'writeLatin1String', 'writeUtf8String', 'writeBuffer', 'writeAsciiString', 'writeUcs2String', 'shutdown', 'close', 'readStop', 'readStart']);

/** The part of the stack a function belongs to, for the per-area breakdown. */
function areaOf(n: ProfileNode): string {
  const place = placeOf(n);
  const fn = n.callFrame.functionName;
  if (fn === '(garbage collector)') return 'garbage collection';
  if (fn === '(program)' || fn === '(root)') return 'V8/native (unattributed)';
  if (!place) return SOCKET_WRITES.has(fn) ? 'socket writes (syscalls)' : 'native (other)';
  if (place.startsWith('dist/src/')) return `hub-guard: ${place.slice('dist/src/'.length)}`;
  if (place.startsWith('dist/bench/')) return 'bench forwarder';
  if (place.startsWith('node_modules/')) return place.split('/')[1];
  if (/^node:_http_(server|incoming|common)/.test(place)) return 'node http server + parser';
  if (/^node:_http_(client|agent)/.test(place)) return 'node http client + agent';
  if (place.startsWith('node:_http_outgoing')) return 'node http outgoing (headers, writes)';
  if (/url/.test(place)) return 'node url';
  if (/crypto/.test(place)) return 'node crypto';
  if (/streams|stream_base|node:net|node:events|timers|task_queues|async_hooks/.test(place)) return 'node streams, net, events, ticks';
  return 'node (other)';
}

/** Self and inclusive time per function (by name and place, so recursion and many call sites add up once), and self time per area. */
export function summariseProfile(p: CpuProfile): { busy: number; self: Map<string, number>; inclusive: Map<string, number>; areas: Map<string, number> } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfById = new Map<number, number>();
  p.samples.forEach((id, i) => selfById.set(id, (selfById.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const areas = new Map<string, number>();
  let busy = 0;
  const add = (m: Map<string, number>, k: string, t: number) => m.set(k, (m.get(k) ?? 0) + t);
  for (const [id, t] of selfById) {
    const node = byId.get(id)!;
    if (node.callFrame.functionName === '(idle)') continue;
    busy += t;
    add(self, nameOf(node), t);
    add(areas, areaOf(node), t);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = nameOf(byId.get(cur)!);
      if (!seen.has(k)) add(inclusive, k, t);
      seen.add(k);
    }
  }
  return { busy, self, inclusive, areas };
}

interface HeapNode { callFrame: ProfileNode['callFrame']; selfSize: number; children: HeapNode[] }

/** Bytes allocated per function (garbage included) and per area, from a sampling heap profile. */
export function summariseAllocations(root: HeapNode): { total: number; self: Map<string, number>; areas: Map<string, number> } {
  const self = new Map<string, number>();
  const areas = new Map<string, number>();
  let total = 0;
  const walk = (n: HeapNode) => {
    if (n.selfSize) {
      const node = { id: 0, callFrame: n.callFrame };
      self.set(nameOf(node), (self.get(nameOf(node)) ?? 0) + n.selfSize);
      areas.set(areaOf(node), (areas.get(areaOf(node)) ?? 0) + n.selfSize);
      total += n.selfSize;
    }
    for (const c of n.children) walk(c);
  };
  walk(root);
  return { total, self, areas };
}

type Sampling = 'cpu' | 'alloc';

/** Samples the process (inspector activated by SIGUSR1) while `during` runs: CPU, or allocations (garbage included). */
async function sampled<T>(p: Running, kind: Sampling, during: () => Promise<T>): Promise<{ profile: unknown; result: T }> {
  process.kill(p.pid, 'SIGUSR1');
  const inspector = await connectInspector(p.inspectPort);
  try {
    if (kind === 'cpu') {
      await inspector.call('Profiler.enable');
      await inspector.call('Profiler.setSamplingInterval', { interval: 250 });
      await inspector.call('Profiler.start');
      const result = await during();
      const { profile } = (await inspector.call('Profiler.stop')) as { profile: CpuProfile };
      return { profile, result };
    }
    await inspector.call('HeapProfiler.enable');
    await inspector.call('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    const result = await during();
    const { profile } = (await inspector.call('HeapProfiler.stopSampling')) as { profile: { head: HeapNode } };
    return { profile, result };
  } finally {
    inspector.close();
  }
}

/** Pause time per kind of collection, from --trace-gc lines such as `… ms: Scavenge 29.4 (48.5) -> 16.0 (48.5) MB, 1.12 / 0.16 ms …`. */
function gcTime(trace: string): Map<string, { count: number; ms: number }> {
  const out = new Map<string, { count: number; ms: number }>();
  for (const m of trace.matchAll(/ ms: ([A-Za-z-]+)[^\n]*?MB, ([\d.]+) \/ [\d.]+ ms/g)) {
    const e = out.get(m[1]) ?? { count: 0, ms: 0 };
    e.count++;
    e.ms += Number(m[2]);
    out.set(m[1], e);
  }
  return out;
}

const TARGETS = ['hub-guard', 'chp', 'undici', 'http-proxy', 'http-proxy-3'] as const;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const kind: Sampling = args.includes('--alloc') ? 'alloc' : 'cpu';
  const [target = 'hub-guard', ...rest] = args.filter((a) => a !== '--alloc');
  const [users = 10_000, seconds = 10, top = 30] = rest.map(Number);
  if (!(TARGETS as readonly string[]).includes(target)) {
    console.error(`usage: profile.js [--alloc] [${TARGETS.join('|')}] [users] [seconds] [top]`);
    process.exit(2);
  }
  const dir = mkdtempSync(join(os.tmpdir(), 'hub-guard-profile-'));
  const procs: Running[] = [];
  try {
    const backend = await startBackend();
    procs.push(backend);
    // GC time comes from V8's own trace: under the sampling profiler the "(garbage collector)" samples are inflated
    const nodeArgs = ['--trace-gc'];
    let proxy: Running;
    let requests: HttpRequest[];
    if (target === 'hub-guard') {
      const hg = await startHubGuard(join(dir, 'hub'), users, nodeArgs);
      proxy = hg;
      await postRoutes(hg, backend.port, hg.users);
      requests = await userRequests(hg);
    } else {
      // the same requests, with a session-sized stand-in: only hub-guard reads it
      const list: BenchUser[] = Array.from({ length: users }, (_, i) => ({ id: i + 1, name: `u${i}`, cookieId: randomBytes(16).toString('hex') }));
      const fakeSession = randomBytes(165).toString('base64url');
      requests = list.map((u) => ({ path: `/user/${u.name}/api/x`, headers: { cookie: browserCookies(u, fakeSession) } }));
      if (target === 'chp') {
        const chp = await startChp(nodeArgs);
        proxy = chp;
        await postRoutes(chp, backend.port, list);
      } else {
        proxy = await startForwarder(target as Engine, backend.port, nodeArgs);
      }
    }
    procs.push(proxy);
    await touchAll(proxy.port, requests);
    await httpLoad(proxy.port, requests, 2, 32);
    const mark = proxy.proc.output().length;
    const { profile, result: run } = await sampled(proxy, kind, () => httpLoad(proxy.port, requests, seconds, 32, undefined, proxy.pid));
    const gc = gcTime(proxy.proc.output().slice(mark));
    const file = join(dir, `${target}.${kind === 'cpu' ? 'cpuprofile' : 'heapprofile'}`);
    writeFileSync(file, JSON.stringify(profile));
    console.log(`${target}: ${(run.requests / run.seconds).toFixed(0)} req/s, ${((run.cpu * 1e6) / run.requests).toFixed(0)} µs CPU per request (from /proc), ${run.bad} bad`);
    console.log(`GC (--trace-gc): ${[...gc].map(([k, v]) => `${v.count} × ${k} ${v.ms.toFixed(0)} ms`).join(', ')} = ${(([...gc.values()].reduce((a, v) => a + v.ms, 0) * 1000) / run.requests).toFixed(1)} µs per request`);
    const show = (title: string, m: Map<string, number>, n: number, total: number, unit: (v: number) => string) => {
      console.log(`\n${title}`);
      for (const [k, t] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${unit(t).padStart(8)}  ${((100 * t) / total).toFixed(1).padStart(5)} %  ${k}`);
    };
    if (kind === 'cpu') {
      const { busy, self, inclusive, areas } = summariseProfile(profile as CpuProfile);
      // sampled busy time, per request; /proc's figure above also counts kernel time outside the samples
      const us = (t: number) => (t / run.requests).toFixed(1);
      console.log(`${(busy / run.requests).toFixed(0)} µs sampled busy time per request`);
      show('by area (self time): µs per request, share of busy time', areas, 40, busy, us);
      show('by function, self time', self, top, busy, us);
      show('by function, inclusive time', inclusive, top, busy, us);
    } else {
      const { total, self, areas } = summariseAllocations((profile as { head: HeapNode }).head);
      const bytes = (b: number) => (b / run.requests).toFixed(0);
      console.log(`${(total / run.requests).toFixed(0)} bytes allocated per request (sampled every 4 KB, garbage included)`);
      show('by area: bytes per request, share', areas, 40, total, bytes);
      show('by function: bytes per request, share', self, top, total, bytes);
    }
    console.log(`\nprofile: ${file} (open in Chrome DevTools)`);
  } finally {
    await stopAll(procs);
    rmSync(join(dir, 'hub'), { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
