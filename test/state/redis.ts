// Redis for the state tests: the machine's server on 127.0.0.1:6379 with a key prefix of each test's own, or a
// redis-server a test starts (and kills, and restarts) on a free port.
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import type { RedisConfig } from '../../src/config.js';
import { eventually as poll } from '../helpers/eventually.js';
import { freePort } from '../helpers/ports.js';
import { start, waitForPort, type Proc } from '../helpers/proc.js';

export const SHARED_PORT = 6379;

/** A prefix no other test run uses. */
export const uniquePrefix = (what: string) => `hg-test:${what}:${process.pid}:${randomBytes(4).toString('hex')}:`;

export function redisConfig(port: number, prefix: string): RedisConfig {
  return { host: '127.0.0.1', port, tls: false, db: 0, prefix };
}

/** Deletes every key under `prefix`. */
export async function dropPrefix(port: number, prefix: string): Promise<void> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

/** A plain client for looking at (and tampering with) what the stores wrote. */
export function client(port: number): Redis {
  return new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
}

/**
 * eventually() (test/helpers/eventually.ts) at the pace the state tests assert on, "within a second" included: a
 * probe every 25 ms, for 10 s unless told otherwise.
 */
export const eventually = <T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> =>
  poll(what, probe, timeoutMs, 25);

/** A redis-server of the test's own, without persistence, that can be stopped and started again on its port. */
export interface OwnRedis {
  port: number;
  start(): Promise<void>;
  /** SIGKILL: the connection breaks as in a crash, and the data is gone. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export async function ownRedis(): Promise<OwnRedis> {
  const port = await freePort();
  let proc: Proc | undefined;
  const kill = async () => {
    await proc?.stop('SIGKILL');
    proc = undefined;
  };
  return {
    port,
    async start() {
      proc = start('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { killOnExit: true });
      await waitForPort(port, '127.0.0.1', 10_000, proc);
    },
    kill,
    stop: kill,
  };
}

/**
 * A TCP hop in front of a Redis that can cut the link (connections reset, new ones refused at once) or stall it
 * (connections stay open and nothing gets through, as with a partition), while Redis itself keeps its data.
 */
export interface Gate {
  port: number;
  cut(): void;
  stall(): void;
  open(): void;
  close(): Promise<void>;
}

export async function gate(target: number): Promise<Gate> {
  let mode: 'open' | 'cut' | 'stall' = 'open';
  const links = new Set<{ client: Socket; upstream?: Socket }>();
  const dropAll = () => {
    for (const l of links) {
      l.client.destroy();
      l.upstream?.destroy();
    }
    links.clear();
  };
  const server = createServer((client) => {
    client.on('error', () => undefined);
    if (mode === 'cut') {
      client.destroy();
      return;
    }
    const link: { client: Socket; upstream?: Socket } = { client };
    links.add(link);
    client.on('close', () => {
      link.upstream?.destroy();
      links.delete(link);
    });
    if (mode === 'stall') return;
    const upstream = connect(target, '127.0.0.1');
    link.upstream = upstream;
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    cut() {
      mode = 'cut';
      dropAll();
    },
    stall() {
      mode = 'stall';
      for (const l of links) {
        l.client.unpipe();
        l.upstream?.unpipe();
        l.client.pause();
        l.upstream?.pause();
      }
    },
    open() {
      // what was stalled is dropped, so clients start over on fresh connections
      if (mode === 'stall') dropAll();
      mode = 'open';
    },
    async close() {
      dropAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
