// The Dockerfile against the package it ships. No Docker engine runs here, so the image is checked as data: its stages
// and base images, where every copied path comes from, the user, the links, the entrypoint and command (read by
// hub-guard's own flag parser), the state directory's permissions. Then the command the image answers to is run as
// the image runs it: through links named configurable-http-proxy and hub-guard, with the chart's flags and with the
// image's default command.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, symlinkSync, chmodSync, mkdirSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { buildConfig, type Config } from '../../src/config.js';
import { start, type Proc } from '../helpers/proc.js';
import { scratch } from '../helpers/scratch.js';
import { freePort } from '../helpers/ports.js';
import { send } from '../helpers/http.js';
import { eventually } from '../helpers/eventually.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string; bin: Record<string, string>; engines: { node: string };
  dependencies: Record<string, string>; devDependencies: Record<string, string>;
};
const CLI = join(ROOT, PKG.bin['hub-guard']);

// Docker's PATH when an image sets none; the official node images install node into /usr/local/bin.
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
// Node's release schedule (github.com/nodejs/Release): when each LTS line's support ends, and its first LTS release.
const NODE_LTS: Record<number, { firstLts?: string; eol: string }> = {
  20: { firstLts: '20.9.0', eol: '2026-04-30' },
  22: { firstLts: '22.11.0', eol: '2027-04-30' },
  24: { firstLts: '24.11.0', eol: '2028-04-30' },
  26: { eol: '2029-04-30' },
};
// How zero-to-jupyterhub 4.4.0 runs the image (../shared/z2jh-4.4.0/README.md): its proxy container's command, and
// the uid/gid of the proxy and hub containers (proxy.chp and hub containerSecurityContext).
const CHART_PROXY_COMMAND = ['configurable-http-proxy', '--ip=', '--api-ip=', '--api-port=8001', '--default-target=http://hub:8081', '--error-target=http://hub:8081/hub/error', '--port=8000'];
const CHART_PROXY_USER = { uid: 65534, gid: 65534 };
const CHART_HUB_USER = { uid: 1000, gid: 1000 };
// OpenShift's restricted policy: an arbitrary uid from the namespace's range, gid 0.
const OPENSHIFT_USER = { uid: 1000680000, gid: 0 };
const USER_NAMES: Record<string, number> = { root: 0, node: 1000, nobody: 65534, nogroup: 65534 };

// ------------------------------------------------------------------ the Dockerfile as data

interface Instruction { keyword: string; rest: string; line: number }

/** The Dockerfile's instructions, continuation lines joined, comments dropped (also inside a continued line, as Docker does). */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buf = '';
  let first = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (/^\s*#/.test(line) || (!buf && !line.trim())) return;
    if (!buf) first = i + 1;
    if (/\\\s*$/.test(line)) {
      buf += `${line.replace(/\\\s*$/, '')} `;
      return;
    }
    const m = /^\s*(\S+)\s*([\s\S]*)$/.exec(buf + line)!;
    out.push({ keyword: m[1].toUpperCase(), rest: m[2].trim(), line: first });
    buf = '';
  });
  assert.equal(buf, '', 'the Dockerfile ends inside a continued line');
  return out;
}

/** Where a path in a stage came from. */
type Origin =
  | { kind: 'context'; path: string }
  | { kind: 'stage'; stage: number; path: string }
  | { kind: 'tsc'; from: string }
  | { kind: 'npm-ci' }
  | { kind: 'mkdir' };

interface Entry { path: string; origin: Origin; at: number }
interface Dir { uid: number; gid: number; mode: number }
interface Copy { line: number; from?: number; fromName?: string; sources: string[]; dest: string }
interface Stage {
  index: number;
  name?: string;
  from: string;
  workdir: string;
  /** What the Dockerfile put into the stage, in order; the base image's own files are not modelled. */
  entries: Entry[];
  copies: Copy[];
  /** Packages apt-get installed, with the instruction index. */
  apt: { pkg: string; at: number }[];
  npmCi?: { at: number; line: number; withLock: boolean; withManifest: boolean };
  tsc?: { at: number; outputs: string[] };
  prunedAt?: number;
  /** Paths made executable for every user. */
  exec: Set<string>;
  dirs: Map<string, Dir>;
  links: Map<string, string>;
  env: Map<string, string>;
  expose: number[];
  user?: string;
  entrypoint?: string[] | string;
  cmd?: string[] | string;
  other: string[];
}

interface Image { stages: Stage[]; final: Stage; text: string }

function words(command: string): string[] {
  return command.trim().split(/\s+/).filter(Boolean).map((w) => w.replace(/^(['"])(.*)\1$/, '$2'));
}

/** A RUN's simple commands: split at `&&`, `;` and `||` (enough for what this Dockerfile runs). */
function simpleCommands(script: string): string[][] {
  return script.split(/&&|;|\|\|/).map(words).filter((w) => w.length > 0);
}

function execForm(rest: string): string[] | string {
  if (!rest.startsWith('[')) return rest;
  const parsed = JSON.parse(rest) as unknown;
  assert.ok(Array.isArray(parsed) && parsed.every((x) => typeof x === 'string'), `not a JSON array of strings: ${rest}`);
  return parsed;
}

function ids(spec: string): { uid: number; gid?: number } {
  const [u, g] = spec.split(':');
  const num = (s: string) => (/^\d+$/.test(s) ? Number(s) : USER_NAMES[s] ?? NaN);
  return { uid: num(u), gid: g === undefined ? undefined : num(g) };
}

function octal(mode: string): number | undefined {
  return /^[0-7]{3,4}$/.test(mode) ? parseInt(mode, 8) : undefined;
}

function parseDockerignore(): { patterns: string[]; ignored(path: string): boolean } {
  const file = join(ROOT, '.dockerignore');
  const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')) : [];
  const rules = lines.map((l) => {
    const negate = l.startsWith('!');
    const pattern = posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, '')).replace(/\/+$/, '');
    const re = new RegExp(`^${pattern.split('**').map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')).join('.*')}$`);
    return { negate, pattern, re };
  });
  return {
    patterns: rules.filter((r) => !r.negate).map((r) => r.pattern),
    // a pattern that matches a directory leaves out everything in it; the last matching rule wins
    ignored(path: string) {
      const parts = posix.normalize(path).split('/');
      let out = false;
      for (let i = 1; i <= parts.length; i++) {
        const prefix = parts.slice(0, i).join('/');
        for (const r of rules) if (r.re.test(prefix)) out = !r.negate;
        if (out) return true;
      }
      return false;
    },
  };
}
const IGNORE = parseDockerignore();

/** Whether `path` is a file or a directory in stage `s` after the instructions before `until`, as far as the Dockerfile tells. */
function lookup(stages: Stage[], s: number, path: string, until = Infinity): 'file' | 'dir' | undefined {
  const stage = stages[s];
  const holders = stage.entries
    .filter((e) => e.at < until && (path === e.path || path.startsWith(`${e.path.replace(/\/$/, '')}/`)))
    .sort((a, b) => b.path.length - a.path.length || b.at - a.at);
  const e = holders[0];
  if (!e) return undefined;
  const rest = path.slice(e.path.length).replace(/^\/+/, '');
  switch (e.origin.kind) {
    case 'context': {
      const rel = posix.join(e.origin.path, rest);
      const abs = join(ROOT, rel);
      if (IGNORE.ignored(rel) || !existsSync(abs)) return undefined;
      return statSync(abs).isDirectory() ? 'dir' : 'file';
    }
    case 'stage':
      return lookup(stages, e.origin.stage, posix.join(e.origin.path, rest));
    case 'tsc': {
      // tsc mirrors each source directory under outDir, foo.ts becoming foo.js and foo.js.map
      if (!rest) return lookup(stages, s, e.origin.from, e.at) === 'dir' ? 'dir' : undefined;
      const compiled = /\.js(\.map)?$/.test(rest);
      const source = posix.join(e.origin.from, compiled ? rest.replace(/\.js(\.map)?$/, '.ts') : rest);
      const kind = lookup(stages, s, source, e.at);
      return compiled ? (kind === 'file' ? 'file' : undefined) : kind === 'dir' ? 'dir' : undefined;
    }
    case 'npm-ci': {
      if (!rest) return 'dir';
      const abs = join(ROOT, 'node_modules', rest);
      return existsSync(abs) ? (statSync(abs).isDirectory() ? 'dir' : 'file') : undefined;
    }
    case 'mkdir':
      return rest ? undefined : 'dir';
  }
}

/** The stage entry a path comes from, followed through COPY --from to where it was made. */
function madeBy(stages: Stage[], s: number, path: string): { stage: number; path: string; origin: Origin } | undefined {
  const e = stages[s].entries
    .filter((x) => path === x.path || path.startsWith(`${x.path.replace(/\/$/, '')}/`))
    .sort((a, b) => b.path.length - a.path.length || b.at - a.at)[0];
  if (!e) return undefined;
  if (e.origin.kind === 'stage') return madeBy(stages, e.origin.stage, posix.join(e.origin.path, path.slice(e.path.length).replace(/^\/+/, '')));
  return { stage: s, path, origin: e.origin };
}

/** Whether a file is executable for every user: chmod'ed in its stage, or in the stage a COPY --from took it from (COPY keeps the mode). */
function executable(stages: Stage[], s: number, path: string): boolean {
  if (stages[s].exec.has(path)) return true;
  const made = madeBy(stages, s, path);
  return !!made && made.stage !== s && stages[made.stage].exec.has(made.path);
}

function tsconfigOutputs(stages: Stage[], s: number, configPath: string, at: number): string[] {
  const made = madeBy(stages, s, configPath);
  assert.ok(made?.origin.kind === 'context' && lookup(stages, s, configPath, at) === 'file', `tsc -p ${configPath}: the tsconfig is not copied from the build context before it runs`);
  const config = JSON.parse(readFileSync(join(ROOT, (made.origin as { path: string }).path), 'utf8')) as { compilerOptions: { outDir: string; rootDir?: string }; include?: string[] };
  const base = posix.dirname(configPath);
  const outDir = posix.join(base, config.compilerOptions.outDir);
  const rootDir = posix.join(base, config.compilerOptions.rootDir ?? '.');
  return (config.include ?? []).map((inc) => posix.join(base, inc)).filter((dir) => lookup(stages, s, dir, at) === 'dir').map((dir) => {
    const out = posix.join(outDir, posix.relative(rootDir, dir));
    stages[s].entries.push({ path: out, origin: { kind: 'tsc', from: dir }, at });
    return out;
  });
}

function run(stages: Stage[], stage: Stage, script: string, at: number, line: number): void {
  const abs = (p: string) => posix.resolve(stage.workdir, p);
  for (const [cmd, ...args] of simpleCommands(script)) {
    const operands = args.filter((a) => !a.startsWith('-'));
    if (cmd === 'apt-get' && args.includes('install')) {
      for (const pkg of operands.filter((a) => a !== 'install')) stage.apt.push({ pkg, at });
    } else if (cmd === 'npm' && args[0] === 'ci') {
      stage.npmCi = { at, line, withLock: lookup(stages, stage.index, abs('package-lock.json'), at) === 'file', withManifest: lookup(stages, stage.index, abs('package.json'), at) === 'file' };
      stage.entries.push({ path: abs('node_modules'), origin: { kind: 'npm-ci' }, at });
    } else if (cmd === 'npm' && args[0] === 'prune' && (args.includes('--omit=dev') || args.includes('--production'))) {
      stage.prunedAt = at;
    } else if (cmd === 'tsc' || (cmd === 'npx' && args[0] === 'tsc')) {
      const p = args.indexOf('-p') >= 0 ? args.indexOf('-p') : args.indexOf('--project');
      stage.tsc = { at, outputs: tsconfigOutputs(stages, stage.index, abs(p >= 0 ? args[p + 1] : 'tsconfig.json'), at) };
    } else if (cmd === 'mkdir' || (cmd === 'install' && args.includes('-d'))) {
      let mode = 0o755;
      let uid = 0;
      let gid = 0;
      const paths: string[] = [];
      for (let i = 0; i < args.length; i++) {
        if (args[i] === '-m') mode = octal(args[++i]) ?? NaN;
        else if (args[i] === '-o') uid = ids(args[++i]).uid;
        else if (args[i] === '-g') gid = ids(args[++i]).uid;
        else if (!args[i].startsWith('-')) paths.push(abs(args[i]));
      }
      for (const p of paths) {
        stage.dirs.set(p, { uid, gid, mode });
        stage.entries.push({ path: p, origin: { kind: 'mkdir' }, at });
      }
    } else if (cmd === 'chown') {
      const { uid, gid } = ids(operands[0]);
      for (const p of operands.slice(1).map(abs)) {
        const d = stage.dirs.get(p);
        if (d) stage.dirs.set(p, { ...d, uid, gid: gid ?? d.gid });
      }
    } else if (cmd === 'chmod') {
      const mode = operands[0];
      const n = octal(mode);
      const forAll = n !== undefined ? (n & 0o111) === 0o111 : /^[ao]*\+[rwXst]*x/.test(mode) || /^\+x$/.test(mode);
      for (const p of operands.slice(1).map(abs)) {
        if (forAll) stage.exec.add(p);
        const d = stage.dirs.get(p);
        if (d) stage.dirs.set(p, { ...d, mode: n ?? NaN });
      }
    } else if (cmd === 'ln' && args.some((a) => /^-[a-z]*s/.test(a))) {
      const [target, link] = operands;
      const linkPath = abs(link);
      stage.links.set(linkPath, posix.resolve(posix.dirname(linkPath), target));
    }
  }
}

function parseImage(): Image {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const stages: Stage[] = [];
  instructions(text).forEach((ins, at) => {
    if (ins.keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.rest);
      assert.ok(m, `line ${ins.line}: FROM ${ins.rest}`);
      stages.push({
        index: stages.length, name: m[2], from: m[1], workdir: '/', entries: [], copies: [], apt: [], exec: new Set(),
        dirs: new Map(), links: new Map(), env: new Map(), expose: [], other: [],
      });
      return;
    }
    const stage = stages.at(-1);
    assert.ok(stage, `line ${ins.line}: ${ins.keyword} before any FROM`);
    switch (ins.keyword) {
      case 'WORKDIR':
        stage.workdir = posix.resolve(stage.workdir, ins.rest);
        stage.entries.push({ path: stage.workdir, origin: { kind: 'mkdir' }, at });
        break;
      case 'COPY': {
        const all = words(ins.rest);
        const flags = all.filter((w) => w.startsWith('--'));
        const paths = all.filter((w) => !w.startsWith('--'));
        const fromName = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
        const from = fromName === undefined ? undefined : stages.findIndex((x) => x.name === fromName || String(x.index) === fromName);
        const dest = posix.resolve(stage.workdir, paths.at(-1)!);
        const intoDir = paths.at(-1)!.endsWith('/') || paths.length > 2;
        const copy: Copy = { line: ins.line, from, fromName, sources: paths.slice(0, -1), dest };
        stage.copies.push(copy);
        for (const src of copy.sources) {
          const kind = from === undefined ? lookupContext(src) : from >= 0 ? lookup(stages, from, src) : undefined;
          // a directory's contents go to dest; a file goes to dest, or into it when dest is a directory
          const path = kind === 'file' && intoDir ? posix.join(dest, posix.basename(src)) : dest;
          const origin: Origin = from === undefined ? { kind: 'context', path: posix.normalize(src) } : { kind: 'stage', stage: from, path: src };
          stage.entries.push({ path, origin, at });
        }
        break;
      }
      case 'RUN':
        run(stages, stage, ins.rest, at, ins.line);
        break;
      case 'ENV': {
        const m = /^(\w+)=(.*)$/.exec(ins.rest) ?? /^(\w+)\s+(.*)$/.exec(ins.rest);
        if (m) stage.env.set(m[1], m[2].replace(/^"(.*)"$/, '$1'));
        break;
      }
      case 'EXPOSE':
        stage.expose.push(...words(ins.rest).map((p) => Number(p.replace(/\/tcp$/, ''))));
        break;
      case 'USER':
        stage.user = ins.rest;
        break;
      case 'ENTRYPOINT':
        stage.entrypoint = execForm(ins.rest);
        break;
      case 'CMD':
        stage.cmd = execForm(ins.rest);
        break;
      default:
        stage.other.push(`line ${ins.line}: ${ins.keyword}`);
    }
  });
  assert.ok(stages.length > 0, 'the Dockerfile has no FROM');
  return { stages, final: stages.at(-1)!, text };
}

function lookupContext(src: string): 'file' | 'dir' | undefined {
  const rel = posix.normalize(src);
  const abs = join(ROOT, rel);
  if (IGNORE.ignored(rel) || !existsSync(abs)) return undefined;
  return statSync(abs).isDirectory() ? 'dir' : 'file';
}

/** The caret ranges of `engines.node`, one per Node line: `^20.19.0 || ^24.11.0`. */
function engineLines(range: string): Map<number, [number, number, number]> {
  const out = new Map<number, [number, number, number]>();
  for (const part of range.split('||').map((p) => p.trim())) {
    const m = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(part);
    assert.ok(m, `engines.node: '${part}' is not a caret range of one Node line (^major.minor.patch); each supported line is stated explicitly`);
    out.set(Number(m[1]), [Number(m[1]), Number(m[2]), Number(m[3])]);
  }
  return out;
}

const cmp = (a: number[], b: number[]) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
const version = (v: string) => v.split('.').map(Number) as [number, number, number];

/** Whether the package's `N.x || M.x || >=K` style engines range admits Node line `major`. */
function admitsLine(range: string, major: number): boolean {
  return range.split('||').map((p) => p.trim()).some((part) => {
    let m = /^(\d+)(\.x)?(\.x)?$/.exec(part);
    if (m) return Number(m[1]) === major;
    m = /^>=\s*(\d+)/.exec(part);
    if (m) return major >= Number(m[1]);
    m = /^\^(\d+)\./.exec(part);
    if (m) return Number(m[1]) === major;
    return false;
  });
}

/** Whether a process with uid/gid may create files in a directory with this owner and mode. */
function canWrite(dir: Dir, who: { uid: number; gid: number }): boolean {
  if (who.uid === 0) return true;
  const bits = who.uid === dir.uid ? (dir.mode >> 6) & 7 : who.gid === dir.gid ? (dir.mode >> 3) & 7 : dir.mode & 7;
  return (bits & 3) === 3;
}

/** The program of a container command in the final stage: `node <file>`, or a name looked up on PATH (following links). */
function program(image: Image, command: string[]): { file?: string; args: string[] } {
  const { final } = image;
  if (command[0] === 'node' || command[0] === '/usr/local/bin/node') return { file: command[1], args: command.slice(2) };
  const path = (final.env.get('PATH') ?? DEFAULT_PATH).split(':');
  const candidates = command[0].includes('/') ? [command[0]] : path.map((d) => posix.join(d, command[0]));
  for (const c of candidates) {
    const target = final.links.get(c);
    if (target) return { file: target, args: command.slice(1) };
    if (lookup(image.stages, final.index, c) === 'file') return { file: c, args: command.slice(1) };
  }
  return { args: command.slice(1) };
}

/** What `docker run <image>` runs: the ENTRYPOINT's program, and its arguments followed by CMD. */
function defaultCommand(image: Image): { file?: string; args: string[] } {
  const { entrypoint, cmd } = image.final;
  assert.ok(Array.isArray(entrypoint), 'ENTRYPOINT in exec form (JSON): no shell between the container and hub-guard, which gets the signals');
  assert.ok(Array.isArray(cmd), 'CMD in exec form (JSON)');
  const entry = program(image, entrypoint);
  return { file: entry.file, args: [...entry.args, ...cmd] };
}

// ------------------------------------------------------------------ the tests

describe('Dockerfile', () => {
  const image = parseImage();
  const { stages, final } = image;
  const cliInImage = posix.join(final.workdir, PKG.bin['hub-guard']);
  const nodeModules = () => madeBy(stages, final.index, posix.join(final.workdir, 'node_modules'));

  test('stages: a build stage that compiles and prunes, a runtime stage on the same base image', () => {
    assert.ok(stages.length >= 2, 'multi-stage: compilers stay in the build stage');
    assert.deepEqual(stages.flatMap((s) => s.other).filter((o) => / (ADD|ARG|ONBUILD|SHELL)$/.test(o)), [], 'instructions this test cannot follow');
    for (const s of stages) {
      assert.match(s.from, /^node:\d+-[a-z]+-slim$/, `stage ${s.index}: a Node major pinned on a Debian slim base (node:<major>-<codename>-slim), not '${s.from}'`);
    }
    const made = nodeModules();
    assert.ok(made?.origin.kind === 'npm-ci', 'the runtime node_modules come from npm ci in a build stage');
    const build = stages[made.stage];
    assert.notEqual(build.index, final.index, 'node_modules are built in another stage than the runtime');
    assert.equal(final.from, build.from, 'the runtime stage runs on the image the addon was compiled on (same glibc and libstdc++)');
    const npmCi = build.npmCi!;
    assert.ok(npmCi.withManifest && npmCi.withLock, `line ${npmCi.line}: npm ci runs with package.json and package-lock.json copied in`);
    for (const pkg of ['python3', 'make', 'g++']) {
      assert.ok(build.apt.some((a) => a.pkg === pkg && a.at < npmCi.at), `${pkg} is installed before npm ci, for better-sqlite3's node-gyp build`);
    }
    assert.ok(build.prunedAt !== undefined && build.prunedAt > npmCi.at, 'devDependencies are pruned before node_modules are copied to the runtime');
    assert.ok(PKG.devDependencies['configurable-http-proxy'] && !PKG.dependencies['configurable-http-proxy'], 'CHP is only a devDependency (the parity tests), so the prune drops it');
    assert.deepEqual(final.apt.filter((a) => ['python3', 'make', 'g++', 'gcc'].includes(a.pkg)), [], 'no compilers in the runtime stage');
    assert.ok(build.tsc, 'the build stage compiles with tsc');
  });

  test('paths: every COPY source exists in the build context (not ignored) or in an earlier stage; the bin and package.json land where cli.js looks', () => {
    for (const s of stages) {
      for (const c of s.copies) {
        if (c.fromName !== undefined) {
          assert.ok(c.from !== undefined && c.from >= 0 && c.from < s.index, `line ${c.line}: --from=${c.fromName} names an earlier stage`);
          for (const src of c.sources) assert.ok(lookup(stages, c.from, src), `line ${c.line}: ${src} is not made in stage ${c.fromName} (its COPY sources, npm ci's node_modules, tsc's outDir per tsconfig.json)`);
        } else {
          for (const src of c.sources) {
            assert.ok(existsSync(join(ROOT, src)), `line ${c.line}: ${src} does not exist in the repository`);
            assert.ok(!IGNORE.ignored(src), `line ${c.line}: ${src} is left out of the build context by .dockerignore`);
          }
        }
      }
    }
    for (const p of ['node_modules', 'dist', '.git']) assert.ok(IGNORE.ignored(p), `.dockerignore leaves out the host's ${p}`);
    assert.equal(lookup(stages, final.index, cliInImage), 'file', `the package's bin (${PKG.bin['hub-guard']}) is at ${cliInImage} in the image`);
    // cli.ts reads its version from ../../package.json, relative to itself
    assert.equal(lookup(stages, final.index, posix.resolve(posix.dirname(cliInImage), '../../package.json')), 'file', 'package.json sits two levels above cli.js');
    assert.equal(lookup(stages, final.index, posix.join(final.workdir, 'node_modules')), 'dir', 'node_modules sit beside dist, where Node resolves them from');
    const tsc = stages[nodeModules()!.stage].tsc!;
    assert.ok(tsc.outputs.some((o) => cliInImage.startsWith(`${o}/`) || madeBy(stages, final.index, cliInImage)?.path.startsWith(`${o}/`)), `cli.js comes from tsc's output (${tsc.outputs.join(', ')})`);
  });

  test("Node: the image's line is a supported LTS that engines and better-sqlite3 allow; engines keeps this machine's Node 20 too", () => {
    const lines = engineLines(PKG.engines.node);
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: { node?: string } }> };
    assert.equal(lock.packages['']?.engines?.node, PKG.engines.node, 'package-lock.json records the same engines as package.json');
    const majors = new Set(stages.map((s) => Number(/^node:(\d+)-/.exec(s.from)?.[1])));
    assert.equal(majors.size, 1, 'one Node line in every stage');
    const major = [...majors][0];
    const lts = NODE_LTS[major];
    assert.ok(lts, `node:${major} is not an LTS line`);
    assert.ok(Date.now() < Date.parse(lts.eol), `Node ${major} reached its end of life on ${lts.eol}: move the image to a supported LTS line`);
    assert.ok(lines.has(major), `engines (${PKG.engines.node}) allows the image's Node ${major}`);
    const here = version(process.versions.node);
    const own = lines.get(here[0]);
    assert.ok(own && cmp(here, own) >= 0, `engines (${PKG.engines.node}) allows the Node that runs these tests (${process.versions.node})`);
    for (const [line, floor] of lines) {
      if (NODE_LTS[line]?.firstLts) assert.ok(cmp(floor, version(NODE_LTS[line].firstLts!)) >= 0, `engines: ^${floor.join('.')} starts before Node ${line}'s first LTS release ${NODE_LTS[line].firstLts}`);
    }
    // the code is type-checked against @types/node of one line: it may use anything up to that minor
    const types = version((JSON.parse(readFileSync(join(ROOT, 'node_modules/@types/node/package.json'), 'utf8')) as { version: string }).version);
    const typesFloor = lines.get(types[0]);
    assert.ok(typesFloor && cmp(typesFloor, [types[0], types[1], 0]) >= 0, `engines: Node ${types[0]} from ${types[0]}.${types[1]}.0 on, the API @types/node ${types.join('.')} describes`);
    const sqlite = JSON.parse(readFileSync(join(ROOT, 'node_modules/better-sqlite3/package.json'), 'utf8')) as { version: string; engines: { node: string } };
    for (const line of lines.keys()) {
      assert.ok(admitsLine(sqlite.engines.node, line), `better-sqlite3 ${sqlite.version} supports Node ${line} (its engines: ${sqlite.engines.node})`);
    }
  });

  test('user: numeric and not root, so that Kubernetes can check runAsNonRoot', () => {
    assert.ok(final.user, 'the runtime stage sets USER');
    assert.match(final.user, /^\d+(:\d+)?$/, `USER ${final.user}: numeric uid[:gid]`);
    assert.notEqual(ids(final.user).uid, 0, 'USER is not root');
  });

  test('command names: configurable-http-proxy and hub-guard are on PATH, linked to the executable package bin', () => {
    const path = (final.env.get('PATH') ?? DEFAULT_PATH).split(':');
    for (const name of ['configurable-http-proxy', 'hub-guard']) {
      const links = [...final.links].filter(([link]) => posix.basename(link) === name);
      assert.ok(links.length > 0, `the runtime stage links ${name}`);
      for (const [link, target] of links) {
        assert.ok(path.includes(posix.dirname(link)), `${link} is in a PATH directory (${path.join(':')})`);
        assert.equal(target, cliInImage, `${link} points at the package's bin`);
      }
      assert.equal(program(image, [name]).file, cliInImage, `${name} runs ${cliInImage}`);
    }
    assert.ok(executable(stages, final.index, cliInImage), `${cliInImage} is executable for every user (tsc writes it 0644; the links run it through its shebang)`);
    assert.ok(!image.text.includes('node_modules/configurable-http-proxy'), 'no copy of CHP in the image');
  });

  test('entrypoint and command: exec form, the proxy by default with the public side on every interface and the API on 127.0.0.1; subcommands and the chart command pass through', () => {
    const { file, args } = defaultCommand(image);
    assert.equal(file, cliInImage, `ENTRYPOINT runs ${cliInImage}`);
    assert.deepEqual(program(image, final.entrypoint as string[]).args, [], 'ENTRYPOINT takes no flags of its own, so `docker run <image> watch …` or `maintenance status` reach the subcommand');
    for (let i = 0; i < args.length; i++) {
      const value = args[i] === '--api-ip' ? args[i + 1] : args[i].startsWith('--api-ip=') ? args[i].slice('--api-ip='.length) : undefined;
      if (value !== undefined) assert.ok(!['0.0.0.0', '::', ''].includes(value), `CMD: --api-ip ${value} opens the routes API beyond the container's loopback`);
    }
    const cfg: Config = buildConfig(args, {});
    assert.ok([undefined, '', '0.0.0.0', '::'].includes(cfg.listen.host), `public side on every interface, not ${cfg.listen.host}`);
    assert.ok(['127.0.0.1', 'localhost'].includes(cfg.apiListen.host ?? ''), `API on the loopback, not ${cfg.apiListen.host ?? 'every interface'}`);
    assert.deepEqual([cfg.listen.port, cfg.apiListen.port], [8000, 8001], "configurable-http-proxy's ports");
    assert.ok(final.expose.includes(cfg.listen.port!), `EXPOSE ${cfg.listen.port}`);
    assert.ok(cfg.stateDir && cfg.stateDir.startsWith('/'), 'CMD names an absolute --state-dir');
    const chart = program(image, CHART_PROXY_COMMAND);
    assert.equal(chart.file, cliInImage, "the chart's proxy command runs hub-guard");
    const chartCfg = buildConfig(chart.args, {});
    assert.equal(chartCfg.apiListen.host, '', "the chart's --api-ip= opens the API to the hub, as it does for CHP");
  });

  test("state dir: made in the runtime stage, writable by the image's user and by the uids the chart and OpenShift run it as", () => {
    const dir = buildConfig(defaultCommand(image).args, {}).stateDir;
    assert.ok(dir, 'CMD names a --state-dir');
    const made = final.dirs.get(dir);
    assert.ok(made, `the runtime stage makes ${dir}`);
    assert.ok(Number.isInteger(made.mode), `${dir}: its mode is set numerically (chmod <octal>)`);
    const user = ids(final.user ?? '');
    const who = { uid: user.uid, gid: user.gid ?? user.uid };
    for (const [what, u] of [['the image USER', who], ["the chart's proxy container", CHART_PROXY_USER], ["the chart's hub pod", CHART_HUB_USER], ['OpenShift', OPENSHIFT_USER]] as const) {
      assert.ok(canWrite(made, u), `${dir} (owner ${made.uid}:${made.gid}, mode ${made.mode.toString(8)}) is writable for ${what} (${u.uid}:${u.gid})`);
    }
    // world-writable only with the sticky bit, so that no uid removes or replaces another's files
    if (made.mode & 0o002) assert.ok(made.mode & 0o1000, `${dir} is world-writable without the sticky bit`);
  });
});

describe('the command the image answers to', () => {
  const tmp = scratch('hg-docker-');
  const bin = join(tmp.dir, 'bin');
  mkdirSync(bin);
  for (const name of ['configurable-http-proxy', 'hub-guard']) symlinkSync(CLI, join(bin, name));
  // tsc writes cli.js 0644; the Dockerfile chmods it (checked above), as npm does with a package's bin on install
  if (existsSync(CLI) && (statSync(CLI).mode & 0o111) !== 0o111) chmodSync(CLI, statSync(CLI).mode | 0o111);
  // the links find node as the image's do, through the shebang's env and PATH
  const env = { ...process.env, PATH: `${bin}:${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
  const procs: Proc[] = [];
  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    tmp.remove();
  });

  async function listening(p: Proc): Promise<{ public: string; api: string }> {
    return eventually('hub-guard listening', () => {
      assert.ok(p.alive(), `hub-guard exited:\n${p.output()}`);
      const line = p.stderr().split('\n').find((l) => l.includes('"hub-guard listening"'));
      return line ? (JSON.parse(line) as { public: string; api: string }) : undefined;
    }, 15_000);
  }

  test('dist/src/cli.js (the package bin) starts with a node shebang', () => {
    assert.ok(existsSync(CLI), `${CLI} is built (npm run build)`);
    assert.match(readFileSync(CLI, 'utf8').split('\n')[0], /^#!\/usr\/bin\/env node$/);
  });

  test('configurable-http-proxy and hub-guard, run by name through links, print the version', async () => {
    for (const name of ['configurable-http-proxy', 'hub-guard']) {
      const p = start(name, ['--version'], { env, cwd: tmp.dir, killOnExit: true });
      const { code } = await p.exited;
      assert.equal(code, 0, `${name} --version:\n${p.output()}`);
      assert.equal(p.stdout().trim(), PKG.version);
    }
  });

  test("configurable-http-proxy with the chart's flags starts, answers /_chp_healthz, and serves the routes API", async () => {
    const token = randomBytes(16).toString('hex');
    const p = start('configurable-http-proxy', ['--ip=', '--api-ip=', '--api-port=0', '--port=0', '--default-target=http://127.0.0.1:1', '--error-target=http://127.0.0.1:1/hub/error'], {
      env: { ...env, CONFIGPROXY_AUTH_TOKEN: token }, cwd: tmp.dir, killOnExit: true,
    });
    procs.push(p);
    const at = await listening(p);
    const port = Number(/:(\d+)$/.exec(at.public)![1]);
    const apiPort = Number(/:(\d+)$/.exec(at.api)![1]);
    assert.match(at.public, /^http:\/\/\*:\d+$/, 'public side on every interface');
    const health = await send(port, 'GET', '/_chp_healthz');
    assert.equal(health.status, 200, health.text);
    const routes = await send(apiPort, 'GET', '/api/routes', { headers: { Authorization: `token ${token}` } });
    assert.equal(routes.status, 200, routes.text);
    assert.equal(routes.json<Record<string, { target: string }>>()['/']?.target, 'http://127.0.0.1:1', 'the default target is the "/" route, as in CHP');
    assert.equal(await p.stop(), 0, `stops cleanly on SIGTERM:\n${p.output()}`);
  });

  test("the image's default command keeps the API on 127.0.0.1", async () => {
    const image = parseImage();
    const { file, args } = defaultCommand(image);
    assert.equal(file, posix.join(image.final.workdir, PKG.bin['hub-guard']));
    // the image's command, with ports that are free here and a state dir of this test's own
    const [port, apiPort] = [await freePort(), await freePort()];
    const swap: Record<string, string> = { port: String(port), 'api-port': String(apiPort), 'state-dir': join(tmp.dir, 'state') };
    mkdirSync(swap['state-dir']);
    const cmd = args.map((a, i, all) => {
      const eq = /^--([\w-]+)=/.exec(a);
      if (eq && swap[eq[1]]) return `--${eq[1]}=${swap[eq[1]]}`;
      const prev = /^--([\w-]+)$/.exec(all[i - 1] ?? '');
      return prev && swap[prev[1]] ? swap[prev[1]] : a;
    });
    const p = start(process.execPath, [CLI, ...cmd], { env: { ...env, CONFIGPROXY_AUTH_TOKEN: randomBytes(16).toString('hex') }, cwd: tmp.dir, killOnExit: true });
    procs.push(p);
    const at = await listening(p);
    assert.equal(at.api, `127.0.0.1:${apiPort}`);
    assert.equal(at.public, `http://*:${port}`);
    assert.equal((await send(port, 'GET', '/_chp_healthz')).status, 200);
    assert.equal(await p.stop(), 0, p.output());
  });
});
