// The errors hub-guard throws form one family: every error class under src/ extends HubGuardError and has a code,
// and start-up decides what to do with an error by its type and flag, never by its message.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, HubGuardError } from '../src/errors.js';
import { HubDbError } from '../src/hubdb/errors.js';
import { configured } from '../src/server.js';

// dist/test/errors.test.js → repository root
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUILTIN_ERRORS = new Set(['Error', 'TypeError', 'RangeError', 'SyntaxError', 'AggregateError']);

function sourceFiles(dir: string, rel = ''): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path, `${rel}${name}/`);
    return name.endsWith('.ts') ? [`${rel}${name}`] : [];
  });
}

interface Declared { name: string; parent: string; file: string; exported: boolean }

/** Every `class A extends B` under src/. */
function classes(): Declared[] {
  const found: Declared[] = [];
  for (const file of sourceFiles(join(ROOT, 'src'))) {
    const text = readFileSync(join(ROOT, 'src', file), 'utf8');
    for (const m of text.matchAll(/^(export\s+)?(?:abstract\s+)?class\s+(\w+)(?:<[^>]*>)?\s+extends\s+([\w.]+)/gm)) {
      found.push({ name: m[2]!, parent: m[3]!, file, exported: m[1] !== undefined });
    }
  }
  return found;
}

/** The classes whose ancestors reach one of JavaScript's errors, with their chain up to it. */
function errorClasses(): (Declared & { chain: string[] })[] {
  const all = classes();
  const parentOf = new Map(all.map((c) => [c.name, c.parent]));
  return all.flatMap((c) => {
    const chain = [c.name];
    let at = c.parent;
    while (!BUILTIN_ERRORS.has(at) && parentOf.has(at) && !chain.includes(at)) {
      chain.push(at);
      at = parentOf.get(at)!;
    }
    return BUILTIN_ERRORS.has(at) ? [{ ...c, chain: [...chain, at] }] : [];
  });
}

test('every error class under src/ extends HubGuardError', () => {
  const found = errorClasses();
  assert.ok(found.length >= 7, `only ${found.map((c) => c.name).join(', ')} found`);
  const strays = found.filter((c) => c.name !== 'HubGuardError' && !c.chain.includes('HubGuardError'));
  assert.deepEqual(strays.map((c) => `src/${c.file}: ${c.chain.join(' → ')}`), []);
  const roots = found.filter((c) => BUILTIN_ERRORS.has(c.parent)).map((c) => `src/${c.file}: ${c.name}`);
  assert.deepEqual(roots, ['src/errors.ts: HubGuardError'], 'only the base extends Error itself');
});

test('every exported error class has a code', async () => {
  const exported = errorClasses().filter((c) => c.exported && c.name !== 'HubGuardError');
  for (const c of exported) {
    const mod = (await import(`../src/${c.file.replace(/\.ts$/, '.js')}`)) as Record<string, new (message: string, extra?: string) => Error>;
    const Class = mod[c.name];
    assert.equal(typeof Class, 'function', `${c.name} is exported from src/${c.file}`);
    const e = new Class('something went wrong', 'ECODE');
    assert.ok(e instanceof HubGuardError, c.name);
    assert.ok(e instanceof Error, c.name);
    const { code } = e as HubGuardError;
    assert.ok(typeof code === 'string' && code !== '', `${c.name} has a code`);
    assert.equal(e.message, 'something went wrong');
  }
  assert.equal(new ConfigError('x').code, 'config');
  assert.equal(new HubDbError('x', 'ENOENT').code, 'ENOENT', "a hub database error carries its driver's code");
});

test('configured() keeps a ConfigError that names its flag, whatever its message says', () => {
  const named = new ConfigError('JPY_COOKIE_SECRET is not hex', 'JPY_COOKIE_SECRET');
  assert.throws(() => configured('--cookie-secret-file', () => { throw named; }), (e: unknown) => e === named);
  const noDashes = new ConfigError('the file is empty', '--maintenance-page');
  assert.throws(() => configured('--maintenance-page', () => { throw noDashes; }), (e: unknown) => e === noDashes);
});

test('configured() puts the flag before any other error, even one whose message has dashes in it', () => {
  const cases: [unknown, string][] = [
    [new Error('invalid JWKS'), '--identity-header: invalid JWKS'],
    [new Error('a path with -- and JPY_ in it'), '--identity-header: a path with -- and JPY_ in it'],
    [new ConfigError('--no flag recorded'), '--identity-header: --no flag recorded'],
    [new HubDbError('hub database sqlite x--y: cannot read the sslcert file', 'ETLSFILE'), '--identity-header: hub database sqlite x--y: cannot read the sslcert file'],
    [new TypeError('bad'), '--identity-header: bad'],
    ['a string', '--identity-header: a string'],
  ];
  for (const [thrown, message] of cases) {
    assert.throws(() => configured('--identity-header', () => { throw thrown; }), (e: unknown) =>
      e instanceof ConfigError && e.flag === '--identity-header' && e.message === message, message);
  }
  assert.equal(configured('--x', () => 42), 42);
});
