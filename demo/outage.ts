// `npm run demo`: the database half of the outage, replayed against a real JupyterHub 3.0 with hub-guard in front,
// narrated step by step for someone who has never seen hub-guard. Everything runs on 127.0.0.1 in a temp dir and is
// stopped and removed at the end. `--fast` skips the pauses between steps.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Browser, userPrefix, type Exchange } from '../test/e2e/browser.js';
import { externalProxy, type ProxySetup } from '../test/e2e/dropin-suite.js';
import { pollUntil, putTextFile, tryLogin } from '../test/e2e/flows.js';
import { GUARD_CLI, GuardApi, OPERATOR_HEADER, guardPage } from '../test/e2e/guard.js';
import { backupDatabase, overwriteFile, readUsers, writeEmptyDatabase } from '../test/e2e/hub-db.js';
import { PYTHON, logTail, startHub, type Hub } from '../test/e2e/hub.js';

const USERS = ['alice', 'bob'] as const;
const STEPS = 8;
const fast = process.argv.includes('--fast');
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

let stepNo = 0;
async function step(title: string): Promise<void> {
  if (stepNo > 0 && !fast) await sleep(4000);
  stepNo++;
  process.stdout.write(`\n${bold(`── Step ${stepNo}/${STEPS}: ${title} `.padEnd(78, '─'))}\n`);
}

/** Narration, wrapped at 100 columns. */
function say(text: string): void {
  const words = text.split(/\s+/);
  let line = '';
  for (const w of words) {
    if (line && line.length + w.length + 1 > 100) {
      process.stdout.write(`${line}\n`);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  process.stdout.write(`${line}\n`);
}

/** A result the demo shows, indented. */
function show(text: string): void {
  process.stdout.write(`    ${text}\n`);
}

function answer(ex: Exchange): string {
  const page = guardPage(ex);
  if (!page) return `${ex.status} from ${new URL(ex.url).pathname.startsWith('/user/') ? 'the user server' : 'the hub'}`;
  return `${page.status} ${page.kind} page from hub-guard (reason: ${page.reason}) "${page.message}"`;
}

/** Who the hub says the browser's user is, asked from a hub page as the hub's own JavaScript asks. */
async function whoami(b: Browser): Promise<string> {
  await b.get('/hub/home');
  const res = await b.fetch('/hub/api/user');
  return res.status === 200 ? (JSON.parse(res.body) as { name: string }).name : `nobody (${res.status})`;
}

function notes(name: string): string {
  return `${name}'s notes: the experiment worked on the third try.`;
}

function usersTable(path: string): string {
  const rows = readUsers(path);
  if (rows === null) return 'no users table at all (the file is an empty database)';
  if (rows.length === 0) return 'users table is empty';
  return `${rows.length} row(s): ${rows.map((r) => `${r.name} (id ${r.id})`).join(', ')}`;
}

async function main(): Promise<void> {
  for (const needed of [PYTHON, '/usr/bin/jupyterhub-singleuser']) {
    if (!existsSync(needed)) {
      throw new Error(`${needed} is missing. The demo runs Debian's JupyterHub 3.0: apt-get install jupyterhub python3-notebook python3-ipykernel`);
    }
  }
  const work = mkdtempSync(join(tmpdir(), 'hub-guard-demo-'));
  const operatorToken = randomBytes(24).toString('hex');
  let hub: Hub | undefined;
  let guard: ProxySetup | undefined;
  const browsers = new Map<string, Browser>();
  const cleanup = async () => {
    for (const b of browsers.values()) b.close();
    try {
      await hub?.stop();
    } finally {
      await guard?.stop?.();
      rmSync(work, { recursive: true, force: true });
    }
  };
  const interrupted = () => {
    process.stdout.write('\nInterrupted: stopping everything the demo started…\n');
    cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);

  try {
    say(bold('hub-guard demo: the day a hub lost its database'));
    say('A campus JupyterHub once lost its sqlite database to an accidental overwrite while it was running. Nothing '
      + 'stopped traffic: the hub kept serving on an empty database and, after a restart, gave every returning student '
      + 'a new user id and a new, empty home volume. This demo replays that with a real JupyterHub and hub-guard as its proxy.');

    await step('Start a JupyterHub with hub-guard in front');
    hub = await startHub({
      readyHeaders: { [OPERATOR_HEADER]: operatorToken },
      proxy: async (ctx) => {
        guard = await externalProxy([process.execPath, GUARD_CLI], {
          env: { HUB_GUARD_OPERATOR_TOKEN: operatorToken },
          extraArgs: (c) => ['--hub-db', c.dbUrl, '--cookie-secret-file', c.cookieSecretFile, '--state-dir', join(work, 'state'), '--db-check-interval', '1'],
        })(ctx);
        return guard.mode;
      },
    });
    const operator = new GuardApi(hub.proxyApiUrl, operatorToken);
    const dbPath = hub.dbPath!;
    say(`The hub runs behind hub-guard at ${hub.url}. hub-guard routes like configurable-http-proxy, and also reads `
      + 'the hub database (read-only) every second.');
    show(`hub database: ${dbPath}`);

    await step('alice and bob log in and start their notebook servers');
    for (const name of USERS) {
      const b = new Browser(hub.url);
      browsers.set(name, b);
      await b.login(name, hub.password);
      await b.spawn();
      await putTextFile(b, name, 'notes.txt', notes(name));
      show(`${name}: the hub says "you are ${await whoami(b)}"; their server runs at ${userPrefix(name)} and holds notes.txt`);
    }
    show(`users table: ${usersTable(dbPath)}`);
    await backupDatabase(dbPath, join(work, 'backup.sqlite'));
    say('The operators have a backup of the database from this moment.');

    await step('Someone overwrites the database with an empty one');
    say('While debugging, an operator runs `sqlite3 old.sqlite ".save jupyterhub.sqlite"` on a file that does not '
      + 'exist: sqlite writes an empty database over the hub\'s live file. The hub keeps running.');
    writeEmptyDatabase(join(work, 'empty.sqlite'));
    overwriteFile(join(work, 'empty.sqlite'), dbPath);
    const overwrittenAt = Date.now();
    show(`users table now: ${usersTable(dbPath)}`);

    await step('hub-guard notices and puts up the maintenance page');
    await pollUntil('maintenance', async () => ((await operator.status()).maintenance.on ? true : undefined), { tries: 60, delayMs: 250 });
    say(`${Date.now() - overwrittenAt} ms after the overwrite hub-guard had switched maintenance on by itself (it watches the `
      + 'file, and reads it every second anyway). What it found:');
    for (const f of (await operator.status()).db.findings ?? []) show(`[${f.severity}] ${f.message.length > 200 ? `${f.message.slice(0, 200).replace(/\s\S*$/, '')} …` : f.message}`);
    say('What each user sees now:');
    for (const name of USERS) {
      const b = browsers.get(name)!;
      show(`${name} opens ${userPrefix(name)}tree: ${answer(await b.get(`${userPrefix(name)}tree`))}`);
      show(`${name} opens /hub/home: ${answer(await b.get('/hub/home'))}`);
    }

    await step('A new user, carol, tries to log in');
    say('In the outage this is where the damage happened: the hub created fresh user rows on the empty database, '
      + 'with new ids, so new empty home volumes.');
    const carol = new Browser(hub.url);
    browsers.set('carol', carol);
    show(`carol's login: ${answer(await tryLogin(carol, 'carol', hub.password))}`);
    show(`users table: ${usersTable(dbPath)}; the hub never saw the request, so it created nothing.`);

    await step('The operators restore the database from the backup');
    overwriteFile(join(work, 'backup.sqlite'), dbPath);
    show(`users table: ${usersTable(dbPath)} (the same ids as before)`);
    await pollUntil('healthy read', async () => ((await operator.status()).db.state === 'healthy' ? true : undefined), { tries: 40, delayMs: 250 });
    const latched = await operator.status();
    say(`hub-guard reads the restored database as healthy, but maintenance stays ${latched.maintenance.on ? 'on' : 'off'}: `
      + 'a database that went wrong once is not trusted again until a person has looked at it.');

    await step('An operator switches maintenance off');
    show('$ hub-guard maintenance off --reason "hub database restored from the backup"');
    await operator.clearMaintenance('hub database restored from the backup');
    show(`maintenance is now ${(await operator.status()).maintenance.on ? 'on' : 'off'}; the change is in hub-guard's audit log.`);

    await step('Everyone is back');
    for (const name of USERS) {
      const b = browsers.get(name)!;
      const me = await whoami(b);
      const file = await b.get(`${userPrefix(name)}files/notes.txt`);
      const same = file.status === 200 && file.body.includes(notes(name));
      show(`${name}: the hub says "you are ${me}"; notes.txt in ${userPrefix(name)} ${same ? 'is still there, unchanged' : `answers ${file.status}`}`);
      if (me !== name || !same) throw new Error(`${name} is not back as before`);
    }
    say('\nNo user row was created on the empty database and nobody lost their home volume. In production hub-guard '
      + 'does this for sqlite, PostgreSQL and MySQL hub databases; see README.md and docs/demo.md.');
  } catch (err) {
    process.stdout.write(`\nThe demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    if (hub) process.stdout.write(`\n----- hub log (tail) -----\n${logTail(hub.log(), 6000)}\n`);
    if (guard?.log) process.stdout.write(`\n----- hub-guard log (tail) -----\n${logTail(guard.log(), 6000)}\n`);
    process.exitCode = 1;
  } finally {
    process.stdout.write('\nStopping the hub, the servers and hub-guard, and removing the temp files…\n');
    await cleanup();
    process.stdout.write('Done.\n');
  }
}

await main();
