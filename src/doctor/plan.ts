// The repair plan: SQL for one transaction that turns what the checks found back into a database the hub can be
// trusted with. Pure: it works on a snapshot and an in-memory copy of the users table, and runs the watchdog's
// checks on that copy to say what will be left once the plan is applied.
import { checkSnapshot, KNOWN_ALEMBIC_HEADS, lossySlug, type Baseline, type CheckOptions, type Finding } from '../hubdb/checks.js';
import type { HubSnapshot, HubUser } from '../hubdb/snapshot.js';
import type { HubDbEngine } from '../hubdb/url.js';
import { isCookieId } from '../jupyterhub/conventions.js';
import { beginStatement, createTempTable, dropTempTable, freshCookieId, hubJsonText, literal, PG_SEQUENCE_FORWARD, sqlTimestamp } from './sql.js';
import { withNotNull } from './sqlite-ddl.js';
import { readVolumes, type KnownUser, type PvcItem, type Unmapped, type VolumeReading } from './volumes.js';

export interface Statement {
  sql: string;
  /** Rows the statement must change; doctor --apply rolls back when it does not (the database moved meanwhile). */
  expect?: number;
}

export interface Step {
  title: string;
  why: string;
  statements: Statement[];
  /** Lines printed as SQL comments after the statements: what the step leaves to a person. */
  comments?: string[];
  /** MySQL commits schema changes by itself, so they run after the transaction. */
  afterCommit?: boolean;
}

export interface SqliteUsersSchema {
  createSql: string;
  /** The CREATE INDEX and CREATE TRIGGER statements of the users table (not its automatic indexes). */
  dependentSql: string[];
}

export interface PlanInput {
  engine: HubDbEngine;
  snapshot: HubSnapshot;
  baseline: Baseline | null;
  /** The claims from --pvcs; they are read against the users as the plan leaves them. */
  pvcs: { items: PvcItem[]; skipped: Unmapped[] } | null;
  checks: CheckOptions;
  /** sqlite only: needed to add NOT NULL to cookie_id. */
  sqliteUsers?: SqliteUsersSchema | null;
}

export interface LookalikeDecision {
  names: string[];
  /** rename: the plan keeps the older row under the proper name; keep: nothing to do; manual: a person decides. */
  action: 'rename' | 'keep' | 'manual';
  explanation: string;
}

export interface IdRestore {
  name: string;
  from: number;
  to: number;
  source: 'baseline' | 'volume';
  /** Why the plan leaves it alone, or null when the plan restores it. */
  blocked: string | null;
}

export interface Plan {
  engine: HubDbEngine;
  steps: Step[];
  lookalikes: LookalikeDecision[];
  idRestores: IdRestore[];
  /** What the plan cannot do and a person must. */
  notes: string[];
  /** The volume claims, read with the users as the plan leaves them (a renamed user owns its old volume). */
  volumes: VolumeReading | null;
  /** The watchdog's checks on the database as it will be once the plan is applied. */
  expected: Finding[];
}

/**
 * Every column that holds a users.id: JupyterHub 3.0's ORM (all ON DELETE CASCADE) and 5.x's sharing tables.
 * Shares come first so that deleting a user's spawners never leaves a share pointing at them.
 */
export const USER_REFERENCES: ReadonlyArray<readonly [table: string, column: string]> = [
  ['shares', 'owner_id'], ['shares', 'user_id'], ['share_codes', 'owner_id'],
  ['spawners', 'user_id'], ['api_tokens', 'user_id'], ['oauth_codes', 'user_id'], ['user_role_map', 'user_id'], ['user_group_map', 'user_id'],
];

/**
 * Every column that holds a spawners.id (5.x's sharing tables, ON DELETE CASCADE). An id move keeps spawner ids as
 * they are, so these matter only when a user's spawners are deleted.
 */
export const SPAWNER_REFERENCES: ReadonlyArray<readonly [table: string, column: string]> = [['shares', 'spawner_id'], ['share_codes', 'spawner_id']];

/**
 * The 5.x tables whose `scopes` name the shared server by its owner's name (`access:servers!server=<owner>/<server>`,
 * a JSON list the hub reads as it stands): a renamed owner's rows would otherwise open nothing, and would open the
 * server of whoever is given the old name next.
 */
export const OWNER_NAMED_SCOPES: readonly string[] = ['shares', 'share_codes'];


interface Row {
  id: number;
  name: string;
  admin: boolean;
  cookieId: string | null;
  created: string | null;
}

const q = JSON.stringify;

class Builder {
  readonly steps: Step[] = [];
  readonly notes: string[] = [];
  readonly lookalikes: LookalikeDecision[] = [];
  readonly idRestores: IdRestore[] = [];
  /** The users table as it will be after the steps so far. */
  readonly rows = new Map<number, Row>();
  /** The cookie_id constraints as they will be. */
  private constraint: HubSnapshot['cookieIdConstraint'];
  private explicitIds = false;
  /** The claims as read so far: against the database first, then against the users after the renames. */
  volumes: VolumeReading | null = null;
  private readonly tables: Set<string>;
  private readonly lit: (v: string) => string;

  constructor(private readonly i: PlanInput) {
    for (const u of i.snapshot.users) this.rows.set(u.id, { ...u });
    this.constraint = i.snapshot.cookieIdConstraint;
    this.readClaims();
    this.tables = new Set(i.snapshot.tables);
    this.lit = (v) => literal(i.engine, v);
  }

  /** (Re-)reads the claims, knowing the users as they are now in the plan and as the baseline had them. */
  readClaims(): void {
    if (!this.i.pvcs) return;
    const known: KnownUser[] = [
      ...[...this.rows.values()].map((r) => ({ name: r.name, id: r.id, source: 'database' as const })),
      ...Object.entries(this.i.baseline?.users ?? {}).map(([name, id]) => ({ name, id, source: 'baseline' as const })),
    ];
    this.volumes = readVolumes(this.i.pvcs.items, known, this.i.pvcs.skipped);
  }

  private get engine(): HubDbEngine {
    return this.i.engine;
  }

  private byName(name: string): Row | undefined {
    for (const r of this.rows.values()) if (r.name === name) return r;
    return undefined;
  }

  private references(): ReadonlyArray<readonly [string, string]> {
    return USER_REFERENCES.filter(([t]) => this.tables.has(t));
  }

  /** Which tables refer to users.id here, for the explanations. */
  referenceList(): string {
    return this.references().map(([t, c]) => `${t}.${c}`).join(', ');
  }

  private deleteUser(r: Row): Statement[] {
    const out: Statement[] = [];
    const spawnerIds = `SELECT id FROM spawners WHERE user_id = ${r.id}`;
    if (this.tables.has('spawners')) {
      for (const [t, c] of SPAWNER_REFERENCES) if (this.tables.has(t)) out.push({ sql: `DELETE FROM ${t} WHERE ${c} IN (${spawnerIds})` });
      if (this.tables.has('servers')) out.push({ sql: `DELETE FROM servers WHERE id IN (SELECT server_id FROM spawners WHERE user_id = ${r.id})` });
    }
    for (const [t, c] of this.references()) out.push({ sql: `DELETE FROM ${t} WHERE ${c} = ${r.id}` });
    out.push({ sql: `DELETE FROM users WHERE id = ${r.id} AND name = ${this.lit(r.name)}`, expect: 1 });
    this.rows.delete(r.id);
    return out;
  }

  /**
   * Gives a user another id and moves everything that refers to it. SQLite and MySQL change the key in place
   * with foreign keys unchecked until the references follow; PostgreSQL cannot suspend them, so there the row is
   * copied under the new id (keeping its login id, which never appears in the plan), the references move, and
   * the old row goes.
   */
  private moveUser(from: number, to: number): Statement[] {
    const r = this.rows.get(from)!;
    const out: Statement[] = [];
    if (this.engine === 'postgres') {
      const temp = 'hub_guard_move';
      const parking = `hub-guard-move-${to}`;
      const row = `id = ${from} AND name = ${this.lit(r.name)}`;
      out.push(
        { sql: createTempTable(this.engine, temp, `SELECT * FROM users WHERE ${row}`) },
        { sql: `UPDATE users SET cookie_id = ${this.lit(freshCookieId())} WHERE ${row}`, expect: 1 },
        { sql: `UPDATE ${temp} SET id = ${to}, name = ${this.lit(parking)}`, expect: 1 },
        { sql: `INSERT INTO users SELECT * FROM ${temp}`, expect: 1 },
        { sql: dropTempTable(this.engine, temp) },
      );
      for (const [t, c] of this.references()) out.push({ sql: `UPDATE ${t} SET ${c} = ${to} WHERE ${c} = ${from}` });
      out.push(
        { sql: `DELETE FROM users WHERE ${row}`, expect: 1 },
        { sql: `UPDATE users SET name = ${this.lit(r.name)} WHERE id = ${to}`, expect: 1 },
      );
      this.explicitIds = true;
    } else {
      out.push({ sql: `UPDATE users SET id = ${to} WHERE id = ${from} AND name = ${this.lit(r.name)}`, expect: 1 });
      for (const [t, c] of this.references()) out.push({ sql: `UPDATE ${t} SET ${c} = ${to} WHERE ${c} = ${from}` });
    }
    this.rows.delete(from);
    this.rows.set(to, { ...r, id: to });
    return out;
  }

  /**
   * Renames a user, and the owner's name in the scopes of the 5.x rows that share its servers. The old name is a
   * '-' slug (only [a-z0-9-]), so it stands in the JSON text exactly as written; the rows are the user's by owner_id,
   * the hub's copy of the spawner's user_id.
   */
  private renameUser(r: Row, name: string): Statement[] {
    const out: Statement[] = [{ sql: `UPDATE users SET name = ${this.lit(name)} WHERE id = ${r.id} AND name = ${this.lit(r.name)}`, expect: 1 }];
    const filter = (owner: string) => this.lit(hubJsonText(`!server=${owner}/`));
    for (const t of this.sharingTables()) {
      out.push({ sql: `UPDATE ${t} SET scopes = REPLACE(scopes, ${filter(r.name)}, ${filter(name)}) WHERE owner_id = ${r.id}` });
    }
    r.name = name;
    return out;
  }

  /** The 5.x tables here whose rows name a server by its owner. */
  private sharingTables(): string[] {
    return OWNER_NAMED_SCOPES.filter((t) => this.tables.has(t));
  }

  /** Other users who may open this user's servers by a share or a role that names the user or one of its servers. */
  private visitorsOf(name: string): string[] {
    const mine = (server: string) => server.startsWith(`${name}/`);
    return [...this.i.snapshot.access]
      .filter(([who, g]) => who !== name && !g.all && (g.users.includes(name) || g.servers.some(mine) || (g.expiring ?? []).some((e) => mine(e.server))))
      .map(([who]) => who);
  }

  private schemaKnown(): boolean {
    return this.i.snapshot.alembicVersion !== null && KNOWN_ALEMBIC_HEADS.includes(this.i.snapshot.alembicVersion);
  }

  lookalikeStep(): void {
    const { snapshot, baseline } = this.i;
    const volumes = this.volumes;
    const groups = new Map<string, Row[]>();
    for (const r of this.rows.values()) groups.set(lossySlug(r.name), [...(groups.get(lossySlug(r.name)) ?? []), r]);
    const statements: Statement[] = [];
    const renamed: string[] = [];
    const claimsOf = (id: number) => (volumes?.claims ?? []).filter((c) => c.id === id).map((c) => c.claim);
    const described = (r: Row) => `${q(r.name)} (id ${r.id}${r.created ? `, created ${r.created}` : ''})`;

    for (const group of groups.values()) {
      if (group.length < 2) continue;
      group.sort((a, b) => a.id - b.id);
      const names = group.map((r) => r.name);
      const decide = (action: LookalikeDecision['action'], explanation: string) => this.lookalikes.push({ names, action, explanation });
      if (group.length > 2) {
        decide('manual', `${group.map(described).join(', ')} all look alike. Doctor only untangles pairs; decide by hand which rows are real people (the login names your authenticator produces) and which are copies.`);
        continue;
      }
      const [older, newer] = group;
      const isLossy = (r: Row) => r.name === lossySlug(r.name);
      if (older.name === newer.name) {
        decide('manual', `Two rows are both named ${q(older.name)} (ids ${older.id} and ${newer.id}): the users table lost its UNIQUE constraint on name. The older id usually holds the volume; delete the other row by hand once you have checked it.`);
        continue;
      }
      const knew = (r: Row) => baseline !== null && Object.hasOwn(baseline.users, r.name);
      if (knew(older) && knew(newer)) {
        decide('keep', `${q(older.name)} and ${q(newer.name)} were both users while the database was healthy: two different people. Nothing to do (older Kubernetes spawners give them the same volume name; check their volumes).`);
        continue;
      }
      if (knew(older) && baseline!.users[older.name] === older.id) {
        decide('keep', `${described(older)} was a user while the database was healthy, so it is not a copy; ${described(newer)} is a different, newer user. Nothing to do.`);
        continue;
      }
      if (knew(newer) && baseline!.users[newer.name] === newer.id) {
        decide('manual', `The baseline knew ${described(newer)} with this very id, so it is the real one; ${described(older)} was not known and may be a copy rebuilt from volume names. Check its volume, then delete it by hand.`);
        continue;
      }
      if (!isLossy(older) || isLossy(newer)) {
        decide(isLossy(newer) ? 'keep' : 'manual', isLossy(newer)
          ? `${described(older)} already holds the older id under the full name; ${described(newer)} is newer. If ${q(newer.name)} is a copy rebuilt from volume names, delete it by hand after checking its volume; if it is a real user, nothing is wrong.`
          : `${described(older)} and ${described(newer)} differ only in punctuation or case; neither is the '-' form a rebuild from volume names makes. Decide by hand which is the real login name.`);
        continue;
      }
      const evidence: string[] = [];
      const oldClaims = claimsOf(older.id);
      const newClaims = claimsOf(newer.id);
      if (oldClaims.length) evidence.push(`the volume ${oldClaims.join(', ')} carries id ${older.id}`);
      if (baseline && baseline.users[newer.name] === older.id) evidence.push(`the baseline knew ${q(newer.name)} with id ${older.id}`);
      const annotated = volumes?.claims.find((c) => c.scheme === 'annotation' && c.name === older.name);
      if (annotated) {
        decide('keep', `The volume ${annotated.claim} is annotated with the user name ${q(older.name)}, so ${q(older.name)} is a real user, not a copy of ${q(newer.name)}. Nothing to do.`);
        continue;
      }
      const visitors = this.visitorsOf(newer.name);
      const own = [
        newer.admin && 'is an admin', snapshot.groups.get(newer.name)?.length && `is in groups ${snapshot.groups.get(newer.name)!.join(', ')}`,
        snapshot.access.has(newer.name) && 'holds access grants',
        visitors.length > 0 && `was opened to ${visitors.map((v) => q(v)).join(', ')} (a share or a role naming it)`,
      ].filter(Boolean);
      if (own.length) {
        decide('manual', `${described(older)} holds the older id${evidence.length ? ` (${evidence.join('; ')})` : ''}, but ${described(newer)} ${own.join(' and ')}, so it is not a throwaway copy. Merge them by hand.`);
        continue;
      }
      if (!this.schemaKnown()) {
        decide('manual', `${described(older)} should probably be renamed back to ${q(newer.name)} after deleting the newer ${described(newer)}, but the schema version is not one doctor knows, so it cannot be sure which tables refer to users.id. Do it by hand.`);
        continue;
      }
      const [olderText, newerText, lossyName] = [described(older), described(newer), older.name];
      statements.push(...this.deleteUser(newer));
      statements.push(...this.renameUser(this.rows.get(older.id)!, newer.name));
      renamed.push(`${q(lossyName)} → ${q(newer.name)}`);
      const sharing = this.sharingTables();
      const sharedRows = sharing.map((t) => (t === 'shares' ? 'shares' : 'share codes')).join(' and ');
      decide('rename',
        `${olderText} holds the older id${evidence.length ? ` (${evidence.join('; ')})` : ''}; ${newerText} is newer and has nothing of its own ` +
        `(not an admin, no groups, no access grants, nobody else may open its servers). This is the pattern of a database rebuilt from volume names, which turned ${q(newer.name)} into ${q(lossyName)}, ` +
        `followed by a login that created a second, empty user. The plan deletes ${q(newer.name)} (id ${newer.id}) with its spawners, tokens and role rows` +
        `${sharing.length ? `, along with any ${sharedRows} of its servers` : ''}, and renames ` +
        `${q(lossyName)} back to ${q(newer.name)} so the user keeps id ${older.id} and the old volume` +
        `${sharing.length ? `; the scopes of ${q(lossyName)}'s own ${sharedRows} name each server by its owner, and are rewritten to ${q(`!server=${newer.name}/…`)}` : ''}. Stop that user's server first if it runs; ` +
        `${newClaims.length ? `the volume ${newClaims.join(', ')} made for id ${newer.id}` : `any volume made for id ${newer.id}`} is left alone: check it is empty, then delete it.`);
    }
    if (statements.length) {
      this.steps.push({
        title: `Rename ${renamed.length === 1 ? 'a lookalike user' : `${renamed.length} lookalike users`} back (${renamed.join(', ')})`,
        why: 'Each renamed row holds the older id (and so the volume) but lost its punctuation when the users table was rebuilt from volume names; its empty twin created at the next login is deleted first so the name is free.',
        statements,
      });
    }
  }

  idStep(): void {
    const { baseline } = this.i;
    const volumes = this.volumes;
    const wanted: IdRestore[] = [];
    for (const r of this.rows.values()) {
      if (baseline && Object.hasOwn(baseline.users, r.name)) {
        if (baseline.users[r.name] !== r.id) wanted.push({ name: r.name, from: r.id, to: baseline.users[r.name], source: 'baseline', blocked: null });
        continue;
      }
      const v = volumes?.users.find((u) => u.name === r.name);
      if (v && v.id !== null && v.id !== r.id) wanted.push({ name: r.name, from: r.id, to: v.id, source: 'volume', blocked: null });
    }
    if (!wanted.length) return;
    this.idRestores.push(...wanted);
    if (!this.schemaKnown()) {
      for (const w of wanted) w.blocked = 'the schema version is not one doctor knows, so it cannot be sure which tables refer to users.id';
      return;
    }
    for (const w of wanted) {
      const rivals = wanted.filter((o) => o.to === w.to);
      if (rivals.length > 1) w.blocked = `${rivals.map((o) => q(o.name)).join(' and ')} all had id ${w.to}; decide by hand which one keeps it`;
    }
    // A target held by a row that is not moving away blocks the move, which may in turn block another.
    for (let changed = true; changed;) {
      changed = false;
      for (const w of wanted) {
        if (w.blocked) continue;
        const holder = this.rows.get(w.to);
        if (holder && !wanted.some((o) => !o.blocked && o.from === holder.id)) {
          w.blocked = `id ${w.to} now belongs to ${q(holder.name)}, which ${Object.hasOwn(baseline?.users ?? {}, holder.name) ? 'stays where it is' : 'was not known before'}; move or delete it by hand first`;
          changed = true;
        }
      }
    }
    const moves = wanted.filter((w) => !w.blocked);
    if (!moves.length) return;

    const statements: Statement[] = [];
    if (this.engine === 'mysql') statements.push({ sql: 'SET FOREIGN_KEY_CHECKS = 0' });
    // Swapped ids need a free place to pass through: first every mover to a fresh id, then to its target.
    if (moves.some((w) => this.rows.has(w.to))) {
      let spare = Math.max(...this.rows.keys(), ...moves.map((w) => w.to)) + 1;
      const parked = moves.map((w) => {
        const at = spare++;
        statements.push(...this.moveUser(w.from, at));
        return { at, to: w.to };
      });
      for (const p of parked) statements.push(...this.moveUser(p.at, p.to));
    } else {
      for (const w of moves) statements.push(...this.moveUser(w.from, w.to));
    }
    if (this.engine === 'mysql') statements.push({ sql: 'SET FOREIGN_KEY_CHECKS = 1' });
    const sources = [...new Set(moves.map((w) => (w.source === 'baseline' ? 'the last known good baseline' : 'their volume names')))].join(' and ');
    this.steps.push({
      title: `Give ${moves.length === 1 ? `${q(moves[0].name)} its old id back` : `${moves.length} users their old ids back`} (${moves.map((w) => `${q(w.name)} ${w.from}→${w.to}`).join(', ')})`,
      why:
        `The ids come from ${sources}. Where volume names carry the user id, a user with a new id gets a new, empty volume. ` +
        `users.id is referred to by ${this.referenceList()}; every one of them is moved to the old id in the same transaction, ` +
        `so each user keeps their servers, tokens, roles and groups${this.tables.has('shares') ? ', the shares of their servers and the shares to them (spawner ids do not change, so shares.spawner_id and share_codes.spawner_id stay as they are)' : ''}. ` +
        'Skip this step only if these users were deleted and re-created on purpose.',
      statements,
    });
  }

  volumeStep(): void {
    const volumes = this.volumes;
    if (!volumes) return;
    const statements: Statement[] = [];
    const added: string[] = [];
    // Users whose claims carry no id still get an explicit one, above every id in use, in a volume name or in the
    // baseline: left to the database, they could take an id an undecided claim needs.
    let nextFree = Math.max(
      0, ...this.rows.keys(), ...volumes.claims.map((c) => c.id ?? 0), ...Object.values(this.i.baseline?.users ?? {}),
    ) + 1;
    for (const v of volumes.users) {
      if (this.byName(v.name)) continue;
      if (v.id !== null && this.rows.has(v.id)) {
        this.notes.push(`The volume ${v.claims[0]} says ${q(v.name)} had id ${v.id}, but id ${v.id} now belongs to ${q(this.rows.get(v.id)!.name)}; ${q(v.name)} is not re-created. Decide by hand who owns that volume.`);
        continue;
      }
      const twin = [...this.rows.values()].find((r) => lossySlug(r.name) === lossySlug(v.name));
      if (twin) this.notes.push(`Re-creating ${q(v.name)} from ${v.claims[0]} makes it a lookalike of ${q(twin.name)}; check they are different people.`);
      const created = v.created ? sqlTimestamp(v.created) : null;
      const cookie = freshCookieId();
      const id = v.id ?? nextFree++;
      statements.push({
        sql: `INSERT INTO users (id, name, admin, created, cookie_id) VALUES (${id}, ${this.lit(v.name)}, FALSE, ${created ? this.lit(created) : 'NULL'}, ${this.lit(cookie)})`,
        expect: 1,
      });
      this.explicitIds = true;
      if (this.tables.has('user_role_map') && this.tables.has('roles')) {
        statements.push({ sql: `INSERT INTO user_role_map (user_id, role_id) SELECT u.id, r.id FROM users u, roles r WHERE u.name = ${this.lit(v.name)} AND r.name = 'user'` });
      }
      this.rows.set(id, { id, name: v.name, admin: false, cookieId: cookie, created: v.created });
      added.push(v.id === null ? q(v.name) : `${q(v.name)} (id ${v.id})`);
    }
    const comments: string[] = [];
    for (const u of volumes.undecided) {
      if (this.rows.has(u.id!)) continue;
      comments.push(
        `${u.claim}: user ${u.id} is one of ${u.candidates.map((c) => q(c)).join(', ')}; put the login name in and run:`,
        `INSERT INTO users (id, name, admin, created, cookie_id) VALUES (${u.id}, '<login name>', FALSE, ${u.created ? this.lit(sqlTimestamp(u.created)!) : 'NULL'}, ${this.lit(freshCookieId())});`,
      );
    }
    if (!statements.length && !comments.length) return;
    this.steps.push({
      title: added.length ? `Re-create ${added.length === 1 ? 'a user' : `${added.length} users`} from volume claims (${added.join(', ')})` : 'Users the volume claims cannot name',
      why:
        'These users have a volume but no row. Each gets its old id where the claim name carries one (so the hub finds the same volume again; ' +
        'the others get ids above any in use), ' +
        'the creation time of its oldest volume, a fresh login id and the default "user" role. Claims whose user name is uncertain are left as comments for you to complete.',
      statements,
      comments,
    });
  }

  cookieStep(): void {
    const rows = [...this.rows.values()].sort((a, b) => a.id - b.id);
    const bad = new Map<number, string>();
    for (const r of rows) {
      if (r.cookieId === null) bad.set(r.id, 'NULL');
      else if (r.cookieId === '') bad.set(r.id, 'empty');
      else if (!isCookieId(r.cookieId)) bad.set(r.id, 'not of the hub\'s form');
    }
    // As in the checks: MySQL's default collation compares case- and trailing-space-blind, and so does the hub's lookup there.
    const shared = new Map<string, Row[]>();
    for (const r of rows) {
      if (!r.cookieId) continue;
      const key = r.cookieId.toLowerCase().trimEnd();
      shared.set(key, [...(shared.get(key) ?? []), r]);
    }
    for (const group of shared.values()) if (group.length > 1) for (const r of group) bad.set(r.id, 'shared');
    if (!bad.size) return;
    const statements: Statement[] = [];
    for (const id of [...bad.keys()].sort((a, b) => a - b)) {
      const r = this.rows.get(id)!;
      r.cookieId = freshCookieId();
      statements.push({ sql: `UPDATE users SET cookie_id = ${this.lit(r.cookieId)} WHERE id = ${id} AND name = ${this.lit(r.name)}`, expect: 1 });
    }
    const counts = [...bad.values()].reduce<Record<string, number>>((acc, w) => ({ ...acc, [w]: (acc[w] ?? 0) + 1 }), {});
    this.steps.push({
      title: `Fresh login ids (cookie_id) for ${bad.size === 1 ? '1 user' : `${bad.size} users`}`,
      why:
        `${Object.entries(counts).map(([w, n]) => `${n} ${w}`).join(', ')}. The hub logs a browser in as the first user whose cookie_id matches its cookie, ` +
        'so an empty or shared value lets one user in as another. Each gets a new value of the hub\'s own form (uuid4 hex); those users simply log in again. ' +
        'A shared value is replaced for every holder, because nothing tells which of them the browsers carrying it belong to.',
      statements,
    });
  }

  constraintStep(): void {
    const c = this.i.snapshot.cookieIdConstraint;
    if (!c || (c.notNull && c.unique)) return;
    const { engine } = this;
    const statements: Statement[] = [];
    let why = 'Without them nothing stops empty or shared login ids from coming back. They are what the hub itself creates (NOT NULL, UNIQUE uq_users_cookie_id).';
    if (engine === 'postgres') {
      if (!c.notNull) statements.push({ sql: 'ALTER TABLE users ALTER COLUMN cookie_id SET NOT NULL' });
      if (!c.unique) statements.push({ sql: 'ALTER TABLE users ADD CONSTRAINT uq_users_cookie_id UNIQUE (cookie_id)' });
    } else if (engine === 'mysql') {
      const changes = [!c.notNull && 'MODIFY cookie_id VARCHAR(255) NOT NULL', !c.unique && 'ADD CONSTRAINT uq_users_cookie_id UNIQUE (cookie_id)'].filter(Boolean);
      statements.push({ sql: `ALTER TABLE users ${changes.join(', ')}` });
      why += ' MySQL commits schema changes on its own, so this runs after the transaction, once every row has a proper login id (if it fails, the data fixes above stay).';
    } else {
      if (!c.notNull) {
        const create = this.i.sqliteUsers ? withNotNull(this.i.sqliteUsers.createSql, 'cookie_id', 'hub_guard_users_new') : null;
        if (create) {
          statements.push(
            { sql: create },
            { sql: 'INSERT INTO hub_guard_users_new SELECT * FROM users' },
            { sql: 'DROP TABLE users' },
            { sql: 'ALTER TABLE hub_guard_users_new RENAME TO users' },
            ...this.i.sqliteUsers!.dependentSql.map((sql) => ({ sql })),
          );
          why += ' SQLite cannot add NOT NULL to a column, so the users table is rebuilt from its own definition with it added (foreign keys off, as SQLite documents for this).';
          this.constraint = { notNull: true, unique: c.unique };
        } else {
          this.notes.push('The users table lacks NOT NULL on cookie_id and its definition could not be read safely, so it is not rebuilt; the UNIQUE index below still stops shared login ids.');
        }
      }
      if (!c.unique) statements.push({ sql: 'CREATE UNIQUE INDEX uq_users_cookie_id ON users (cookie_id)' });
      this.constraint = { notNull: this.constraint?.notNull ?? false, unique: true };
    }
    if (engine !== 'sqlite') this.constraint = { notNull: true, unique: true };
    if (!statements.length) return;
    const missing = [!c.notNull && 'NOT NULL', !c.unique && 'UNIQUE'].filter(Boolean);
    this.steps.push({ title: `Restore the ${missing.join(' and ')} constraint${missing.length > 1 ? 's' : ''} on users.cookie_id`, why, statements, afterCommit: engine === 'mysql' });
  }

  sequenceStep(): void {
    if (this.engine !== 'postgres' || !this.explicitIds) return;
    this.steps.push({
      title: 'Move the users id sequence past the restored ids',
      why: 'Rows were written with explicit ids; without this the hub\'s next new user could be given one of them and fail.',
      statements: [{ sql: PG_SEQUENCE_FORWARD }],
    });
  }

  expectedFindings(): Finding[] {
    const users: HubUser[] = [...this.rows.values()].sort((a, b) => a.id - b.id).map((r) => ({ ...r }));
    return checkSnapshot({ ...this.i.snapshot, users, cookieIdConstraint: this.constraint }, this.i.baseline, this.i.checks);
  }
}

/** Builds the plan; a database without a users table gets an empty plan and a note saying what to do instead. */
export function buildPlan(input: PlanInput): Plan {
  const b = new Builder(input);
  if (!input.snapshot.tables.includes('users')) {
    b.notes.push('There is no users table to repair: restore the latest verified backup (hub-guard backup restore-plan), or start the hub once so it creates its tables and run doctor again with --pvcs to re-create the users from their volumes.');
    return { engine: input.engine, steps: [], lookalikes: [], idRestores: [], notes: b.notes, volumes: b.volumes, expected: checkSnapshot(input.snapshot, input.baseline, input.checks) };
  }
  b.lookalikeStep();
  b.readClaims();
  b.idStep();
  b.volumeStep();
  b.cookieStep();
  b.constraintStep();
  b.sequenceStep();
  for (const r of b.idRestores) if (r.blocked) b.notes.push(`${q(r.name)} should have id ${r.to} again (from the ${r.source}), but ${r.blocked}.`);
  for (const l of b.lookalikes) if (l.action === 'manual') b.notes.push(l.explanation);
  return { engine: input.engine, steps: b.steps, lookalikes: b.lookalikes, idRestores: b.idRestores, notes: b.notes, volumes: b.volumes, expected: b.expectedFindings() };
}

/** The statements in the order they run: inside the one transaction, then (MySQL schema changes) after it. */
export function planStatements(plan: Plan): { transaction: Statement[]; after: Statement[] } {
  return {
    transaction: plan.steps.filter((s) => !s.afterCommit).flatMap((s) => s.statements),
    after: plan.steps.filter((s) => s.afterCommit).flatMap((s) => s.statements),
  };
}

function commentBlock(text: string): string[] {
  const lines: string[] = [];
  let line = '--';
  for (const word of text.split(/\s+/)) {
    if (line.length + word.length + 1 > 110 && line !== '--') {
      lines.push(line);
      line = '--';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

/** The plan as one SQL script for the engine's own client (sqlite3, psql, mysql). */
export function planSql(plan: Plan, description: string): string {
  if (!plan.steps.length) return '';
  const out: string[] = [
    `-- hub-guard doctor: repair plan for ${description}`,
    '-- Stop the hub before running it. It holds new login ids (cookie_id): keep it private, like a password.',
  ];
  if (plan.engine === 'sqlite') {
    out.push('-- Foreign keys off (they cannot change inside a transaction): ids move before their references follow, and the users table may be rebuilt.', 'PRAGMA foreign_keys = OFF;');
  }
  out.push(`${beginStatement(plan.engine)};`);
  const render = (steps: Step[], offset: number) =>
    steps.forEach((s, i) => {
      out.push('', `-- ${offset + i + 1}. ${s.title}`, ...commentBlock(s.why), ...s.statements.map((x) => `${x.sql};`));
      for (const c of s.comments ?? []) out.push(`-- ${c}`);
    });
  const inside = plan.steps.filter((s) => !s.afterCommit);
  const after = plan.steps.filter((s) => s.afterCommit);
  render(inside, 0);
  out.push('', 'COMMIT;');
  if (after.length) {
    out.push('', '-- After the transaction: MySQL commits schema changes on its own.');
    render(after, inside.length);
  }
  return `${out.join('\n')}\n`;
}
