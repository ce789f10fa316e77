// The one flag parser, as the proxy and the subcommands use it: CHP's conventions for the proxy, a stricter command
// line for the subcommands, defaults from the specs, and errors that are ConfigErrors naming their flag.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, FLAGS, buildConfig, helpLines, helpText, parseFlags, type FlagSpec } from '../../src/config.js';
import { runBackup } from '../../src/commands/backup.js';
import { runDoctor } from '../../src/commands/doctor.js';

const SPECS: FlagSpec[] = [
  { name: 'reason', kind: 'string', arg: 'text', help: 'why' },
  { name: 'count', kind: 'int', arg: 'n', min: 1, max: 9, default: 3, help: 'how many (default {default})' },
  { name: 'json', kind: 'bool', help: 'as JSON' },
  { name: 'tag', kind: 'list', arg: 't', help: 'repeatable' },
];

const fails = (argv: string[], message: string, flag: string | undefined, command?: string) =>
  assert.throws(() => parseFlags(argv, SPECS, { command, positional: command !== undefined }), (e: unknown) =>
    e instanceof ConfigError && e.message === message && e.flag === flag, argv.join(' '));

test("the proxy's command line reads as CHP's", () => {
  const flags = parseFlags(['--reason', '--json', '--count=4', '--count', '5', '--tag', 'a', '--tag=b'], SPECS);
  assert.equal(flags.str('reason'), '--json', 'a value may look like a flag');
  assert.equal(flags.int('count'), 5, 'the last one wins');
  assert.deepEqual(flags.list('tag'), ['a', 'b']);
  assert.equal(flags.bool('json'), false);
  fails(['stray'], "unexpected argument 'stray' (flags start with --; see --help)", undefined);
  fails(['--nope'], 'unknown flag --nope (see --help)', '--nope');
  fails(['--reason'], '--reason needs a value (text)', '--reason');
  fails(['--json=yes'], '--json takes no value', '--json');
  // numbers are checked when they are read, so a config reports its errors in the order it reads its flags
  const zero = parseFlags(['--count', '0'], SPECS);
  assert.throws(() => zero.int('count'), (e: unknown) =>
    e instanceof ConfigError && e.message === "--count must be a whole number from 1 to 9, got '0'" && e.flag === '--count');
  assert.throws(() => parseFlags(['--help'], SPECS), /unknown flag --help/, 'the CLI answers --help before parsing');
});

test('a subcommand reads a stricter command line', () => {
  const flags = parseFlags(['on', '--reason', 'disk full', '--json'], SPECS, { command: 'maintenance', positional: true });
  assert.deepEqual(flags.positional, ['on']);
  assert.equal(flags.str('reason'), 'disk full');
  assert.equal(flags.bool('json'), true);
  assert.equal(parseFlags(['on', '--help', '--nope'], SPECS, { command: 'maintenance', positional: true }).help, true, '--help ends the command line');
  assert.equal(parseFlags(['-h'], SPECS, { command: 'maintenance' }).help, true);
  assert.equal(parseFlags(['--reason=--json'], SPECS, { command: 'maintenance' }).str('reason'), '--json');
  fails(['--reason', '--json'], '--reason needs a value', '--reason', 'maintenance');
  fails(['--reason', 'a', '--reason', 'b'], '--reason given twice', '--reason', 'maintenance');
  fails(['--nope'], 'unknown flag --nope (see hub-guard maintenance --help)', '--nope', 'maintenance');
  assert.throws(() => parseFlags(['extra'], SPECS, { command: 'doctor' }), (e: unknown) =>
    e instanceof ConfigError && e.message === "unexpected argument 'extra' (see hub-guard doctor --help)");
});

test('a default comes from the spec, and the help shows it', () => {
  assert.equal(parseFlags([], SPECS).int('count'), 3);
  assert.equal(parseFlags([], SPECS).str('reason'), undefined);
  assert.deepEqual(helpLines(SPECS, 12), [
    '  --reason <text> why',
    '  --count <n>  how many (default 3)',
    '  --json       as JSON',
    '  --tag <t>    repeatable',
  ]);
  const text = helpText();
  assert.doesNotMatch(text, /\{default\}/);
  for (const f of FLAGS.filter((s) => s.default !== undefined && s.help.includes('{default}'))) {
    assert.ok(text.includes(`(default ${f.default}`), `--${f.name} shows its default`);
  }
  const defaults = buildConfig([], {});
  assert.equal(defaults.listen.port, FLAGS.find((f) => f.name === 'port')!.default);
  assert.equal(defaults.dbTimeoutMs, FLAGS.find((f) => f.name === 'db-timeout')!.default);
  assert.equal(defaults.activityIntervalMs, Number(FLAGS.find((f) => f.name === 'activity-interval')!.default) * 1000);
});

test("the subcommands' help comes from their specs, with their defaults", async () => {
  const out: string[] = [];
  assert.equal(await runDoctor(['--help'], { out: (t) => out.push(t) }), 0);
  assert.match(out[0]!, /\n {2}--timeout <ms> {7}deadline for reading the database \(default 10000\)\n {2}--help {15}show this help\n/);
  assert.match(out[0]!, /\n {2}--db <url> {11}the hub's db_url: .*\n {23}\(password from the URL, PGPASSWORD or MYSQL_PWD\)\n/);
  out.length = 0;
  assert.equal(await runBackup(['--help'], { out: (t) => out.push(t) }), 0);
  assert.match(out[0]!, /\n {2}--backup <name> {6}one backup by file name instead of the newest\n/);
  for (const text of out) assert.doesNotMatch(text, /\{default\}/);
});
