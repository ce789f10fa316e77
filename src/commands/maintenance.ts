// `hub-guard maintenance on|off|status`: the operators' switch, over the API port of a running hub-guard or, with
// --state-dir, on the state files directly (for a hub-guard that is stopped).
import http from 'node:http';
import https from 'node:https';
import { hostname, userInfo } from 'node:os';
import { statSync } from 'node:fs';
import { FileStore } from '../state/store.js';
import { Maintenance, type AuditEntry, type MaintenanceState } from '../monitor/maintenance.js';
import { ConfigError, HELP_FLAG, helpLines, parseFlags, type FlagSpec } from '../config.js';
import { HubGuardError } from '../errors.js';

const DEFAULT_API_URL = 'http://127.0.0.1:8001';
const TIMEOUT_MS = 10_000;
// the operator API refuses longer reasons; the state-dir path holds the same line
const MAX_REASON = 2000;
const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

const FLAGS: FlagSpec[] = [
  { name: 'reason', kind: 'string', arg: 'text', help: 'why (required for "on"; shown to users on the maintenance page and kept in the audit trail)' },
  { name: 'api-url', kind: 'string', arg: 'url', default: DEFAULT_API_URL, help: 'the API port of the running hub-guard (default {default})' },
  {
    name: 'state-dir', kind: 'string', arg: 'dir',
    help: 'act on hub-guard\'s state files instead of its API. A running hub-guard reads them only when\n' +
      'it starts, so use this for a hub-guard that is stopped (the change takes effect at its next\n' +
      'start); use --api-url for a running one.',
  },
  { name: 'json', kind: 'bool', help: 'print the result as JSON' },
];

const HELP = `usage: hub-guard maintenance on --reason "…" [options]
       hub-guard maintenance off [--reason "…"] [options]
       hub-guard maintenance status [options]

Switches hub-guard's maintenance mode: while it is on, every proxied request gets a 503 maintenance page naming
the reason (operators bypass it; health and metrics still answer). Each change is one audit line saying who and why.
Automatic maintenance (raised by the DB watchdog) stays on until someone runs "maintenance off".

options:
${helpLines([...FLAGS, HELP_FLAG], 20).join('\n')}

The token is read from HUB_GUARD_OPERATOR_TOKEN, or else CONFIGPROXY_AUTH_TOKEN (the one hub-guard runs with).
The audit line names you as $USER@<hostname>.
Exit codes: 0 done, 1 the change or query failed (refused token, API unreachable, …), 2 bad command line.`;

/** The change or query did not work (exit code 1). */
class Failure extends HubGuardError {
  readonly code = 'command-failed';
}

interface Options {
  action: 'on' | 'off' | 'status';
  reason?: string;
  apiUrl?: URL;
  stateDir?: string;
  json: boolean;
}

function parse(argv: string[]): Options | 'help' {
  const flags = parseFlags(argv, FLAGS, { command: 'maintenance', positional: true });
  if (flags.help) return 'help';
  const { positional } = flags;
  const json = flags.bool('json');
  if (positional.length === 0) throw new ConfigError('say what to do: on, off or status (see hub-guard maintenance --help)');
  const action = positional[0];
  if (action !== 'on' && action !== 'off' && action !== 'status') throw new ConfigError(`unknown action '${action}': use on, off or status`);
  if (positional.length > 1) throw new ConfigError(`unexpected argument '${positional[1]}' (a reason goes in --reason "…", quoted)`);

  let reason = flags.str('reason');
  if (reason !== undefined) {
    reason = reason.trim();
    if (action === 'status') throw new ConfigError('--reason is for on and off, not status', '--reason');
    if (!reason) throw new ConfigError('--reason must not be empty', '--reason');
    if (reason.length > MAX_REASON) throw new ConfigError(`--reason is longer than ${MAX_REASON} characters`, '--reason');
  } else if (action === 'on') {
    throw new ConfigError('maintenance on needs --reason "…" (users see it on the maintenance page)', '--reason');
  }

  const stateDir = flags.str('state-dir');
  if (stateDir !== undefined && flags.has('api-url')) throw new ConfigError('--api-url and --state-dir cannot be used together', '--state-dir');
  if (stateDir !== undefined && !stateDir) throw new ConfigError('--state-dir must not be empty', '--state-dir');
  return { action, reason, json, stateDir, apiUrl: stateDir === undefined ? apiUrl(flags.str('api-url')!) : undefined };
}

function apiUrl(raw: string): URL {
  const bad = (message: string) => new ConfigError(message, '--api-url');
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw bad(`--api-url must be a URL like ${DEFAULT_API_URL}, got '${raw}'`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw bad(`--api-url must be an http or https URL, got '${raw}'`);
  if (u.username || u.password) throw bad('--api-url must not carry credentials; the token comes from HUB_GUARD_OPERATOR_TOKEN');
  if (u.search || u.hash) throw bad(`--api-url must not have a query or fragment, got '${raw}'`);
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  return u;
}

/** `$USER@hostname`, reduced to what an HTTP header may carry. */
function operatorName(env: NodeJS.ProcessEnv): string {
  let user = env.USER || env.LOGNAME;
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = 'unknown';
    }
  }
  return `${user}@${hostname()}`.replace(/[^\x20-\x7e]/g, '?').slice(0, 100);
}

interface Reply { status: number; body: unknown }

function request(url: URL, method: string, token: string | undefined, who: string, body?: unknown): Promise<Reply> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: http.OutgoingHttpHeaders = { accept: 'application/json', 'x-hub-guard-operator-name': who };
  if (token) headers.authorization = `token ${token}`;
  if (payload) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = payload.length;
  }
  const lib = url.protocol === 'https:' ? https : http;
  const where = url.origin;
  return new Promise((resolve, reject) => {
    // agent:false: one connection, closed after the answer, so the command exits at once
    const req = lib.request(url, { method, headers, agent: false, timeout: TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => reject(new Failure(`the answer from ${where} broke off: ${e.message}`)));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'ETIMEDOUT' ? `no answer within ${TIMEOUT_MS / 1000} s` : e.code ?? e.message;
      reject(new Failure(`cannot reach the hub-guard API at ${where} (${why}). Is hub-guard running, and is --api-url its API port?`));
    });
    req.end(payload);
  });
}

const NOT_THE_API = `--api-url must be hub-guard's API port (default ${DEFAULT_API_URL}), not its public port or a configurable-http-proxy`;

/** Turns any answer but a 200 with the expected JSON into a message saying what to do about it. */
function expectJson(r: Reply, url: URL, tokenSource: string | undefined, shape: (body: Record<string, unknown>) => boolean): Record<string, unknown> {
  const where = url.origin;
  if (r.status === 403) {
    throw new Failure(tokenSource
      ? `the hub-guard API at ${where} refused the token from ${tokenSource} (403). Use the operator token hub-guard runs with (its --operator-token, HUB_GUARD_OPERATOR_TOKEN or CONFIGPROXY_AUTH_TOKEN).`
      : `the hub-guard API at ${where} wants a token (403). Set HUB_GUARD_OPERATOR_TOKEN (or CONFIGPROXY_AUTH_TOKEN) to the operator token hub-guard runs with.`);
  }
  if (r.status === 404) throw new Failure(`${where} has no ${url.pathname} (404): ${NOT_THE_API}.`);
  const body = r.body as Record<string, unknown> | undefined;
  if (r.status !== 200 || typeof body !== 'object' || body === null) {
    const detail = typeof body?.error === 'string' ? `: ${body.error}` : r.status >= 300 && r.status < 400 ? ` (a redirect: ${NOT_THE_API})` : '';
    throw new Failure(`the hub-guard API at ${where} answered ${r.status}${detail}`);
  }
  // something else that answers JSON (the hub behind the public port, say) must not pass for a switch that worked
  if (!shape(body)) throw new Failure(`${where}${url.pathname} answered, but not as hub-guard's operator API does: ${NOT_THE_API}.`);
  return body;
}

function maintenanceJson(m: MaintenanceState | undefined): Record<string, unknown> {
  return m ? { on: true, ...m, since: new Date(m.since).toISOString() } : { on: false };
}

interface Printer { out(text: string): void; err(text: string): void }

function ago(iso: unknown): string {
  const t = typeof iso === 'string' ? Date.parse(iso) : NaN;
  if (!Number.isFinite(t)) return '';
  const sec = Math.max(0, Math.round((Date.now() - t) / 1000));
  const text = sec < 90 ? `${sec} s` : sec < 5400 ? `${Math.round(sec / 60)} min` : sec < 172_800 ? `${Math.round(sec / 3600)} h` : `${Math.round(sec / 86_400)} days`;
  return ` (${text} ago)`;
}

function describe(m: Record<string, unknown>): string[] {
  if (m.on !== true) return ['Maintenance is OFF: requests flow normally.'];
  const mode = m.mode === 'auto' ? 'automatic, raised by the DB watchdog' : 'manual';
  const lines = [`Maintenance is ON (${mode}) since ${String(m.since)}${ago(m.since)}.`, `  reason: ${String(m.reason)}`, `  by:     ${String(m.by)}`];
  if (Array.isArray(m.findings) && m.findings.length) lines.push(`  findings: ${m.findings.join(', ')}`);
  return lines;
}

function describeHistory(history: unknown): string[] {
  if (!Array.isArray(history) || history.length === 0) return [];
  const recent = (history as Partial<AuditEntry>[]).slice(-5);
  return ['Recent changes:', ...recent.map((e) => `  ${String(e.time)}  ${String(e.action).padEnd(3)} ${String(e.mode).padEnd(6)} ${String(e.by)}: ${String(e.reason)}`)];
}

function describeStatus(s: Record<string, unknown>): string[] {
  const lines = describe((s.maintenance ?? {}) as Record<string, unknown>);
  const db = s.db as { state?: string; last_check?: { at?: string; ms?: number; error?: string }; findings?: { check: string; severity: string; message: string }[] } | undefined;
  if (db) {
    const last = db.last_check;
    lines.push(`Hub database: ${db.state ?? 'unknown'}${last?.at ? `, last checked ${last.at}${ago(last.at)}` : ''}${last?.error ? ` (${last.error})` : ''}`);
    for (const f of db.findings ?? []) lines.push(`  ${f.severity}: ${f.check}: ${f.message}`);
  }
  const b = s.baseline as { high_water?: number; users?: number } | null | undefined;
  if (b) lines.push(`Baseline: at most ${b.high_water} users seen; ${b.users} names with known ids`);
  return [...lines, ...describeHistory(s.history)];
}

async function viaApi(o: Options, env: NodeJS.ProcessEnv, p: Printer): Promise<void> {
  const base = o.apiUrl!;
  const tokenSource = env.HUB_GUARD_OPERATOR_TOKEN ? 'HUB_GUARD_OPERATOR_TOKEN' : env.CONFIGPROXY_AUTH_TOKEN ? 'CONFIGPROXY_AUTH_TOKEN' : undefined;
  const token = tokenSource && env[tokenSource];
  const who = operatorName(env);
  const maintenanceUrl = new URL('api/guard/maintenance', base);
  const isMaintenance = (b: Record<string, unknown>) => typeof b.on === 'boolean';
  const isStatus = (b: Record<string, unknown>) => typeof b.maintenance === 'object' && b.maintenance !== null && isMaintenance(b.maintenance as Record<string, unknown>);
  const call = async (url: URL, method: string, body?: unknown, shape = isMaintenance) => expectJson(await request(url, method, token, who, body), url, tokenSource, shape);

  if (o.action === 'status') {
    const status = await call(new URL('api/guard/status', base), 'GET', undefined, isStatus);
    p.out(o.json ? JSON.stringify(status, null, 2) : describeStatus(status).join('\n'));
    return;
  }
  const before = await call(maintenanceUrl, 'GET');
  if (o.action === 'on') {
    const after = await call(maintenanceUrl, 'PUT', { reason: o.reason });
    report(p, o, before, after);
    return;
  }
  if (before.on !== true) {
    p.out(o.json ? JSON.stringify(before, null, 2) : 'Maintenance was already off; nothing changed.');
    return;
  }
  const after = await call(maintenanceUrl, 'DELETE', o.reason ? { reason: o.reason } : undefined);
  report(p, o, before, after);
}

function report(p: Printer, o: Options, before: Record<string, unknown>, after: Record<string, unknown>): void {
  if (o.json) {
    p.out(JSON.stringify(after, null, 2));
    return;
  }
  if (o.action === 'on') {
    // an operator's switch is never replaced by another: the first reason stays until "off"
    const unchanged = before.on === true && before.mode === 'manual';
    p.out([unchanged ? 'Maintenance was already on; the earlier reason stays (run "off" first to change it).' : 'Maintenance switched on.', ...describe(after)].join('\n'));
    return;
  }
  p.out(after.on === true ? describe(after).join('\n') : `Maintenance switched off (it was ${before.mode === 'auto' ? 'automatic' : 'manual'}, since ${String(before.since)}).`);
}

async function viaStateDir(o: Options, env: NodeJS.ProcessEnv, p: Printer): Promise<void> {
  const dir = o.stateDir!;
  // FileStore creates a missing directory; a typo must not look like a successful switch
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (e) {
    throw new Failure(`--state-dir ${dir}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (!isDir) throw new Failure(`--state-dir ${dir}: not a directory`);
  const store = new FileStore(dir);
  const maintenance = new Maintenance(store);
  try {
    await maintenance.load();
    if (o.action === 'status') {
      const status = { maintenance: maintenanceJson(maintenance.current), history: (await maintenance.history()).slice(-50), baseline: await store.load('baseline') ?? null };
      p.out(o.json ? JSON.stringify(status, null, 2) : [...describe(status.maintenance), ...describeHistory(status.history)].join('\n'));
      return;
    }
    const before = maintenanceJson(maintenance.current);
    const by = `${operatorName(env)} via --state-dir`;
    if (o.action === 'on') await maintenance.on('manual', o.reason!, by);
    else if (maintenance.current) await maintenance.off(by, o.reason ?? 'cleared by an operator');
    else {
      p.out(o.json ? JSON.stringify(before, null, 2) : 'Maintenance was already off; nothing changed.');
      return;
    }
    report(p, o, before, maintenanceJson(maintenance.current));
    p.err('note: a running hub-guard reads --state-dir only when it starts; this takes effect at its next start (use --api-url for a running one).');
  } catch (e) {
    if (e instanceof Failure) throw e;
    throw new Failure(`--state-dir ${dir}: ${(e as Error).message}`);
  } finally {
    await store.close();
  }
}

/** Runs `hub-guard maintenance …` (argv after the word "maintenance") and returns the exit code. */
export async function runMaintenance(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const p: Printer = {
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
  };
  let o: Options | 'help';
  try {
    o = parse(argv);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    p.err(`hub-guard maintenance: ${e.message}`);
    return EXIT_USAGE;
  }
  if (o === 'help') {
    p.out(HELP);
    return EXIT_OK;
  }
  try {
    await (o.stateDir !== undefined ? viaStateDir(o, env, p) : viaApi(o, env, p));
    return EXIT_OK;
  } catch (e) {
    p.err(`hub-guard maintenance: ${e instanceof Failure ? e.message : `unexpected error: ${(e as Error).message}`}`);
    return EXIT_FAILED;
  }
}
