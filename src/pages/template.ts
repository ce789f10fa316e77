// --maintenance-page FILE: the operator's HTML, read and split into parts once at start.
import { readFileSync } from 'node:fs';
import { cspHash, pageCsp, POLL_SCRIPT_HASH } from './assets.js';
import { ConfigError } from '../errors.js';

export type TemplateKey = 'reason' | 'since' | 'contact' | 'request_id';
const KEYS: ReadonlySet<string> = new Set<TemplateKey>(['reason', 'since', 'contact', 'request_id']);

/** Literal text, an escaped value, or the spot where the poll script goes. */
export type TemplatePart = string | { key: TemplateKey } | { poll: true };

export interface MaintenanceTemplate {
  readonly file: string;
  readonly parts: readonly TemplatePart[];
  /** Covers the template's own inline <style>/<script> blocks (by hash) and the poll script. */
  readonly csp: string;
  /** Things in the template the page's CSP will block; worth logging at start. */
  readonly warnings: readonly string[];
}

const MAX_BYTES = 1024 * 1024;
const PLACEHOLDER = /\{\{\s*([A-Za-z_]+)\s*\}\}/g;
const INLINE_BLOCK = /<(script|style)\b([^>]*)>([\s\S]*?)<\/\1\s*>/gi;
const EXTERNAL = [
  /<(?!script\b)[a-z][^>]*\s(?:src|srcset|poster)\s*=\s*["']?\s*(?!data:)[^\s"'>]/i,
  /<link\b[^>]*\shref\s*=/i,
  /url\(\s*["']?\s*(?!data:)[^\s"')]/i,
  /@import\b/i,
];

/** Reads the template once; any problem is a ConfigError naming the flag and the file. */
export function loadMaintenanceTemplate(file: string, flag = '--maintenance-page'): MaintenanceTemplate {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new ConfigError(`${flag} ${file}: cannot read the maintenance page: ${why}`, flag);
  }
  if (bytes.length > MAX_BYTES) throw new ConfigError(`${flag} ${file}: the maintenance page is larger than ${MAX_BYTES} bytes`, flag);
  let html: string;
  try {
    html = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new ConfigError(`${flag} ${file}: the maintenance page is not valid UTF-8`, flag);
  }
  return parseMaintenanceTemplate(html, file, flag);
}

/** Splits template text into parts; exported so the rules can be tested without files. */
export function parseMaintenanceTemplate(html: string, file = '(inline)', flag = '--maintenance-page'): MaintenanceTemplate {
  if (html.trim() === '') throw new ConfigError(`${flag} ${file}: the maintenance page is empty`, flag);

  const styles: string[] = [];
  const scripts: string[] = [];
  const warnings: string[] = [];
  for (const m of html.matchAll(INLINE_BLOCK)) {
    const tag = m[1]!.toLowerCase();
    const attrs = m[2] ?? '';
    const body = m[3] ?? '';
    for (const p of body.matchAll(PLACEHOLDER)) {
      // HTML escaping does not make a value safe inside CSS or JavaScript
      if (KEYS.has(p[1]!)) throw new ConfigError(`${flag} ${file}: {{${p[1]}}} inside <${tag}> cannot be filled in safely; use it in page text or attributes`, flag);
    }
    if (tag === 'script' && /\ssrc\s*=/i.test(attrs)) warnings.push('a <script src> will not load (the page allows only its inline scripts)');
    // browsers hash the text after turning CRLF and CR into LF
    else if (body !== '') (tag === 'style' ? styles : scripts).push(cspHash(body.replace(/\r\n?/g, '\n')));
  }
  if (/<[^>]*\sstyle\s*=/i.test(html)) warnings.push('style="…" attributes are ignored (use a <style> block)');
  if (/<[^>]*\son[a-z]+\s*=/i.test(html)) warnings.push('on…= event handler attributes will not run (use a <script> block)');
  if (EXTERNAL.some((re) => re.test(html))) warnings.push('images, styles and fonts load only from data: URLs; other addresses are blocked');

  const parts: TemplatePart[] = [];
  const bodyEnd = [...html.matchAll(/<\/body\b/gi)].at(-1)?.index ?? -1;
  const pushText = (text: string) => {
    let last = 0;
    for (const p of text.matchAll(PLACEHOLDER)) {
      if (!KEYS.has(p[1]!)) continue; // unknown placeholders stay as written
      parts.push(text.slice(last, p.index));
      parts.push({ key: p[1] as TemplateKey });
      last = p.index! + p[0].length;
    }
    parts.push(text.slice(last));
  };
  if (bodyEnd < 0) {
    pushText(html);
    parts.push({ poll: true });
  } else {
    pushText(html.slice(0, bodyEnd));
    parts.push({ poll: true });
    pushText(html.slice(bodyEnd));
  }

  return {
    file,
    parts: parts.filter((p) => p !== ''),
    csp: pageCsp({ styles, scripts: [...scripts, POLL_SCRIPT_HASH] }),
    warnings,
  };
}
