import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { atExit } from './at-exit.js';

export interface Exit { code: number | null; signal: NodeJS.Signals | null }

export interface Proc {
  child: ChildProcess;
  pid: number;
  /** Everything the process printed so far, stdout and stderr interleaved. */
  output(): string;
  stdout(): string;
  stderr(): string;
  /** Resolves once the process has exited and what was still in its pipes has been read. */
  exited: Promise<Exit>;
  alive(): boolean;
  /** Sends `signal` (SIGTERM), then SIGKILL if the process is still there after killAfterMs; resolves to the exit code. */
  stop(signal?: NodeJS.Signals, killAfterMs?: number): Promise<number | null>;
}

export interface StartOptions extends SpawnOptions {
  /** SIGKILL the process if the test process exits (or is killed) while it still runs. */
  killOnExit?: boolean;
}

/** Starts a process and captures its output; stop() kills it by PID and waits for its exit. */
export function start(cmd: string, args: string[], opts: StartOptions = {}): Proc {
  const { killOnExit, ...spawnOptions } = opts;
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOptions });
  const text = { all: '', stdout: '', stderr: '' };
  child.stdout?.on('data', (d: Buffer) => { text.all += d.toString(); text.stdout += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { text.all += d.toString(); text.stderr += d.toString(); });
  const forget = killOnExit ? atExit(() => child.kill('SIGKILL')) : () => undefined;
  const exited = new Promise<Exit>((resolve) => {
    child.on('exit', (code, signal) => {
      forget();
      // let the pipes drain, so output() holds everything once `exited` resolves
      setImmediate(() => resolve({ code, signal }));
    });
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    pid: child.pid!,
    output: () => text.all,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    exited,
    alive,
    async stop(signal: NodeJS.Signals = 'SIGTERM', killAfterMs = 5000) {
      if (!alive()) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      const { code } = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Resolves once something accepts TCP connections on host:port; rejects after timeoutMs, or when `proc` exits first. */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 15000, proc?: Proc): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc && !proc.alive()) throw new Error(`process exited (${proc.child.exitCode ?? proc.child.signalCode}) before listening on ${port}:\n${proc.output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect(port, host);
      sock.once('connect', () => { sock.destroy(); resolve(true); });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms${proc ? `:\n${proc.output()}` : ''}`);
}

/** Open file descriptors of a process (sockets included), from /proc. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}
