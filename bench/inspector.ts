// A minimal client of node's inspector protocol, for the profiler and for full garbage collections in the
// processes under test (started with --inspect-port, activated later by SIGUSR1, so it costs nothing until then).
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';

export interface Inspector {
  call(method: string, params?: object): Promise<unknown>;
  close(): void;
}

function debuggerUrl(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/json/list' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => {
        try {
          resolve((JSON.parse(body) as Array<{ webSocketDebuggerUrl: string }>)[0].webSocketDebuggerUrl);
        } catch (e) {
          reject(e as Error);
        }
      });
    }).on('error', reject);
  });
}

export async function connectInspector(port: number, timeoutMs = 5000): Promise<Inspector> {
  let url: string | undefined;
  for (const deadline = Date.now() + timeoutMs; !url; await sleep(50)) {
    url = await debuggerUrl(port).catch((e: Error) => {
      if (Date.now() > deadline) throw new Error(`no inspector on port ${port}: ${e.message}`);
      return undefined;
    });
  }
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let nextId = 0;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string } };
    const w = msg.id !== undefined ? waiting.get(msg.id) : undefined;
    if (!w) return;
    waiting.delete(msg.id!);
    if (msg.error) w.reject(new Error(msg.error.message));
    else w.resolve(msg.result);
  });
  return {
    call: (method, params) => new Promise((resolve, reject) => {
      const id = ++nextId;
      waiting.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    }),
    close: () => ws.close(),
  };
}

/** A full garbage collection in a process started with --inspect-port=<port> (SIGUSR1 opens its inspector). */
export async function collectGarbage(pid: number, port: number): Promise<void> {
  process.kill(pid, 'SIGUSR1');
  const inspector = await connectInspector(port);
  try {
    await inspector.call('HeapProfiler.collectGarbage');
  } finally {
    inspector.close();
  }
}
