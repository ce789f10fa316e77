// Micro-benchmark of the per-request cookie work: decodes vector A (facts §1.5) and parses a typical Cookie
// header, printing ns/op. Run: npx tsc -p tsconfig.json && node dist/bench/identity-cookie.js
import { parseCookies } from '../src/identity/cookies.js';
import { decodeSignedValue } from '../src/identity/tornado.js';

const SECRET = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const NAME = 'jupyterhub-hub-login';
const VECTOR_A =
  '2|1:0|10:1700000000|20:jupyterhub-hub-login|44:NmYxYzNiMmE5ZDhlNGY3YThiMGMxZDJlM2Y0MDUxNjI=|342df6d7df22117fd0c21aeeb84d9ad9aea495f4030dbb3af95ec469459c9833';
const HEADER = `_xsrf=2|a1b2c3d4|0123456789abcdef0123456789abcdef|1700000000; jupyterhub-session-id=bba19044b4a445af86442fd84ef069b1; ${NAME}="${VECTOR_A}"`;
const ITERATIONS = 200_000;
const NOW = 1700000000;

function measure(label: string, op: () => unknown): void {
  for (let i = 0; i < 20_000; i++) op(); // warm up the JIT
  const start = process.hrtime.bigint();
  let sink = 0;
  for (let i = 0; i < ITERATIONS; i++) sink += op() ? 1 : 0;
  const elapsed = Number(process.hrtime.bigint() - start);
  if (sink !== ITERATIONS) throw new Error(`${label}: the operation failed during the benchmark`);
  console.log(`${label}: ${(elapsed / ITERATIONS).toFixed(0)} ns/op (${ITERATIONS} iterations)`);
}

measure('decodeSignedValue(vector A)', () => decodeSignedValue(SECRET, NAME, VECTOR_A, 14, NOW));
measure('parseCookies(3 cookies)', () => parseCookies(HEADER).get(NAME));
measure('parseCookies + decodeSignedValue', () => decodeSignedValue(SECRET, NAME, parseCookies(HEADER).get(NAME), 14, NOW));
