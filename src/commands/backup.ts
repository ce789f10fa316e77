// `hub-guard backup list|verify|restore-plan`: the verified sqlite backups the watchdog keeps (and doctor --apply
// takes), and the exact steps to restore one. It never restores anything itself: a restore under a running hub is
// the very accident hub-guard exists for.
import { basename } from 'node:path';
import { parseHubDbUrl, type HubDbTarget } from '../hubdb/url.js';
import { backupStem, listBackups, verifyBackup, type BackupInfo, type Verification } from '../doctor/backups.js';
import { statfsRoom, type Room } from '../doctor/space.js';
import { ConfigError, HELP_FLAG, formatBytes, helpLines, parseFlags, type FlagSpec } from '../config.js';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

const FLAGS: FlagSpec[] = [
  { name: 'backup-dir', kind: 'string', arg: 'dir', help: 'where the backups are' },
  { name: 'db', kind: 'string', arg: 'url', help: "the hub's sqlite db_url, so the steps name the real file" },
  { name: 'backup', kind: 'string', arg: 'name', help: 'one backup by file name instead of the newest' },
  { name: 'json', kind: 'bool', help: 'print the result as JSON (list, verify)' },
];

const HELP = `usage: hub-guard backup list --backup-dir DIR [--json]
       hub-guard backup verify --backup-dir DIR [--backup NAME] [--json]
       hub-guard backup restore-plan --backup-dir DIR [--db URL] [--backup NAME]

The watchdog (with --backup-dir) keeps the last verified online copies of a sqlite hub database while it is
healthy; doctor --apply takes one before it writes.
  list           the backups in DIR, newest first, their total size and the free space left beside them
  verify         re-open each backup (or the one named) read-only and run PRAGMA quick_check on it
  restore-plan   verify the newest backup (or the one named) and print the exact steps to put it back safely:
                 hold traffic, stop the hub, swap the file, check it, start the hub, release traffic.
                 It prints the steps only; it never touches the live database.

options:
${helpLines([...FLAGS, HELP_FLAG], 20).join('\n')}

PostgreSQL and MySQL hubs are backed up by the database service instead: see docs/doctor.md.
Exit codes: 0 done, 1 no usable backup or a backup failed its check, 2 bad command line.`;


interface Options {
  action: 'list' | 'verify' | 'restore-plan';
  dir: string;
  db?: { url: string; target: HubDbTarget };
  backup?: string;
  json: boolean;
}

function parse(argv: string[], env: NodeJS.ProcessEnv): Options | 'help' {
  const flags = parseFlags(argv, FLAGS, { command: 'backup', positional: true });
  if (flags.help) return 'help';
  const { positional } = flags;
  const json = flags.bool('json');
  for (const [name, value] of flags.values()) if (value === '') throw new ConfigError(`--${name} must not be empty`, `--${name}`);
  const action = positional[0];
  if (action === undefined) throw new ConfigError('say what to do: list, verify or restore-plan (see hub-guard backup --help)');
  if (action !== 'list' && action !== 'verify' && action !== 'restore-plan') throw new ConfigError(`unknown action '${action}': use list, verify or restore-plan`);
  if (positional.length > 1) throw new ConfigError(`unexpected argument '${positional[1]}'`);
  const dir = flags.str('backup-dir');
  if (dir === undefined) throw new ConfigError('--backup-dir DIR is required (the directory the watchdog or doctor --apply writes backups to)', '--backup-dir');
  const backup = flags.str('backup');
  if (backup !== undefined && action === 'list') throw new ConfigError('--backup is for verify and restore-plan', '--backup');
  if (backup !== undefined && backup !== basename(backup)) throw new ConfigError('--backup takes a file name from "hub-guard backup list", not a path', '--backup');
  if (json && action === 'restore-plan') throw new ConfigError('restore-plan prints steps for a person; --json is for list and verify', '--json');
  let db: Options['db'];
  const url = flags.str('db');
  if (url !== undefined) {
    if (action !== 'restore-plan') throw new ConfigError('--db is for restore-plan', '--db');
    db = { url, target: parseHubDbUrl(url, '--db', env) };
  }
  return { action, dir, db, backup, json };
}

interface Printer { out(text: string): void; err(text: string): void }

function pick(o: Options, all: BackupInfo[]): BackupInfo[] {
  if (o.backup === undefined) return all;
  const found = all.filter((b) => b.name === o.backup);
  if (!found.length) throw new Error(`no backup called ${o.backup} in ${o.dir} (see hub-guard backup list)`);
  return found;
}

function describe(b: BackupInfo, v?: Verification): string {
  const base = `${b.name}  taken ${b.takenAt}  ${formatBytes(b.bytes)}`;
  if (!v) return base;
  return v.ok ? `${base}  ok: ${v.users} users, schema ${v.alembicVersion ?? 'unknown'}` : `${base}  FAILED: ${v.problem}`;
}

/** A shell word, quoted when it needs to be. */
function sh(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function restoreSteps(b: BackupInfo, v: Verification, dbFile: string | null): string[] {
  const db = dbFile ?? '<the hub database file, e.g. /srv/jupyterhub/jupyterhub.sqlite>';
  const when = new Date().toISOString().replace(/[-:]/g, '').slice(0, 15);
  const aside = `${db}.before-restore-${when}`;
  const q = dbFile ? sh : (s: string) => s;
  const lines = [
    `Restore plan: ${db}`,
    `  from ${b.file}`,
    `  taken ${b.takenAt}, verified just now: ${v.users} users, schema ${v.alembicVersion ?? 'unknown'}.`,
  ];
  if (dbFile && backupStem(dbFile) !== b.stem) lines.push(`  Note: this backup was taken of a file named ${b.stem}.*, not ${basename(dbFile)}; make sure it is the right hub.`);
  lines.push(
    '',
    'Never copy a backup over the database of a running hub: the hub keeps its own view in memory and a copy',
    'under its feet is how the 2017 outage started. Do these steps in order:',
    '',
    '1. Hold all traffic on the maintenance page (operators still get through):',
    '     hub-guard maintenance on --reason "Restoring the hub database"',
    '2. Stop the hub and wait until it has exited:',
    '     kubectl scale deployment hub --replicas=0        # zero-to-jupyterhub; or: systemctl stop jupyterhub',
    `     fuser ${q(db)}        # prints nothing once no process has the file open`,
    '   On Kubernetes this stops a hub-guard sidecar too; steps 3-5 then run in the pod from',
    '   deploy/hub-db-restore-pod.yaml, which mounts the hub\'s volume (docs/operations.md, "Restore a sqlite hub database").',
    '3. Move the current file aside (evidence, and a way back) together with any journal SQLite left next to it, so',
    '   that an old journal is never replayed into the restored file:',
    `     mv ${q(db)} ${q(aside)}`,
    `     for s in -journal -wal -shm; do [ -e ${q(db)}$s ] && mv ${q(db)}$s ${q(aside)}$s; done`,
    '4. Put the backup in place: copy next to the target, then rename, so nothing ever sees a half-copied file;',
    '   keep the owner and mode the hub expects:',
    `     cp ${q(b.file)} ${q(`${db}.restoring`)}`,
    `     chown --reference=${q(aside)} ${q(`${db}.restoring`)} && chmod 600 ${q(`${db}.restoring`)}`,
    `     mv ${q(`${db}.restoring`)} ${q(db)}`,
    '5. Check it before the hub sees it (add --state-dir to compare with hub-guard\'s baseline; where hub-guard is not',
    '   installed, use the read-only check in docs/operations.md):',
    `     hub-guard doctor --db ${q(`sqlite:///${db}`)}`,
    '6. Start the hub:',
    '     kubectl scale deployment hub --replicas=1        # or: systemctl start jupyterhub',
    '7. When hub-guard reports the database healthy, let traffic through again:',
    '     hub-guard maintenance status',
    `     hub-guard maintenance off --reason "Restored from ${b.name}"`,
    '',
    `Users created after ${b.takenAt} are not in this backup: they get a new row at their next login (and, where volume`,
    'names carry the user id, a new volume). hub-guard compares the restored database with its baseline and reports',
    'what differs; hub-guard doctor shows it and what to do.',
  );
  return lines;
}

/** Each database's backups together: the watchdog's --backup-max-bytes bounds each of these sums. */
function totals(all: BackupInfo[]): Map<string, { count: number; bytes: number }> {
  const out = new Map<string, { count: number; bytes: number }>();
  for (const b of all) {
    const t = out.get(b.stem) ?? { count: 0, bytes: 0 };
    out.set(b.stem, { count: t.count + 1, bytes: t.bytes + b.bytes });
  }
  return out;
}

async function list(o: Options, all: BackupInfo[], p: Printer): Promise<void> {
  // the free space is what the hub has left when the backups share its volume: worth a look next to their size
  const room: Room | null = all.length ? await statfsRoom(o.dir).catch(() => null) : null;
  const sums = totals(all);
  if (o.json) {
    const perDb = [...sums].map(([stem, t]) => ({ stem, backups: t.count, bytes: t.bytes }));
    p.out(JSON.stringify({ dir: o.dir, backups: all, totals: perDb, fileSystem: room && { sizeBytes: room.size, freeBytes: room.free } }, null, 2));
    return;
  }
  if (!all.length) {
    p.out(`No backups in ${o.dir}.`);
    return;
  }
  const sum = [...sums].map(([stem, t]) => `${formatBytes(t.bytes)} in ${t.count} backup${t.count === 1 ? '' : 's'} of ${stem}`).join(', ');
  const free = room ? `; ${formatBytes(room.free)} free of ${formatBytes(room.size)} on this file system` : '';
  p.out([`Backups in ${o.dir}, newest first:`, ...all.map((b) => `  ${describe(b)}`), `Total: ${sum}${free}.`].join('\n'));
}

async function run(o: Options, p: Printer): Promise<number> {
  const all = listBackups(o.dir);
  if (o.action === 'list') {
    await list(o, all, p);
    return EXIT_OK;
  }
  if (!all.length) {
    p.err(`hub-guard backup: no backups in ${o.dir}`);
    return EXIT_FAILED;
  }
  const chosen = pick(o, all);
  if (o.action === 'verify') {
    const results = [];
    for (const b of chosen) results.push({ ...b, verification: await verifyBackup(b.file) });
    if (o.json) p.out(JSON.stringify({ dir: o.dir, backups: results }, null, 2));
    else p.out(results.map((r) => describe(r, r.verification)).join('\n'));
    return results.every((r) => r.verification.ok) ? EXIT_OK : EXIT_FAILED;
  }
  // restore-plan: the named backup, or the newest one that passes its check.
  const stem = o.db?.target.engine === 'sqlite' ? backupStem(o.db.target.file) : undefined;
  const candidates = o.backup !== undefined ? chosen : [...chosen.filter((b) => b.stem === stem), ...chosen.filter((b) => b.stem !== stem)];
  for (const b of candidates) {
    const v = await verifyBackup(b.file);
    if (!v.ok) {
      p.err(`hub-guard backup: ${b.name} fails its check (${v.problem})${o.backup === undefined ? '; trying an older one' : ''}`);
      continue;
    }
    p.out(restoreSteps(b, v, o.db?.target.engine === 'sqlite' ? o.db.target.file : null).join('\n'));
    return EXIT_OK;
  }
  p.err(`hub-guard backup: no backup in ${o.dir} passes its check`);
  return EXIT_FAILED;
}

/** Runs `hub-guard backup …` (argv after the word "backup") and returns the exit code. */
export async function runBackup(argv: string[], io: Partial<Printer & { env: NodeJS.ProcessEnv }> = {}): Promise<number> {
  const p: Printer = {
    out: io.out ?? ((text) => process.stdout.write(`${text}\n`)),
    err: io.err ?? ((text) => process.stderr.write(`${text}\n`)),
  };
  let o: Options | 'help';
  try {
    o = parse(argv, io.env ?? process.env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    p.err(`hub-guard backup: ${e.message}`);
    return EXIT_USAGE;
  }
  if (o === 'help') {
    p.out(HELP);
    return EXIT_OK;
  }
  if (o.db && o.db.target.engine !== 'sqlite') {
    p.err(
      'hub-guard backup: these backups are copies of a sqlite file. A PostgreSQL or MySQL hub database is backed up by the ' +
      'database service (point-in-time recovery, scheduled pg_dump/mysqldump): see docs/doctor.md for the restore steps.',
    );
    return EXIT_USAGE;
  }
  try {
    return await run(o, p);
  } catch (e) {
    p.err(`hub-guard backup: ${(e as Error).message}`);
    return EXIT_FAILED;
  }
}
