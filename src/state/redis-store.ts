// The shared state store: Redis (ioredis; a single server or Sentinel) behind a local mirror (memory, or files with
// --state-dir). Reads never leave the process: they come from the mirror, which Redis feeds through pub/sub.
// Writes go to the mirror at once and to Redis in the background, one at a time, in order.
//
// Faults: while Redis cannot be reached the process runs on the mirror and remembers what changed here; each time
// Redis answers again (and at the first connection) it reconciles, key by key:
//   documents  changes made here meanwhile are replayed: update() functions on the shared value, save()s as they were;
//              a document Redis does not have is republished; otherwise the newer of the two wins (claimed documents:
//              whichever Redis holds wins, and a document only this process has is claimed for it).
//   maps       fields changed here meanwhile are written; every other field follows Redis. When Redis lost data
//              (no generation counter, or a lower one than already seen) the fields only this process has are
//              written back too instead of being dropped.
//   logs       entries Redis does not have (and that are not older than its oldest) are appended.
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config.js';
import { log } from '../log.js';
import { DOC_CLAIM, DOC_SET, LOG_APPEND, MAP_TOUCH, MAP_WRITE } from './redis-scripts.js';
import { checkKey, newItemId, type DocEntry, type LogItem, type MapSnapshot, type MemoryStore, type StateStore } from './store.js';

type Kind = 'doc' | 'claim' | 'map' | 'log';
type Message =
  | { o: string; k: 'doc'; key: string }
  | { o: string; k: 'map'; key: string; f: string; v?: string }
  | { o: string; k: 'log'; key: string; i: string };
interface Heard { g: number; m: Message }
interface Remote extends DocEntry { g: number }
type Change = (current: any) => unknown;

interface Scripted {
  docSet(gen: string, doc: string, channel: string, message: string, expected: string, text: string, at: number): Promise<number>;
  docClaim(gen: string, doc: string, text: string, at: number): Promise<[string, string, string]>;
  mapWrite(gen: string, map: string, marks: string, channel: string, mode: string, ...triples: string[]): Promise<number>;
  mapTouch(map: string, marks: string, ...pairs: string[]): Promise<string[]>;
  logAppend(gen: string, stream: string, channel: string, message: string, keep: number, item: string): Promise<number>;
}

const CAS_ATTEMPTS = 20;
const WRITE_CHUNK = 500;
const CLOSE_WAIT_MS = 2000;
const HEARTBEAT_MS = 5000;

/** Exponential reconnect delay with jitter: 50–100 ms after the first failure, at most 2.5–5 s. */
function backoff(times: number): number {
  const base = Math.min(5000, 100 * 2 ** Math.max(0, times - 1));
  return Math.round(base / 2 + (Math.random() * base) / 2);
}

function clientOptions(c: RedisConfig): RedisOptions {
  const common: RedisOptions = {
    lazyConnect: true,
    // fail fast instead of queueing: a write that cannot reach Redis is remembered and replayed by reconciliation
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    autoResubscribe: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    commandTimeout: 2000,
    retryStrategy: backoff,
    // a Sentinel failover leaves clients on a replica that refuses writes: reconnect to the new primary
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
    username: c.username,
    password: c.password,
    db: c.db,
    tls: c.tls ? {} : undefined,
  };
  if (!c.sentinels) return { ...common, host: c.host, port: c.port };
  return {
    ...common,
    sentinels: c.sentinels,
    name: c.sentinelName,
    sentinelPassword: c.sentinelPassword,
    sentinelRetryStrategy: backoff,
    enableTLSForSentinelMode: c.tls,
    sentinelTLS: c.tls ? {} : undefined,
  };
}

export function describeRedis(c: RedisConfig): string {
  const where = c.sentinels
    ? `redis sentinel '${c.sentinelName}' via ${c.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`
    : `${c.tls ? 'rediss' : 'redis'}://${c.host}:${c.port}/${c.db}`;
  return `${where} (prefix ${c.prefix})`;
}

/** ioredis says "Stream isn't writeable and enableOfflineQueue options is false" for a command on a dead link. */
const errText = (e: unknown) => {
  const msg = (e as Error)?.message ?? String(e);
  return msg.includes('enableOfflineQueue') ? 'not connected' : msg;
};

export class RedisStore implements StateStore {
  readonly description: string;
  up = false;
  private readonly cmd: Redis & Scripted;
  private readonly sub: Redis;
  /** Marks this process's messages, which it has applied already. */
  private readonly origin = randomBytes(8).toString('hex');
  private readonly channel: string;
  private cmdReady = false;
  private subReady = false;
  private started = false;
  private closed = false;
  private syncScheduled = false;
  private failures = 0;
  private lastError?: string;
  private heartbeat?: NodeJS.Timeout;
  /** One Redis operation at a time, in call order. */
  private queue: Promise<unknown> = Promise.resolve();

  private kinds = new Map<string, Kind>();
  private keeps = new Map<string, number>();
  private docWatchers = new Map<string, ((v: unknown) => void)[]>();
  private mapWatchers = new Map<string, ((f: string, v: unknown) => void)[]>();
  private statusListeners: ((up: boolean) => void)[] = [];

  /** Generation of the value held for a document (`key`) or map field (`map\nfield`). */
  private versions = new Map<string, number>();
  /** Per key: messages up to this generation are already in what was read. */
  private floors = new Map<string, number>();
  /** Own writes under way per document or field; news about them waits in `deferred` until they land. */
  private inflight = new Map<string, number>();
  private deferred = new Map<string, Heard>();
  /** Messages that arrive while a key is being read whole wait here, then apply in order. */
  private holding = 0;
  private held: Heard[] = [];
  /** Documents changed elsewhere that nobody watches: read again at the next load(). */
  private stale = new Set<string>();
  /** The highest generation seen; Redis showing a lower one has lost data. */
  private lastGen?: number;

  /** What changed here while Redis was unreachable. */
  private pendingSaves = new Set<string>();
  private pendingUpdates = new Map<string, Change[]>();
  private pendingFields = new Map<string, Set<string>>();

  constructor(private readonly config: RedisConfig, private readonly local: MemoryStore) {
    this.description = `${describeRedis(config)}, mirrored in ${local.description}`;
    this.channel = `${config.prefix}changes`;
    const opts = clientOptions(config);
    const cmd = new Redis(opts);
    cmd.defineCommand('docSet', { numberOfKeys: 2, lua: DOC_SET });
    cmd.defineCommand('docClaim', { numberOfKeys: 2, lua: DOC_CLAIM });
    cmd.defineCommand('mapWrite', { numberOfKeys: 3, lua: MAP_WRITE });
    cmd.defineCommand('mapTouch', { numberOfKeys: 2, lua: MAP_TOUCH });
    cmd.defineCommand('logAppend', { numberOfKeys: 2, lua: LOG_APPEND });
    this.cmd = cmd as Redis & Scripted;
    this.sub = new Redis(opts);

    this.cmd.on('ready', () => {
      this.cmdReady = true;
      this.scheduleSync();
    });
    this.sub.on('ready', () => {
      this.sub.subscribe(this.channel).then(() => {
        this.subReady = true;
        this.scheduleSync();
      }, (e) => {
        this.lastError = errText(e);
        this.sub.disconnect(true);
      });
    });
    for (const client of [this.cmd, this.sub]) {
      client.on('error', (e: Error) => { this.lastError = errText(e); });
      client.on('close', () => {
        if (client === this.cmd) this.cmdReady = false;
        else this.subReady = false;
        this.lost();
      });
    }
    this.sub.on('message', (_channel: string, text: string) => this.hear(text));
  }

  private k(kind: string, key: string): string {
    return `${this.config.prefix}${kind}:${key}`;
  }

  private get genKey(): string {
    return `${this.config.prefix}gen`;
  }

  async connect(waitMs: number): Promise<void> {
    if (this.started) return;
    this.started = true;
    const first = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, waitMs);
      this.statusListeners.push((up) => {
        if (up) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    // rejections only report the first attempt; retryStrategy keeps trying
    this.cmd.connect().catch(() => undefined);
    this.sub.connect().catch(() => undefined);
    this.heartbeat = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
    await first;
    if (!this.up) {
      log.warn('state store unreachable at start: running on the local state, retrying in the background', { store: this.description, error: this.lastError });
    }
  }

  onStatus(listener: (up: boolean) => void): void {
    this.statusListeners.push(listener);
  }

  private setUp(up: boolean): void {
    if (this.up === up) return;
    this.up = up;
    for (const l of this.statusListeners) l(up);
  }

  // ---------------------------------------------------------------- connection and reconciliation

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private lost(e?: unknown): void {
    if (e !== undefined) this.lastError = errText(e);
    if (!this.up || this.closed) return;
    log.warn('state store lost: serving with the last known state, reconnecting', { store: this.description, error: this.lastError });
    this.setUp(false);
  }

  /** A failed command: the connection may look fine but is not to be trusted; a new one reconciles first. */
  private failed(e: unknown): void {
    this.lost(e);
    if (!this.closed && this.cmd.status === 'ready') this.cmd.disconnect(true);
  }

  private scheduleSync(): void {
    if (!this.cmdReady || !this.subReady || this.up || this.syncScheduled || this.closed) return;
    this.syncScheduled = true;
    const delay = this.failures ? backoff(this.failures + 3) : 0;
    setTimeout(() => {
      void this.enqueue(async () => {
        this.syncScheduled = false;
        if (!this.cmdReady || !this.subReady || this.up || this.closed) return;
        try {
          await this.reconcile();
        } catch (e) {
          this.failures++;
          log.warn('reconciling with the state store failed; retrying', { store: this.description, error: errText(e) });
          this.failed(e);
          this.scheduleSync();
          return;
        }
        this.failures = 0;
        log.info('state store connected and reconciled', { store: this.description });
        this.setUp(true);
      });
    }, delay).unref();
  }

  private async reconcile(): Promise<void> {
    this.holding++;
    try {
      // read before asking: messages heard meanwhile may carry newer generations
      const before = this.lastGen;
      const gen = Number(await this.cmd.get(this.genKey)) || 0;
      const lostData = gen === 0 || (before !== undefined && gen < before);
      if (lostData && before !== undefined) {
        log.warn('the state store lost its data (restarted empty or from an older snapshot): republishing this replica\'s state', { store: this.description });
      }
      this.lastGen = gen;
      this.versions.clear();
      this.floors.clear();
      try {
        for (const [key, kind] of this.kinds) {
          if (kind === 'doc') await this.syncDoc(key, true);
          else if (kind === 'claim') await this.syncClaim(key);
          else if (kind === 'map') await this.syncMap(key, lostData);
          else await this.syncLog(key);
        }
      } catch (e) {
        // half done: the next attempt must still know that Redis lost data
        if (lostData) this.lastGen = Math.max(before ?? 0, this.lastGen);
        throw e;
      }
    } finally {
      this.release();
    }
  }

  /**
   * Notices a Redis that hangs without closing the connection, or that lost its data without dropping it (FLUSHALL,
   * a failover to a replica that was behind): the generation counter never goes down otherwise.
   */
  private beat(): Promise<void> {
    return this.enqueue(async () => {
      if (!this.up) return;
      const before = this.lastGen;
      try {
        const gen = Number(await this.cmd.get(this.genKey)) || 0;
        if (before !== undefined && gen < before) this.failed(new Error('the generation counter went back: data was lost'));
      } catch (e) {
        this.failed(e);
      }
    });
  }

  private release(): void {
    if (--this.holding > 0) return;
    const held = this.held;
    this.held = [];
    for (const h of held) this.apply(h);
  }

  /** Registers a key on first use; true when it is new here (and so has to be read from Redis). */
  private use(key: string, kind: Kind): boolean {
    checkKey(key);
    const had = this.kinds.get(key);
    if (had === undefined) {
      this.kinds.set(key, kind);
      return true;
    }
    if (had !== kind && !(had === 'claim' && kind === 'doc')) throw new Error(`state key '${key}' is a ${had}, not a ${kind}`);
    return false;
  }

  /** Runs `op` against Redis if it is up; otherwise, or when it fails, `offline` records the change for later. */
  private remote(op: () => Promise<void>, offline: () => void): Promise<void> {
    return this.enqueue(async () => {
      if (!this.up) return offline();
      try {
        await op();
      } catch (e) {
        offline();
        this.failed(e);
      }
    });
  }

  private begin(id: string): void {
    this.inflight.set(id, (this.inflight.get(id) ?? 0) + 1);
  }

  private end(id: string): void {
    const n = (this.inflight.get(id) ?? 1) - 1;
    if (n > 0) {
      this.inflight.set(id, n);
      return;
    }
    this.inflight.delete(id);
    const d = this.deferred.get(id);
    this.deferred.delete(id);
    if (d) this.apply(d);
  }

  private seen(g: number): void {
    if (this.lastGen === undefined || g > this.lastGen) this.lastGen = g;
  }

  // ---------------------------------------------------------------- messages

  private hear(text: string): void {
    const bar = text.indexOf('|');
    const g = Number(text.slice(0, bar));
    let m: Message;
    try {
      m = JSON.parse(text.slice(bar + 1)) as Message;
    } catch {
      return;
    }
    if (!Number.isFinite(g) || m.o === this.origin) return;
    this.seen(g);
    if (this.holding) this.held.push({ g, m });
    else this.apply({ g, m });
  }

  private apply(h: Heard): void {
    const { g, m } = h;
    const kind = this.kinds.get(m.key);
    if (m.k === 'log') {
      if (kind === 'log') this.mirrorItem(m.key, m.i);
      return;
    }
    // a document someone watches gets its news even if nobody here has loaded it (a request channel, say)
    if ((m.k === 'doc' && kind !== 'doc' && !this.docWatchers.has(m.key)) || (m.k === 'map' && kind !== 'map')) return;
    const id = m.k === 'doc' ? m.key : `${m.key}\n${m.f}`;
    if (this.inflight.has(id)) {
      const d = this.deferred.get(id);
      if (!d || d.g < g) this.deferred.set(id, h);
      return;
    }
    if (g <= Math.max(this.versions.get(id) ?? 0, this.floors.get(m.key) ?? 0)) return;
    if (m.k === 'doc') {
      // documents travel by name only (a baseline can be large): fetch those someone here watches
      if (!this.docWatchers.has(m.key)) {
        this.stale.add(m.key);
        return;
      }
      void this.enqueue(async () => {
        if (!this.up) return;
        try {
          const r = await this.fetchDoc(m.key);
          if (r) this.adoptDoc(m.key, r, true);
        } catch (e) {
          this.failed(e);
        }
      });
      return;
    }
    this.versions.set(id, g);
    const before = this.local.mapGet(m.key).values.get(m.f);
    if (before === m.v) return;
    this.local.mapPut(m.key, m.f, m.v);
    this.notifyMap(m.key, m.f, m.v);
  }

  private notifyDoc(key: string, text: string): void {
    const value = JSON.parse(text) as unknown;
    for (const l of this.docWatchers.get(key) ?? []) l(value);
  }

  private notifyMap(map: string, field: string, text: string | undefined): void {
    const value = text === undefined ? undefined : (JSON.parse(text) as unknown);
    for (const l of this.mapWatchers.get(map) ?? []) l(field, value);
  }

  // ---------------------------------------------------------------- documents

  private async fetchDoc(key: string): Promise<Remote | undefined> {
    const [v, t, g] = await this.cmd.hmget(this.k('doc', key), 'v', 't', 'g');
    if (v === null) return undefined;
    const gen = Number(g) || 0;
    this.seen(gen);
    return { text: v, at: Number(t) || 0, g: gen };
  }

  private adoptDoc(key: string, r: Remote, notify: boolean): void {
    if (r.g < (this.versions.get(key) ?? 0)) return;
    this.versions.set(key, r.g);
    this.stale.delete(key);
    const local = this.local.docGet(key);
    if (local?.text === r.text && local.at === r.at) return;
    this.local.docPut(key, { text: r.text, at: r.at });
    if (notify && local?.text !== r.text) this.notifyDoc(key, r.text);
  }

  /**
   * Compare-and-set: `decide` sees what Redis holds and returns what to write there (undefined: nothing). Retried
   * while another replica changes the document in between. The local mirror ends up with Redis's value.
   */
  private async casDoc(key: string, decide: (remote: Remote | undefined) => DocEntry | undefined, notify: boolean): Promise<void> {
    this.begin(key);
    try {
      for (let i = 0; i < CAS_ATTEMPTS; i++) {
        const remote = await this.fetchDoc(key);
        const want = decide(remote);
        if (!want) {
          if (remote) this.adoptDoc(key, remote, notify);
          return;
        }
        if (await this.pushDoc(key, want, remote ? String(remote.g) : '-', notify)) return;
      }
      throw new Error(`state key '${key}' kept changing while being written`);
    } finally {
      this.end(key);
    }
  }

  /** Writes a document unless it is no longer as `expected` (see DOC_SET); true when written. */
  private async pushDoc(key: string, entry: DocEntry, expected: string, notify: boolean): Promise<boolean> {
    const message = JSON.stringify({ o: this.origin, k: 'doc', key });
    const g = await this.cmd.docSet(this.genKey, this.k('doc', key), this.channel, message, expected, entry.text, entry.at);
    if (!g) return false;
    this.seen(g);
    this.adoptDoc(key, { ...entry, g }, notify);
    return true;
  }

  private async syncDoc(key: string, notify: boolean): Promise<void> {
    const updates = this.pendingUpdates.get(key);
    const saved = this.pendingSaves.has(key);
    await this.casDoc(key, (remote) => {
      const local = this.local.docGet(key);
      if (!remote) return local;
      if (updates) {
        let value: unknown = JSON.parse(remote.text);
        let changed = false;
        for (const change of updates) {
          const next = change(value);
          if (next !== undefined) {
            value = next;
            changed = true;
          }
        }
        return changed ? { text: JSON.stringify(value), at: Date.now() } : undefined;
      }
      if (local && (saved || local.at > remote.at)) return local;
      return undefined;
    }, notify);
    this.pendingUpdates.delete(key);
    this.pendingSaves.delete(key);
  }

  private async syncClaim(key: string): Promise<void> {
    const local = this.local.docGet(key);
    if (!local) {
      const remote = await this.fetchDoc(key);
      if (remote) this.adoptDoc(key, remote, true);
      return;
    }
    const [v, t, g] = await this.cmd.docClaim(this.genKey, this.k('doc', key), local.text, local.at);
    this.seen(Number(g));
    this.adoptDoc(key, { text: v, at: Number(t) || 0, g: Number(g) || 0 }, true);
  }

  async load<T>(key: string): Promise<T | undefined> {
    const fresh = this.use(key, 'doc');
    if (this.up && (fresh || this.stale.has(key))) {
      await this.enqueue(async () => {
        if (!this.up) return;
        try {
          await this.syncDoc(key, true);
        } catch (e) {
          this.failed(e);
        }
      });
    }
    const doc = this.local.docGet(key);
    return doc === undefined ? undefined : (JSON.parse(doc.text) as T);
  }

  async save(key: string, value: unknown): Promise<void> {
    this.use(key, 'doc');
    const entry: DocEntry = { text: JSON.stringify(value), at: Date.now() };
    this.local.docPut(key, entry);
    this.stale.delete(key);
    this.begin(key);
    try {
      await this.remote(async () => { await this.pushDoc(key, entry, '*', false); }, () => { this.pendingSaves.add(key); });
    } finally {
      this.end(key);
    }
  }

  async update<T>(key: string, change: (current: T | undefined) => T | undefined): Promise<T | undefined> {
    this.use(key, 'doc');
    return this.enqueue(async () => {
      if (this.up) {
        try {
          await this.casDoc(key, (remote) => {
            const next = change(remote ? (JSON.parse(remote.text) as T) : undefined);
            return next === undefined ? undefined : { text: JSON.stringify(next), at: Date.now() };
          }, false);
          const doc = this.local.docGet(key);
          return doc === undefined ? undefined : (JSON.parse(doc.text) as T);
        } catch (e) {
          this.failed(e);
        }
      }
      const doc = this.local.docGet(key);
      const current = doc === undefined ? undefined : (JSON.parse(doc.text) as T);
      // replayed on the shared value later, even when it changes nothing here: the shared value may differ
      this.pendingUpdates.set(key, [...(this.pendingUpdates.get(key) ?? []), change]);
      const next = change(current);
      if (next === undefined) return current;
      this.local.docPut(key, { text: JSON.stringify(next), at: Date.now() });
      return next;
    });
  }

  async claim<T>(key: string, value: T): Promise<T> {
    this.use(key, 'claim');
    return this.enqueue(async () => {
      const mine = this.local.docGet(key) ?? { text: JSON.stringify(value), at: Date.now() };
      if (this.up) {
        try {
          const [v, t, g] = await this.cmd.docClaim(this.genKey, this.k('doc', key), mine.text, mine.at);
          this.seen(Number(g));
          this.adoptDoc(key, { text: v, at: Number(t) || 0, g: Number(g) || 0 }, false);
          return JSON.parse(v) as T;
        } catch (e) {
          this.failed(e);
        }
      }
      this.local.docPut(key, mine);
      return JSON.parse(mine.text) as T;
    });
  }

  watch<T>(key: string, listener: (value: T | undefined) => void): void {
    this.docWatchers.set(key, [...(this.docWatchers.get(key) ?? []), listener as (v: unknown) => void]);
  }

  // ---------------------------------------------------------------- maps

  private async mapWrite(map: string, mode: 'set' | 'nx' | 'del', fields: [string, string | undefined][]): Promise<void> {
    for (let i = 0; i < fields.length; i += WRITE_CHUNK) {
      const args: string[] = [];
      for (const [f, text] of fields.slice(i, i + WRITE_CHUNK)) {
        args.push(f, text ?? '', JSON.stringify({ o: this.origin, k: 'map', key: map, f, v: text }));
      }
      const g = await this.cmd.mapWrite(this.genKey, this.k('map', map), this.k('marks', map), this.channel, mode, ...args);
      if (!g) continue;
      this.seen(g);
      for (const [f] of fields.slice(i, i + WRITE_CHUNK)) {
        const id = `${map}\n${f}`;
        if ((this.versions.get(id) ?? 0) < g) this.versions.set(id, g);
      }
    }
  }

  private async syncMap(map: string, lostData: boolean): Promise<void> {
    this.holding++;
    try {
      const local = this.local.mapGet(map);
      const pending = this.pendingFields.get(map) ?? new Set<string>();
      const sets: [string, string][] = [];
      const dels: [string, undefined][] = [];
      for (const f of pending) {
        const text = local.values.get(f);
        if (text === undefined) dels.push([f, undefined]);
        else sets.push([f, text]);
      }
      await this.mapWrite(map, 'set', sets);
      await this.mapWrite(map, 'del', dels);
      if (lostData) {
        const there = new Set(await this.cmd.hkeys(this.k('map', map)));
        await this.mapWrite(map, 'nx', [...local.values].filter(([f]) => !there.has(f) && !pending.has(f)));
      }
      this.pendingFields.delete(map);

      const [[genErr, gen], [mapErr, remote]] = (await this.cmd.multi().get(this.genKey).hgetall(this.k('map', map)).exec())! as [Error | null, unknown][];
      if (genErr || mapErr) throw genErr ?? mapErr;
      const floor = Number(gen) || 0;
      this.seen(floor);
      this.floors.set(map, floor);
      // a Map: `in` on the reply object would find Object.prototype's names too
      const fields = new Map(Object.entries(remote as Record<string, string>));
      for (const [f, text] of fields) {
        if (local.values.get(f) === text) continue;
        this.local.mapPut(map, f, text);
        this.notifyMap(map, f, text);
      }
      for (const f of [...local.values.keys()]) {
        if (fields.has(f)) continue;
        this.local.mapPut(map, f, undefined);
        this.notifyMap(map, f, undefined);
      }
      await this.touchRemote(map, Object.fromEntries(local.marks));
    } finally {
      this.release();
    }
  }

  private async touchRemote(map: string, marks: Record<string, number>): Promise<Record<string, number>> {
    const pairs: string[] = [];
    for (const [f, t] of Object.entries(marks)) if (Number.isFinite(t)) pairs.push(f, String(Math.round(t)));
    const all = await this.cmd.mapTouch(this.k('map', map), this.k('marks', map), ...pairs);
    const remote: Record<string, number> = {};
    for (let i = 0; i < all.length; i += 2) remote[all[i]] = Number(all[i + 1]);
    return this.local.mapRaise(map, remote);
  }

  async mapAll<T>(map: string): Promise<MapSnapshot<T>> {
    if (this.use(map, 'map') && this.up) {
      await this.enqueue(async () => {
        if (!this.up) return;
        try {
          await this.syncMap(map, false);
        } catch (e) {
          this.failed(e);
        }
      });
    }
    return this.local.mapAll<T>(map);
  }

  private changeField(map: string, field: string, text: string | undefined): Promise<void> {
    this.use(map, 'map');
    this.local.mapPut(map, field, text);
    const id = `${map}\n${field}`;
    this.begin(id);
    return this.remote(
      () => (text === undefined ? this.mapWrite(map, 'del', [[field, undefined]]) : this.mapWrite(map, 'set', [[field, text]])),
      () => { this.pendingFields.set(map, (this.pendingFields.get(map) ?? new Set<string>()).add(field)); },
    ).finally(() => this.end(id));
  }

  mapSet(map: string, field: string, value: unknown): Promise<void> {
    return this.changeField(map, field, JSON.stringify(value));
  }

  mapDelete(map: string, field: string): Promise<void> {
    return this.changeField(map, field, undefined);
  }

  async touch(map: string, marks: Record<string, number>): Promise<Record<string, number>> {
    this.use(map, 'map');
    const local = this.local.mapRaise(map, marks);
    if (!this.up) return local;
    return this.enqueue(async () => {
      if (!this.up) return this.local.mapRaise(map, {});
      try {
        return await this.touchRemote(map, marks);
      } catch (e) {
        this.failed(e);
        return this.local.mapRaise(map, {});
      }
    });
  }

  watchMap<T>(map: string, listener: (field: string, value: T | undefined) => void): void {
    this.mapWatchers.set(map, [...(this.mapWatchers.get(map) ?? []), listener as (f: string, v: unknown) => void]);
  }

  // ---------------------------------------------------------------- logs

  private keep(name: string): number {
    return this.keeps.get(name) ?? 1000;
  }

  private mirrorItem(name: string, itemText: string): void {
    const item = parseItem(itemText);
    if (!item) return;
    const items = this.local.logGet(name);
    if (items.some((i) => i.id === item.id)) return;
    this.local.logPut(name, [...items, item].slice(-this.keep(name)));
  }

  private async logAppend(name: string, item: LogItem): Promise<void> {
    const text = JSON.stringify({ id: item.id, at: item.at, t: item.text });
    const message = JSON.stringify({ o: this.origin, k: 'log', key: name, i: text });
    this.seen(await this.cmd.logAppend(this.genKey, this.k('log', name), this.channel, message, this.keep(name), text));
  }

  private async syncLog(name: string): Promise<void> {
    const entries = await this.cmd.xrange(this.k('log', name), '-', '+');
    const remote = entries.flatMap(([, fields]) => {
      const item = parseItem(fields[1] ?? '');
      return item ? [item] : [];
    });
    const ids = new Set(remote.map((i) => i.id));
    const oldest = remote.reduce((min, i) => Math.min(min, i.at), Infinity);
    // once Redis trims the log, local entries older than its oldest were trimmed on purpose: they stay out
    const trimmed = remote.length >= this.keep(name);
    const missing = this.local.logGet(name).filter((i) => !ids.has(i.id) && (!trimmed || i.at >= oldest));
    for (const item of missing) await this.logAppend(name, item);
    this.local.logPut(name, [...remote, ...missing].sort((a, b) => a.at - b.at).slice(-this.keep(name)));
  }

  async append(name: string, entry: unknown, keep: number): Promise<void> {
    this.use(name, 'log');
    this.keeps.set(name, keep);
    const item: LogItem = { id: newItemId(), at: Date.now(), text: JSON.stringify(entry) };
    this.local.logPut(name, [...this.local.logGet(name), item].slice(-keep));
    // an entry that does not reach Redis now is appended by the next reconciliation
    await this.remote(() => this.logAppend(name, item), () => undefined);
  }

  async tail<T>(name: string): Promise<T[]> {
    if (this.use(name, 'log') && this.up) {
      await this.enqueue(async () => {
        if (!this.up) return;
        try {
          await this.syncLog(name);
        } catch (e) {
          this.failed(e);
        }
      });
    }
    return this.local.logGet(name).map((i) => JSON.parse(i.text) as T);
  }

  // ----------------------------------------------------------------

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.queue, new Promise((resolve) => { timer = setTimeout(resolve, CLOSE_WAIT_MS); })]);
    clearTimeout(timer);
    this.setUp(false);
    this.cmd.disconnect();
    this.sub.disconnect();
    await this.local.close();
  }
}

function parseItem(text: string): LogItem | undefined {
  try {
    const o = JSON.parse(text) as { id?: unknown; at?: unknown; t?: unknown };
    if (typeof o.id !== 'string' || typeof o.t !== 'string') return undefined;
    return { id: o.id, at: Number(o.at) || 0, text: o.t };
  } catch {
    return undefined;
  }
}
