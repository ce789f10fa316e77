// `hub-guard doctor`: every watchdog check on the hub database as a report, and a repair plan as SQL in one
// transaction (fresh login ids, lookalike renames, ids restored from the baseline, users re-created from their
// volumes). Writes nothing unless --apply, which on sqlite takes a verified backup first.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { baselineFrom, checkSnapshot, DEFAULT_CHECK_OPTIONS, type Baseline, type Finding } from '../hubdb/checks.js';
import { openHubDb } from '../hubdb/open.js';
import type { HubSnapshot } from '../hubdb/snapshot.js';
import { parseHubDbUrl, redactDbUrl, type HubDbTarget } from '../hubdb/url.js';
import { FileStore } from '../state/store.js';
import { adviceFor, shellWord } from '../doctor/advice.js';
import { ensureRoom, takeVerifiedBackup } from '../doctor/backups.js';
import { buildPlan, planSql } from '../doctor/plan.js';
import { renderReport, type AdvisedFinding, type DoctorReport } from '../doctor/report.js';
import { ApplyError, applyPlanToSqlite, readSqliteUsersSchema } from '../doctor/sqlite-apply.js';
import { parsePvcList, VolumeListError } from '../doctor/volumes.js';
import { ConfigError, HELP_FLAG, helpLines, parseFlags, type FlagSpec } from '../config.js';

const EXIT_HEALTHY = 0;
const EXIT_FINDINGS = 1;
const EXIT_USAGE = 2;
const DEFAULT_TIMEOUT_MS = 10_000;

const FLAGS: FlagSpec[] = [
  {
    name: 'db', kind: 'string', arg: 'url',
    help: "the hub's db_url: sqlite:////abs/path.sqlite, postgresql://user@host/db, mysql://user@host/db\n(password from the URL, PGPASSWORD or MYSQL_PWD)",
  },
  { name: 'baseline', kind: 'string', arg: 'file', help: "a baseline JSON (hub-guard's <state-dir>/baseline.json): names and ids known while healthy" },
  { name: 'state-dir', kind: 'string', arg: 'dir', help: "hub-guard's --state-dir, to read its baseline from" },
  { name: 'pvcs', kind: 'string', arg: 'file', help: 'the output of "kubectl get pvc -o json": derive users and their old ids from volume claims' },
  { name: 'json', kind: 'bool', help: 'print the report as JSON' },
  { name: 'sql', kind: 'string', arg: 'file', help: "also write the plan's SQL to this file (mode 0600: it holds new login ids)" },
  {
    name: 'apply', kind: 'bool',
    help: 'sqlite only: take a verified backup, then apply the plan in one transaction and check again.\n' +
      'Stop the hub first. PostgreSQL/MySQL: take a dump and run the --sql file with psql/mysql.',
  },
  { name: 'yes', kind: 'bool', help: 'do not ask for confirmation (needed with --apply when not on a terminal)' },
  { name: 'backup-dir', kind: 'string', arg: 'dir', help: "where --apply puts its backup (default: the database file's directory)" },
  // a string, so that a bad value gets doctor's own message
  { name: 'timeout', kind: 'string', arg: 'ms', default: DEFAULT_TIMEOUT_MS, help: 'deadline for reading the database (default {default})' },
];

const HELP = `usage: hub-guard doctor --db URL [--baseline FILE | --state-dir DIR] [--pvcs FILE] [--json] [--sql FILE]
                        [--apply [--yes] [--backup-dir DIR]] [--timeout MS]

Runs every check the watchdog runs on the hub database and prints what it found, what to do, and a repair plan:
SQL for one transaction that gives fresh login ids (cookie_id) to users whose id is empty, NULL, malformed or
shared; renames lookalike users (john-doe back to john.doe) when the other row is a newer, empty copy; gives users
their old ids back from the last known good baseline (moving spawners, tokens, roles, groups and shares along);
and, with --pvcs, re-creates users from their volume claims. Nothing is written unless --apply.

options:
${helpLines([...FLAGS, HELP_FLAG], 20).join('\n')}

Exit codes: 0 healthy and nothing to repair, 1 findings or a plan (after --apply: findings left), 2 bad command line
or --apply refused.`;

interface Options {
  db: string;
  target: HubDbTarget;
  baselineFile?: string;
  stateDir?: string;
  pvcs?: string;
  json: boolean;
  sqlFile?: string;
  apply: boolean;
  yes: boolean;
  backupDir?: string;
  timeoutMs: number;
}

function parse(argv: string[], env: NodeJS.ProcessEnv): Options | 'help' {
  const flags = parseFlags(argv, FLAGS, { command: 'doctor' });
  if (flags.help) return 'help';
  for (const [name, value] of flags.values()) if (value === '') throw new ConfigError(`--${name} must not be empty`, `--${name}`);
  const db = flags.str('db');
  if (db === undefined) throw new ConfigError('--db URL is required (the hub\'s db_url, e.g. sqlite:////srv/jupyterhub/jupyterhub.sqlite)', '--db');
  const target = parseHubDbUrl(db, '--db', env);
  if (flags.has('baseline') && flags.has('state-dir')) throw new ConfigError('--baseline and --state-dir cannot be used together', '--state-dir');
  const apply = flags.bool('apply');
  const yes = flags.bool('yes');
  if (yes && !apply) throw new ConfigError('--yes only goes with --apply', '--yes');
  if (flags.has('backup-dir') && !apply) throw new ConfigError('--backup-dir only goes with --apply (the watchdog has its own)', '--backup-dir');
  const timeout = flags.str('timeout')!;
  if (!/^\d{1,7}$/.test(timeout) || Number(timeout) < 1) throw new ConfigError('--timeout must be a whole number of milliseconds, at least 1', '--timeout');
  return {
    db, target, baselineFile: flags.str('baseline'), stateDir: flags.str('state-dir'), pvcs: flags.str('pvcs'),
    json: flags.bool('json'), sqlFile: flags.str('sql'), apply, yes, backupDir: flags.str('backup-dir'), timeoutMs: Number(timeout),
  };
}

function validBaseline(v: unknown, where: string): Baseline {
  const b = v as Partial<Baseline> | null;
  const ok = typeof b === 'object' && b !== null && Number.isFinite(b.highWater) && Number.isFinite(b.updatedAt) &&
    typeof b.users === 'object' && b.users !== null && !Array.isArray(b.users) && Object.values(b.users).every((id) => Number.isSafeInteger(id));
  if (!ok) throw new ConfigError(`${where} is not a hub-guard baseline (expected {"highWater": n, "users": {"name": id, …}, "updatedAt": ms})`);
  return baselineFrom(b as Baseline);
}

/** Reads a document the way hub-guard stores it in its state directory (plain JSON, or with the store's envelope). */
async function loadStateDoc(dir: string, key: string, what: string): Promise<unknown> {
  const store = new FileStore(dir);
  try {
    return await store.load(key);
  } catch (e) {
    throw new ConfigError(`${what}: ${(e as Error).message.replace(/^--state-dir: /, '')}`);
  } finally {
    await store.close();
  }
}

async function loadBaseline(o: Options): Promise<{ baseline: Baseline; source: string } | null> {
  if (o.baselineFile !== undefined) {
    const file = o.baselineFile;
    let isFile = false;
    try {
      isFile = statSync(file).isFile();
    } catch {
      // reported below
    }
    if (!isFile) throw new ConfigError(`--baseline ${file}: no such file`, '--baseline');
    // A file named like a state document (baseline.json, copied out of a --state-dir) may carry the store's envelope.
    const name = basename(file);
    let doc: unknown;
    if (/^[a-z0-9-]+\.json$/.test(name)) {
      doc = await loadStateDoc(dirname(file), name.slice(0, -'.json'.length), `--baseline ${file}`);
    } else {
      try {
        doc = JSON.parse(readFileSync(file, 'utf8'));
      } catch (e) {
        throw new ConfigError(`--baseline ${file}: ${e instanceof SyntaxError ? 'not valid JSON' : (e as Error).message}`, '--baseline');
      }
    }
    return { baseline: validBaseline(doc, `--baseline ${file}`), source: file };
  }
  if (o.stateDir !== undefined) {
    // FileStore would create a missing directory; a typo must be an error, not an empty baseline.
    let isDir = false;
    try {
      isDir = statSync(o.stateDir).isDirectory();
    } catch {
      // reported below
    }
    if (!isDir) throw new ConfigError(`--state-dir ${o.stateDir}: no such directory`, '--state-dir');
    const doc = await loadStateDoc(o.stateDir, 'baseline', `--state-dir ${o.stateDir}`);
    if (doc === undefined) return null;
    return { baseline: validBaseline(doc, `${o.stateDir}/baseline.json`), source: `${o.stateDir}/baseline.json` };
  }
  return null;
}

function loadPvcs(file: string): ReturnType<typeof parsePvcList> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`--pvcs ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, '--pvcs');
  }
  try {
    return parsePvcList(text);
  } catch (e) {
    if (e instanceof VolumeListError) throw new ConfigError(`--pvcs ${file}: ${e.message}`, '--pvcs');
    throw e;
  }
}

async function readSnapshot(o: Options): Promise<{ snapshot: HubSnapshot; description: string } | { error: string; description: string }> {
  const db = openHubDb(o.db, { timeoutMs: o.timeoutMs, flag: '--db' });
  try {
    return { snapshot: await db.read(), description: db.description };
  } catch (e) {
    const err = e as Error & { code?: string };
    return { error: err.code === 'ENOENT' ? `hub database ${db.description}: no such file` : err.message, description: db.description };
  } finally {
    await db.close();
  }
}

const advised = (findings: Finding[]): AdvisedFinding[] => findings.map((f) => ({ ...f, action: adviceFor(f.check) }));

const sh = shellWord;

/** What to run instead of --apply on a database server: a dump first, then the plan through the engine's client. */
function serverRoute(t: Exclude<HubDbTarget, { engine: 'sqlite' }>, db: string): string {
  const when = new Date().toISOString().replace(/[-:]/g, '').slice(0, 15);
  const user = t.user ? [t.engine === 'postgres' ? `--username=${sh(t.user)}` : `--user=${sh(t.user)}`] : [];
  const conn = [`--host=${sh(t.host)}`, `--port=${t.port}`, ...user].join(' ');
  const doctor = `hub-guard doctor --db ${sh(redactDbUrl(db))} --sql plan.sql`;
  const lines = t.engine === 'postgres'
    ? [
      `  pg_dump ${conn} --format=custom --file=hub-before-doctor-${when}.dump ${sh(t.database)}`,
      `  pg_restore --list hub-before-doctor-${when}.dump > /dev/null   # the dump reads back`,
      `  ${doctor}`,
      `  psql ${conn} --set=ON_ERROR_STOP=1 --file=plan.sql ${sh(t.database)}`,
    ]
    : [
      `  mysqldump ${conn} --single-transaction --routines --triggers ${sh(t.database)} > hub-before-doctor-${when}.sql`,
      `  ${doctor}`,
      `  mysql ${conn} ${sh(t.database)} < plan.sql`,
    ];
  return [
    `--apply works on sqlite files only. On ${t.engine === 'postgres' ? 'PostgreSQL' : 'MySQL'}, stop the hub, take a dump you have checked, and run the plan with the database's own client:`,
    ...lines,
    `(passwords: ${t.engine === 'postgres' ? 'PGPASSWORD or ~/.pgpass' : 'MYSQL_PWD or ~/.my.cnf'} for the clients, and for doctor PGPASSWORD/MYSQL_PWD or the URL in place of ***; then run hub-guard doctor again to check.)`,
    'A managed database with point-in-time recovery is the better safety net: see docs/doctor.md.',
  ].join('\n');
}

export interface DoctorIo {
  out(text: string): void;
  err(text: string): void;
  /** Whether a person can answer a question. */
  isTTY: boolean;
  ask(question: string): Promise<string>;
  env: NodeJS.ProcessEnv;
}

function defaultIo(): DoctorIo {
  return {
    out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
    isTTY: Boolean(process.stdin.isTTY && process.stderr.isTTY),
    async ask(question) {
      // The question goes to stderr so that --json output on stdout stays clean.
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        return await rl.question(question);
      } finally {
        rl.close();
      }
    },
    env: process.env,
  };
}

/** Runs `hub-guard doctor …` (argv after the word "doctor") and returns the exit code. */
export async function runDoctor(argv: string[], io: Partial<DoctorIo> = {}): Promise<number> {
  const p: DoctorIo = { ...defaultIo(), ...io };
  let o: Options | 'help';
  let baseline: Awaited<ReturnType<typeof loadBaseline>>;
  let pvcs: ReturnType<typeof parsePvcList> | null = null;
  try {
    o = parse(argv, p.env);
    if (o === 'help') {
      p.out(HELP);
      return EXIT_HEALTHY;
    }
    if (o.apply && o.target.engine !== 'sqlite') {
      p.err(`hub-guard doctor: ${serverRoute(o.target, o.db)}`);
      return EXIT_USAGE;
    }
    if (o.apply && !o.yes && !p.isTTY) throw new ConfigError('--apply asks for confirmation on a terminal; add --yes to apply without asking', '--apply');
    baseline = await loadBaseline(o);
    if (o.pvcs !== undefined) pvcs = loadPvcs(o.pvcs);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    p.err(`hub-guard doctor: ${e.message}`);
    return EXIT_USAGE;
  }

  const read = await readSnapshot(o);
  if ('error' in read) {
    const finding: AdvisedFinding = { check: 'unreachable', severity: 'critical', message: `The hub database could not be read: ${read.error}`, action: adviceFor('unreachable') };
    if (o.json) p.out(JSON.stringify({ database: read.description, findings: [finding] }, null, 2));
    else p.out(`hub-guard doctor: ${read.description}\n\n${[`[critical] unreachable`, `  ${finding.message}`, `  What to do: ${finding.action}`].join('\n')}`);
    return EXIT_FINDINGS;
  }
  const { snapshot, description } = read;
  const findings = checkSnapshot(snapshot, baseline?.baseline ?? null, DEFAULT_CHECK_OPTIONS);

  const file = o.target.engine === 'sqlite' ? o.target.file : null;
  let sqliteUsers = null;
  if (file !== null && snapshot.tables.includes('users')) {
    try {
      sqliteUsers = readSqliteUsersSchema(file);
    } catch {
      // The plan then says it cannot rebuild the table; the snapshot read already reported any real trouble.
    }
  }
  const plan = buildPlan({ engine: o.target.engine, snapshot, baseline: baseline?.baseline ?? null, pvcs, checks: DEFAULT_CHECK_OPTIONS, sqliteUsers });
  const sql = planSql(plan, description);
  const report: DoctorReport = {
    database: description,
    engine: o.target.engine,
    readAt: new Date(snapshot.takenAt).toISOString(),
    users: snapshot.users.length,
    schema: snapshot.alembicVersion,
    baseline: baseline && {
      source: baseline.source, names: Object.keys(baseline.baseline.users).length,
      highWater: baseline.baseline.highWater, updatedAt: new Date(baseline.baseline.updatedAt).toISOString(),
    },
    findings: advised(findings),
    volumes: plan.volumes && o.pvcs !== undefined ? { ...plan.volumes, source: o.pvcs } : null,
    plan,
    sql,
  };

  if (o.sqlFile !== undefined) {
    if (!sql) p.err('hub-guard doctor: the plan is empty; no SQL file written');
    else {
      try {
        writeFileSync(o.sqlFile, sql, { mode: 0o600 });
      } catch (e) {
        p.err(`hub-guard doctor: cannot write --sql ${o.sqlFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        return EXIT_USAGE;
      }
    }
  }

  const somethingToDo = findings.length > 0 || plan.steps.length > 0;
  const statementCount = plan.steps.reduce((n, s) => n + s.statements.length, 0);
  if (!o.apply || statementCount === 0) {
    p.out(o.json ? JSON.stringify(report, null, 2) : renderReport(report));
    if (o.apply) p.err('hub-guard doctor: the plan has no statements; nothing to apply');
    return somethingToDo ? EXIT_FINDINGS : EXIT_HEALTHY;
  }

  // --apply on a sqlite file from here on.
  const dbFile = file!;
  if (!o.yes) {
    p.err(renderReport(report));
    const answer = await p.ask(
      `About to change ${dbFile}: ${statementCount} statements in one transaction. The hub must be stopped first ` +
      '(and hub-guard in maintenance: hub-guard maintenance on --reason "…"). A verified backup is taken before anything is written.\n' +
      'Type "yes" to go on: ',
    );
    if (answer.trim().toLowerCase() !== 'yes') {
      p.err('hub-guard doctor: not applied; nothing was written');
      return EXIT_FINDINGS;
    }
  }
  let backup;
  try {
    const dir = o.backupDir ?? dirname(dbFile);
    // by default the copy goes next to the database, and a repair that filled the volume would break what it mends
    await ensureRoom(dbFile, dir);
    backup = await takeVerifiedBackup(dbFile, dir);
  } catch (e) {
    p.err(`hub-guard doctor: no backup, so nothing was applied: ${(e as Error).message}`);
    return EXIT_FINDINGS;
  }
  let statements: number;
  try {
    statements = applyPlanToSqlite(dbFile, plan).statements;
  } catch (e) {
    if (!(e instanceof ApplyError)) throw e;
    p.err(`hub-guard doctor: nothing was applied (rolled back): ${e.message}\nThe backup taken before is ${backup.file}.`);
    return EXIT_FINDINGS;
  }
  const again = await readSnapshot(o);
  const after = 'error' in again
    ? [{ check: 'unreachable', severity: 'critical' as const, message: `The hub database could not be read after the repair: ${again.error}` }]
    : checkSnapshot(again.snapshot, baseline?.baseline ?? null, DEFAULT_CHECK_OPTIONS);
  report.applied = { backup, statements, findings: advised(after) };
  p.out(o.json ? JSON.stringify(report, null, 2) : renderReport(report));
  return after.length ? EXIT_FINDINGS : EXIT_HEALTHY;
}
