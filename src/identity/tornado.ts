// Tornado's signed values (tornado/web.py create_signed_value / decode_signed_value, tornado 6.2), the format of
// JupyterHub's login cookie. The decoder follows tornado byte for byte, including Python's lenient int() and
// binascii.a2b_base64 quirks, so that the guard accepts exactly the cookies the hub accepts and nothing else.
import { createHmac, timingSafeEqual } from 'node:crypto';

const PIPE = 0x7c;
const COLON = 0x3a;
const NEWLINE = 0x0a;
const EQUALS = 0x3d;
const SECONDS_PER_DAY = 86400;
// v1 signs name‖value‖timestamp without separators, so digits could move from the value into the timestamp;
// tornado caps how far in the future a v1 timestamp may be.
const V1_MAX_FUTURE_SEC = 31 * SECONDS_PER_DAY;
// CPython 3.11 refuses int() of longer decimal strings (sys.int_info.default_max_str_digits).
const PY_MAX_STR_DIGITS = 4300;
const SHA256_HEX_LEN = 64;
const SHA1_HEX_LEN = 40;

/**
 * Verifies a tornado signed value (v2 or legacy v1) and returns the signed bytes, or null for anything tornado
 * would reject: bad MAC, other cookie name, older than maxAgeDays (exactly maxAgeDays old still passes),
 * malformed fields. Never throws. nowSec defaults to the wall clock as a float, as tornado's time.time().
 */
export function decodeSignedValue(
  secret: Buffer,
  name: string,
  raw: string | undefined,
  maxAgeDays: number,
  nowSec: number = Date.now() / 1000,
): Buffer | null {
  if (typeof raw !== 'string' || raw.length === 0) return null;
  // tornado works on the UTF-8 bytes of the header's latin-1 string; length prefixes count those bytes.
  const buf = Buffer.from(raw, 'utf8');
  const version = signedValueVersion(buf);
  if (version === 2) return decodeV2(secret, name, buf, maxAgeDays, nowSec);
  if (version === 1) return decodeV1(secret, name, buf, maxAgeDays, nowSec);
  return null;
}

/** Produces exactly what tornado's create_signed_value(secret, name, value, version, clock) returns, as a string. */
export function createSignedValue(
  secret: Buffer,
  name: string,
  value: string | Buffer,
  timestampSec: number,
  version: 1 | 2 = 2,
): string {
  if (!Number.isFinite(timestampSec)) throw new RangeError('timestampSec must be a finite number');
  const timestamp = BigInt(Math.trunc(timestampSec)).toString();
  const b64 = (typeof value === 'string' ? Buffer.from(value, 'utf8') : value).toString('base64');
  if (version === 1) {
    const sig = createHmac('sha1', secret).update(name, 'utf8').update(b64).update(timestamp).digest('hex');
    return `${b64}|${timestamp}|${sig}`;
  }
  if (version !== 2) throw new RangeError(`unsupported signed value version ${String(version)}`);
  // Python's len() of the name counts code points, not bytes; tornado writes that even when it differs.
  const toSign = `2|1:0|${timestamp.length}:${timestamp}|${codePointCount(name)}:${name}|${b64.length}:${b64}|`;
  return toSign + createHmac('sha256', secret).update(toSign, 'utf8').digest('hex');
}

/**
 * Python's binascii.a2b_base64 in its default (non-strict) mode over data[start, end): bytes outside the base64
 * alphabet are skipped, decoding stops at the first complete padding, and an unfinished quantum is an error (null).
 */
export function a2bBase64(data: Uint8Array, start = 0, end = data.length): Buffer | null {
  const out = Buffer.allocUnsafe(Math.floor(((end - start) * 3) / 4) + 3);
  let o = 0;
  let quadPos = 0;
  let leftChar = 0;
  let pads = 0;
  for (let i = start; i < end; i++) {
    const c = data[i]!;
    if (c === EQUALS) {
      // As in CPython, '=' counts towards padding only once two data characters of the quantum are in.
      if (quadPos >= 2 && quadPos + ++pads >= 4) return out.subarray(0, o);
      continue;
    }
    const v = B64_VALUE[c]!;
    if (v < 0) continue;
    pads = 0;
    switch (quadPos) {
      case 0:
        quadPos = 1;
        leftChar = v;
        break;
      case 1:
        quadPos = 2;
        out[o++] = ((leftChar << 2) | (v >> 4)) & 0xff;
        leftChar = v & 0x0f;
        break;
      case 2:
        quadPos = 3;
        out[o++] = ((leftChar << 4) | (v >> 2)) & 0xff;
        leftChar = v & 0x03;
        break;
      default:
        quadPos = 0;
        out[o++] = ((leftChar << 6) | v) & 0xff;
        leftChar = 0;
    }
  }
  return quadPos === 0 ? out.subarray(0, o) : null;
}

const B64_VALUE = (() => {
  const table = new Int8Array(256).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
})();

/**
 * tornado's _get_version: the regex ^([1-9][0-9]*)\|(.*)$ on bytes, where '.' excludes '\n' and '$' also
 * matches before a final '\n'; numbers above 999 are v1 payloads that happen to look like a version.
 */
function signedValueVersion(buf: Buffer): number {
  const first = buf[0]!;
  if (first < 0x31 || first > 0x39) return 1;
  let i = 1;
  while (i < buf.length && isDigit(buf[i]!)) i++;
  if (i >= buf.length || buf[i] !== PIPE) return 1;
  const newline = buf.indexOf(NEWLINE, i + 1);
  if (newline !== -1 && newline !== buf.length - 1) return 1;
  if (i > 3) return 1;
  let version = 0;
  for (let j = 0; j < i; j++) version = version * 10 + buf[j]! - 0x30;
  return version;
}

// Where consumeField found its field; module state instead of a result object keeps the hot path allocation-free
// (everything here is synchronous).
let fieldStart = 0;
let fieldEnd = 0;

/**
 * tornado's _consume_field on buf[pos, end): "<n>:<n bytes>|". n goes through Python's int() and Python slicing,
 * so "+44", " 44", "4_4" and negative n (counted from the end of the rest) behave as they do in tornado.
 * Returns the index after the field's closing pipe, or -1 where tornado raises ValueError.
 */
function consumeField(buf: Buffer, pos: number, end: number): number {
  let colon = buf.indexOf(COLON, pos);
  if (colon === -1 || colon >= end) colon = end;
  const n = pyInt(buf, pos, colon);
  if (Number.isNaN(n)) return -1;
  const restStart = colon === end ? end : colon + 1;
  const restLen = end - restStart;
  let len: number;
  if (n >= 0) {
    if (n >= restLen) return -1;
    len = n;
  } else {
    // rest[n:n+1] is empty for n == -1 and for n below -len(rest).
    if (n === -1 || n < -restLen) return -1;
    len = restLen + n;
  }
  if (buf[restStart + len] !== PIPE) return -1;
  fieldStart = restStart;
  fieldEnd = restStart + len;
  return fieldEnd + 1;
}

function decodeV2(secret: Buffer, name: string, buf: Buffer, maxAgeDays: number, nowSec: number): Buffer | null {
  const end = buf.length;
  let pos = consumeField(buf, 2, end);
  if (pos < 0 || Number.isNaN(pyInt(buf, fieldStart, fieldEnd))) return null; // key version must be an int
  pos = consumeField(buf, pos, end);
  if (pos < 0) return null;
  const tsStart = fieldStart;
  const tsEnd = fieldEnd;
  pos = consumeField(buf, pos, end);
  if (pos < 0) return null;
  const nameStart = fieldStart;
  const nameEnd = fieldEnd;
  pos = consumeField(buf, pos, end);
  if (pos < 0) return null;
  const valueStart = fieldStart;
  const valueEnd = fieldEnd;

  // Everything after the value field is the signature; it is MAC'd over all bytes before it.
  if (end - pos !== SHA256_HEX_LEN) return null;
  const expected = Buffer.from(createHmac('sha256', secret).update(buf.subarray(0, pos)).digest('hex'), 'latin1');
  if (!timingSafeEqual(buf.subarray(pos, end), expected)) return null;
  if (!bytesEqualUtf8(buf, nameStart, nameEnd, name)) return null;
  const timestamp = pyInt(buf, tsStart, tsEnd);
  // NaN: tornado raises here (only for values the secret's holder signed); treat as invalid.
  if (Number.isNaN(timestamp) || timestamp < nowSec - maxAgeDays * SECONDS_PER_DAY) return null;
  return a2bBase64(buf, valueStart, valueEnd);
}

function decodeV1(secret: Buffer, name: string, buf: Buffer, maxAgeDays: number, nowSec: number): Buffer | null {
  const end = buf.length;
  const p1 = buf.indexOf(PIPE);
  if (p1 === -1) return null;
  const p2 = buf.indexOf(PIPE, p1 + 1);
  if (p2 === -1 || buf.indexOf(PIPE, p2 + 1) !== -1) return null;
  if (end - p2 - 1 !== SHA1_HEX_LEN) return null;
  const mac = createHmac('sha1', secret).update(name, 'utf8').update(buf.subarray(0, p1)).update(buf.subarray(p1 + 1, p2));
  const expected = Buffer.from(mac.digest('hex'), 'latin1');
  if (!timingSafeEqual(buf.subarray(p2 + 1, end), expected)) return null;
  const timestamp = pyInt(buf, p1 + 1, p2);
  if (Number.isNaN(timestamp)) return null;
  if (timestamp < nowSec - maxAgeDays * SECONDS_PER_DAY) return null;
  if (timestamp > nowSec + V1_MAX_FUTURE_SEC) return null;
  if (buf[p1 + 1] === 0x30) return null; // a leading '0' marks digits moved from the value into the timestamp
  return a2bBase64(buf, 0, p1);
}

/**
 * Python's int(bytes) in base 10 over b[start, end): surrounding ASCII whitespace, an optional sign, digits with
 * single underscores between them, at most 4300 digits. NaN where Python raises ValueError.
 */
function pyInt(b: Uint8Array, start: number, end: number): number {
  let i = start;
  while (i < end && isAsciiSpace(b[i]!)) i++;
  let sign = 1;
  if (i < end && (b[i] === 0x2b || b[i] === 0x2d)) {
    if (b[i] === 0x2d) sign = -1;
    i++;
  }
  let n = 0;
  let digits = 0;
  while (i < end) {
    const c = b[i]!;
    if (isDigit(c)) {
      n = n * 10 + (c - 0x30);
      digits++;
      i++;
    } else if (c === 0x5f && digits > 0 && i + 1 < end && isDigit(b[i + 1]!)) {
      i++;
    } else {
      break;
    }
  }
  if (digits === 0 || digits > PY_MAX_STR_DIGITS) return Number.NaN;
  while (i < end && isAsciiSpace(b[i]!)) i++;
  return i === end ? sign * n : Number.NaN;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** CPython's Py_ISSPACE: space, \t, \n, \v, \f, \r. */
function isAsciiSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function bytesEqualUtf8(buf: Buffer, start: number, end: number, s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) >= 0x80) return Buffer.from(s, 'utf8').equals(buf.subarray(start, end));
  }
  if (end - start !== s.length) return false;
  for (let i = 0; i < s.length; i++) if (buf[start + i] !== s.charCodeAt(i)) return false;
  return true;
}

function codePointCount(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}
