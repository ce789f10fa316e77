// Where hub-guard keeps what must outlive a restart: routes, maintenance, baselines, keys.
// A store holds JSON documents by key; the default keeps them in memory and, with --state-dir, in files.
import { mkdirSync, readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { join } from 'node:path';

export interface StateStore {
  readonly description: string;
  load<T>(key: string): Promise<T | undefined>;
  save(key: string, value: unknown): Promise<void>;
  close(): Promise<void>;
}

export class MemoryStore implements StateStore {
  readonly description: string = 'memory';
  protected docs = new Map<string, string>();

  async load<T>(key: string): Promise<T | undefined> {
    const doc = this.docs.get(key);
    return doc === undefined ? undefined : (JSON.parse(doc) as T);
  }

  async save(key: string, value: unknown): Promise<void> {
    this.docs.set(key, JSON.stringify(value));
  }

  async close(): Promise<void> {}
}

const KEY = /^[a-z0-9-]+$/;

/** One file per key, replaced atomically (write, fsync, rename) so a crash leaves the old or the new copy. */
export class FileStore extends MemoryStore {
  override readonly description: string;

  constructor(private readonly dir: string) {
    super();
    this.description = `files in ${dir}`;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new Error(`--state-dir: cannot create ${dir}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  }

  private file(key: string): string {
    if (!KEY.test(key)) throw new Error(`bad state key ${key}`);
    return join(this.dir, `${key}.json`);
  }

  override async load<T>(key: string): Promise<T | undefined> {
    if (!this.docs.has(key)) {
      let text: string;
      try {
        text = readFileSync(this.file(key), 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
      try {
        JSON.parse(text);
      } catch {
        throw new Error(`--state-dir: ${this.file(key)} is not valid JSON; move it away to start without it`);
      }
      this.docs.set(key, text);
    }
    return super.load<T>(key);
  }

  override async save(key: string, value: unknown): Promise<void> {
    const text = JSON.stringify(value);
    const file = this.file(key);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, text, { mode: 0o600 });
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    this.docs.set(key, text);
  }
}

export function openStore(stateDir: string | undefined): StateStore {
  return stateDir ? new FileStore(stateDir) : new MemoryStore();
}
