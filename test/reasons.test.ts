// The catalogue of reasons is the one list: every reason is in the README, with the status it answers.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { REASONS } from '../src/reasons.js';

// dist/test/reasons.test.js → repository root
const README = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

test('every reason is listed in the README with its status and page', () => {
  for (const [reason, info] of Object.entries(REASONS)) {
    assert.ok(README.includes(`| \`${reason}\` | ${info.status} | ${info.page} |`), `README misses ${reason} (${info.status}, ${info.page})`);
  }
});

test('the README lists no reason the catalogue does not have', () => {
  const listed = [...README.matchAll(/^\| `([a-z-]+)` \| \d{3} \| \w+ \|/gm)].map((m) => m[1]!);
  assert.deepEqual(listed.filter((r) => !(r in REASONS)), []);
});
