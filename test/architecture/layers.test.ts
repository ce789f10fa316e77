// src/ is built in layers that import downward only: every import of every file under src/ (static, `import type`,
// `export … from`, dynamic `import()`, and worker entry points named by `new URL('./x.js', import.meta.url)`) goes to
// a file of its own folder or of a lower layer, and no files import each other in a cycle. docs/architecture.md
// ("Layers") says what goes in each layer.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

// dist/test/architecture/layers.test.js → repository root
const SRC = join(fileURLToPath(new URL('../../../', import.meta.url)), 'src');

/**
 * Bottom → top. An entry is a folder under src/ ('hubdb/') or a file at its top ('log.ts'). A file may import its
 * own folder and any entry of a lower layer; entries of one layer do not import each other.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['records.ts', 'errors.ts', 'log.ts', 'metrics.ts', 'reasons.ts', 'tokens.ts', 'redact.ts'],
  ['config.ts'],
  ['jupyterhub/'],
  ['pages/'],
  ['hubdb/'],
  ['doctor/'],
  ['state/'],
  ['identity/'],
  ['proxy/'],
  ['monitor/'],
  ['policy/'],
  ['pipeline/'],
  ['api/', 'commands/'],
  ['server.ts', 'cluster.ts'],
  ['watcher.ts'],
  ['cli.ts'],
];

/** Every .ts file under src/, as a path relative to src/ with '/' separators. */
function sourceFiles(dir = SRC, rel = ''): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path, `${rel}${name}/`);
    return name.endsWith('.ts') ? [`${rel}${name}`] : [];
  });
}

/** The module specifiers a file names: what TypeScript's own pre-processor finds, plus worker entry points. */
function specifiers(text: string): string[] {
  const imported = ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
  const workers = [...text.matchAll(/new URL\(\s*['"](\.{1,2}\/[^'"]+\.js)['"]\s*,\s*import\.meta\.url\s*\)/g)].map((m) => m[1]!);
  return [...imported, ...workers];
}

interface Import { from: string; to: string; spec: string }

/** The imports between files of src/; a relative specifier that names no file there is an error. */
function readGraph(): { files: string[]; imports: Import[]; unresolved: string[] } {
  const files = sourceFiles();
  const known = new Set(files);
  const imports: Import[] = [];
  const unresolved: string[] = [];
  for (const from of files) {
    for (const spec of new Set(specifiers(readFileSync(join(SRC, from), 'utf8')))) {
      if (!spec.startsWith('.')) continue; // node: and packages
      const to = posix.normalize(posix.join(posix.dirname(from), spec)).replace(/\.js$/, '.ts');
      if (known.has(to)) imports.push({ from, to, spec });
      else unresolved.push(`src/${from} imports '${spec}', which is no .ts file under src/`);
    }
  }
  return { files, imports, unresolved };
}

/** The LAYERS entry a file belongs to: its folder under src/, or itself at the top. */
const entryOf = (file: string) => (file.includes('/') ? `${file.split('/')[0]}/` : file);
const layerOf = new Map(LAYERS.flatMap((entries, i) => entries.map((e) => [e, i] as const)));
const { files, imports, unresolved } = readGraph();

test('the import parser sees every form of import', () => {
  const text = [
    "// import { no } from './comment.js';",
    "import a from './a.js';",
    "import type { B } from './b.js';",
    "import {\n  c,\n  d,\n} from './c.js';",
    "export { e } from './e.js';",
    "export type { F } from './f.js';",
    "import './g.js';",
    "const h = await import('./h.js');",
    "type I = import('./i.js').I;",
    "const w = new Worker(new URL('./w.js', import.meta.url));",
    "const s = \"import { no } from './string.js'\";",
  ].join('\n');
  assert.deepEqual(specifiers(text), ['./a.js', './b.js', './c.js', './e.js', './f.js', './g.js', './h.js', './i.js', './w.js']);
});

test('every file under src/ is in a layer, and every layer entry exists', () => {
  const entries = new Set(files.map(entryOf));
  const problems = [
    ...[...entries].filter((e) => !layerOf.has(e)).map((e) => `src/${e} is in no layer: add it to LAYERS in test/architecture/layers.test.ts`),
    ...[...layerOf.keys()].filter((e) => !entries.has(e)).map((e) => `LAYERS names src/${e}, which has no .ts file`),
    ...unresolved,
  ];
  if (problems.length > 0) assert.fail(problems.join('\n'));
});

test('no file imports a file of a higher layer, or of another entry of its own layer', () => {
  const problems: string[] = [];
  for (const { from, to, spec } of imports) {
    const [a, b] = [entryOf(from), entryOf(to)];
    const [la, lb] = [layerOf.get(a), layerOf.get(b)];
    if (a === b || la === undefined || lb === undefined || lb < la) continue;
    const why = lb === la ? `${b} is in the same layer (${la})` : `${b} is in layer ${lb}, above ${a} (layer ${la})`;
    problems.push(`src/${from} imports src/${to} ('${spec}'): ${why}`);
  }
  if (problems.length > 0) assert.fail(`imports against the layer order (bottom → top: ${LAYERS.map((l) => l.join(' ')).join(' → ')}):\n${problems.join('\n')}`);
});

test('no files import each other in a cycle', () => {
  const next = new Map(files.map((f) => [f, imports.filter((i) => i.from === f).map((i) => i.to)]));
  // depth-first search; a file met again while still on the path closes a cycle
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const cycles: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    path.push(file);
    for (const to of next.get(file) ?? []) {
      if (state.get(to) === 'open') cycles.push([...path.slice(path.indexOf(to)), to].map((f) => `src/${f}`).join(' → '));
      else if (!state.has(to)) visit(to);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f);
  if (cycles.length > 0) assert.fail(`import cycles:\n${cycles.join('\n')}`);
});
