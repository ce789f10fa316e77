// Where hub-guard keeps what must outlive a restart and what replicas share: routes, maintenance and its audit
// trail, baselines, keys. Three shapes cover them: documents, capped logs, and maps whose fields carry a "mark"
// (a time that only moves forward, for last_activity). The local stores keep them in memory and, with --state-dir,
// in files; RedisStore (redis-store.ts) shares them between processes and mirrors them into a local store.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { log } from '../log.js';

export interface MapSnapshot<T> {
  values: Record<string, T>;
  /** Per-field marks (ms epoch); a field without a mark has none yet. */
  marks: Record<string, number>;
}

export interface StateStore {
  readonly description: string;
  /** False while a shared store cannot be reached; the process then runs on its last known state. Local stores: always true. */
  readonly up: boolean;
  /** Starts sharing: waits up to `waitMs` for the shared store and goes on in the background if it does not answer. */
  connect(waitMs: number): Promise<void>;

  load<T>(key: string): Promise<T | undefined>;
  /** Last writer wins. */
  save(key: string, value: unknown): Promise<void>;
  /**
   * Replaces the document with `change(current)` atomically across replicas; `change` returns undefined to leave it
   * as it is. Resolves to the document afterwards. While a shared store is unreachable the change applies locally
   * and is replayed (the same function, on the shared value) when it answers again.
   */
  update<T>(key: string, change: (current: T | undefined) => T | undefined): Promise<T | undefined>;
  /** First writer wins: stores `value` unless the key exists, and resolves to what is stored. */
  claim<T>(key: string, value: T): Promise<T>;
  /** Called when another process (or a reconciliation) changes the document. */
  watch<T>(key: string, listener: (value: T | undefined) => void): void;

  /** Appends to a log that keeps about the last `keep` entries. */
  append(log: string, entry: unknown, keep: number): Promise<void>;
  /** The log, oldest first. */
  tail<T>(log: string): Promise<T[]>;

  mapAll<T>(map: string): Promise<MapSnapshot<T>>;
  mapSet(map: string, field: string, value: unknown): Promise<void>;
  /** Removes the field and its mark. */
  mapDelete(map: string, field: string): Promise<void>;
  /** Raises the marks of existing fields to the given times where those are newer; resolves to every field's mark. */
  touch(map: string, marks: Record<string, number>): Promise<Record<string, number>>;
  /** Called with (field, value) when another process sets a field, (field, undefined) when it deletes one. */
  watchMap<T>(map: string, listener: (field: string, value: T | undefined) => void): void;

  onStatus(listener: (up: boolean) => void): void;
  close(): Promise<void>;
}

/** A document as stored: its JSON text and when it was last changed (ms epoch; 0 = unknown). */
export interface DocEntry { text: string; at: number }
export interface LogItem { id: string; at: number; text: string }
export interface MapEntry { values: Map<string, string>; marks: Map<string, number> }

const KEY = /^[a-z0-9-]+$/;

export function checkKey(key: string): void {
  if (!KEY.test(key)) throw new Error(`bad state key '${key}'`);
}

export const newItemId = () => randomBytes(8).toString('hex');

/**
 * Keeps everything in this process. Besides the StateStore methods it offers synchronous raw access (doc*, map*,
 * log*), which RedisStore uses to mirror the shared state without notifying anyone.
 */
export class MemoryStore implements StateStore {
  readonly description: string = 'memory';
  readonly up = true;
  private docs = new Map<string, DocEntry | null>();
  private maps = new Map<string, MapEntry>();
  private logs = new Map<string, LogItem[]>();

  async connect(): Promise<void> {}

  // ---- raw access

  docGet(key: string): DocEntry | undefined {
    checkKey(key);
    if (!this.docs.has(key)) this.docs.set(key, this.readDoc(key) ?? null);
    return this.docs.get(key) ?? undefined;
  }

  docPut(key: string, entry: DocEntry): void {
    checkKey(key);
    this.docs.set(key, entry);
    this.writeDoc(key, entry);
  }

  mapGet(map: string): MapEntry {
    checkKey(map);
    let m = this.maps.get(map);
    if (!m) {
      m = this.readMap(map) ?? { values: new Map(), marks: new Map() };
      this.maps.set(map, m);
    }
    return m;
  }

  /** Sets (text) or deletes (undefined) one field; a deleted field loses its mark. */
  mapPut(map: string, field: string, text: string | undefined): void {
    const m = this.mapGet(map);
    if (text === undefined) {
      m.values.delete(field);
      m.marks.delete(field);
    } else {
      m.values.set(field, text);
    }
    this.mapChanged(map);
  }

  /** Raises marks of existing fields; returns every field's mark. */
  mapRaise(map: string, marks: Record<string, number>): Record<string, number> {
    const m = this.mapGet(map);
    let changed = false;
    for (const [field, t] of Object.entries(marks)) {
      if (!m.values.has(field) || !Number.isFinite(t)) continue;
      if (t > (m.marks.get(field) ?? 0)) {
        m.marks.set(field, t);
        changed = true;
      }
    }
    if (changed) this.mapChanged(map, true);
    return Object.fromEntries(m.marks);
  }

  logGet(name: string): LogItem[] {
    checkKey(name);
    let items = this.logs.get(name);
    if (!items) {
      items = this.readLog(name) ?? [];
      this.logs.set(name, items);
    }
    return items;
  }

  logPut(name: string, items: LogItem[]): void {
    checkKey(name);
    this.logs.set(name, items);
    this.writeLog(name, items);
  }

  // ---- persistence hooks (FileStore)

  protected readDoc(_key: string): DocEntry | undefined { return undefined; }
  protected writeDoc(_key: string, _entry: DocEntry): void {}
  protected readMap(_map: string): MapEntry | undefined { return undefined; }
  protected mapChanged(_map: string, _marksOnly = false): void {}
  protected readLog(_name: string): LogItem[] | undefined { return undefined; }
  protected writeLog(_name: string, _items: LogItem[]): void {}

  // ---- StateStore

  async load<T>(key: string): Promise<T | undefined> {
    const doc = this.docGet(key);
    return doc === undefined ? undefined : (JSON.parse(doc.text) as T);
  }

  async save(key: string, value: unknown): Promise<void> {
    this.docPut(key, { text: JSON.stringify(value), at: Date.now() });
  }

  async update<T>(key: string, change: (current: T | undefined) => T | undefined): Promise<T | undefined> {
    // no await between reading and writing: that is what makes it atomic within the process
    const doc = this.docGet(key);
    const current = doc === undefined ? undefined : (JSON.parse(doc.text) as T);
    const next = change(current);
    if (next === undefined) return current;
    this.docPut(key, { text: JSON.stringify(next), at: Date.now() });
    return next;
  }

  async claim<T>(key: string, value: T): Promise<T> {
    const doc = this.docGet(key);
    if (doc) return JSON.parse(doc.text) as T;
    await this.save(key, value);
    return value;
  }

  watch(): void {}

  async append(name: string, entry: unknown, keep: number): Promise<void> {
    const items = [...this.logGet(name), { id: newItemId(), at: Date.now(), text: JSON.stringify(entry) }];
    this.logPut(name, items.slice(-keep));
  }

  async tail<T>(name: string): Promise<T[]> {
    return this.logGet(name).map((i) => JSON.parse(i.text) as T);
  }

  async mapAll<T>(map: string): Promise<MapSnapshot<T>> {
    const m = this.mapGet(map);
    const values: Record<string, T> = {};
    for (const [field, text] of m.values) values[field] = JSON.parse(text) as T;
    return { values, marks: Object.fromEntries(m.marks) };
  }

  async mapSet(map: string, field: string, value: unknown): Promise<void> {
    this.mapPut(map, field, JSON.stringify(value));
  }

  async mapDelete(map: string, field: string): Promise<void> {
    this.mapPut(map, field, undefined);
  }

  async touch(map: string, marks: Record<string, number>): Promise<Record<string, number>> {
    return this.mapRaise(map, marks);
  }

  watchMap(): void {}
  onStatus(): void {}
  async close(): Promise<void> {}
}

// Files carry this marker; a file without it was written by an earlier hub-guard and holds the bare value.
const MARK = 'hub-guard-state';
const MAP_WRITE_DELAY_MS = 50;
/** last_activity marks change every activity interval on a busy hub; a whole map rewritten (and fsynced) that
 * often cost ~70 ms of event loop at 10k routes. Losing up to this much of them in a crash only makes the idle
 * culler see a server as idle for a little longer. */
const MARKS_WRITE_DELAY_MS = 30_000;

/**
 * One JSON file per key, replaced atomically (write, fsync, rename) so a crash leaves the old or the new copy.
 * Documents and logs are written at once; maps (routes, written in bursts) within 50 ms, a map whose only change is
 * newer marks within 30 s; everything at close().
 */
export class FileStore extends MemoryStore {
  override readonly description: string;
  private dirtyMaps = new Set<string>();
  private mapTimer?: NodeJS.Timeout;
  private mapDue = 0;

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
    return join(this.dir, `${key}.json`);
  }

  private read(key: string): Record<string, unknown> | { legacy: unknown } | undefined {
    let text: string;
    try {
      text = readFileSync(this.file(key), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`--state-dir: cannot read ${this.file(key)}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`--state-dir: ${this.file(key)} is not valid JSON; move it away to start without it`);
    }
    if (parsed !== null && typeof parsed === 'object' && (parsed as Record<string, unknown>)[MARK] === 1) return parsed as Record<string, unknown>;
    return { legacy: parsed };
  }

  private write(key: string, body: Record<string, unknown>): void {
    const file = this.file(key);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ [MARK]: 1, ...body }), { mode: 0o600 });
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  }

  protected override readDoc(key: string): DocEntry | undefined {
    const f = this.read(key);
    if (!f) return undefined;
    if ('legacy' in f) return { text: JSON.stringify(f.legacy), at: 0 };
    return { text: JSON.stringify(f.value ?? null), at: typeof f.at === 'number' ? f.at : 0 };
  }

  protected override writeDoc(key: string, entry: DocEntry): void {
    this.write(key, { at: entry.at, value: JSON.parse(entry.text) });
  }

  protected override readMap(map: string): MapEntry | undefined {
    const f = this.read(map);
    if (!f) return undefined;
    const values = ('legacy' in f ? f.legacy : f.values) as Record<string, unknown> | null;
    const marks = ('legacy' in f ? {} : f.marks) as Record<string, unknown> | null;
    const entry: MapEntry = { values: new Map(), marks: new Map() };
    for (const [field, v] of Object.entries(values ?? {})) entry.values.set(field, JSON.stringify(v));
    for (const [field, t] of Object.entries(marks ?? {})) if (typeof t === 'number' && entry.values.has(field)) entry.marks.set(field, t);
    return entry;
  }

  protected override mapChanged(map: string, marksOnly = false): void {
    this.dirtyMaps.add(map);
    const delay = marksOnly ? MARKS_WRITE_DELAY_MS : MAP_WRITE_DELAY_MS;
    if (this.mapTimer && this.mapDue <= Date.now() + delay) return;
    clearTimeout(this.mapTimer);
    this.mapDue = Date.now() + delay;
    this.mapTimer = setTimeout(() => this.flushMaps(), delay);
    this.mapTimer.unref();
  }

  /** Map files still being written, in order: a later write of a map never lands before an earlier one. */
  private writing: Promise<void> = Promise.resolve();

  private flushMaps(): void {
    clearTimeout(this.mapTimer);
    this.mapTimer = undefined;
    for (const map of this.dirtyMaps) {
      const m = this.mapGet(map);
      // the stored texts are JSON already: joined, not parsed and serialised again (10k routes took tens of ms)
      const values = [...m.values].map(([field, text]) => `${JSON.stringify(field)}:${text}`).join(',');
      const text = `{"${MARK}":1,"values":{${values}},"marks":${JSON.stringify(Object.fromEntries(m.marks))}}`;
      // the write and its fsync go to the thread pool: a slow disk must not stall requests
      this.writing = this.writing.then(() => this.writeAsync(map, text)).catch((e: unknown) => {
        log.error('saving state failed', { key: map, error: String(e) });
      });
    }
    this.dirtyMaps.clear();
  }

  private async writeAsync(key: string, text: string): Promise<void> {
    const file = this.file(key);
    const tmp = `${file}.${process.pid}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  }

  protected override readLog(name: string): LogItem[] | undefined {
    const f = this.read(name);
    if (!f) return undefined;
    if ('legacy' in f) {
      return Array.isArray(f.legacy) ? f.legacy.map((entry) => ({ id: newItemId(), at: Date.parse((entry as { time?: string }).time ?? '') || 0, text: JSON.stringify(entry) })) : [];
    }
    return Array.isArray(f.items)
      ? (f.items as { id: string; at: number; entry: unknown }[]).map((i) => ({ id: String(i.id), at: Number(i.at) || 0, text: JSON.stringify(i.entry) }))
      : [];
  }

  protected override writeLog(name: string, items: LogItem[]): void {
    this.write(name, { items: items.map((i) => ({ id: i.id, at: i.at, entry: JSON.parse(i.text) })) });
  }

  override async close(): Promise<void> {
    this.flushMaps();
    await this.writing;
  }
}
