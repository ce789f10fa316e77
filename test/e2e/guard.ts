// hub-guard as the end-to-end tests and the demo see it from outside: its command line, its JSON log lines, its
// operator API, and the refusal and maintenance pages it answers with.
import { runGuardToExit } from '../helpers/guard.js';
import { SESSION_COOKIE } from '../helpers/secret.js';
import type { Browser, Exchange } from './browser.js';
import { pollUntil } from './flows.js';

/** dist/src/cli.js */
export { GUARD_CLI } from '../helpers/guard.js';

/** The header that lets an operator through maintenance (value: the operator token). */
export const OPERATOR_HEADER = 'X-Hub-Guard-Operator';

/** hub-guard's own session cookie: how it knows a browser on /user/… paths, where the hub's cookie is not sent. */
export { SESSION_COOKIE };

/**
 * Browses the hub's home page until hub-guard has given `b` its session. hub-guard learns a new user's cookie_id
 * from its next read of the hub database (a miss triggers one), so the first page after a login may still find
 * the user unknown; a user who keeps using the hub is identified from then on.
 */
export async function untilIdentified(b: Browser, tries = 40): Promise<void> {
  await pollUntil(`hub-guard identifies ${b.user ?? 'the browser'}`, async () => {
    if (b.jar.get(SESSION_COOKIE, '/user/')) return true;
    await b.get('/hub/home');
    return b.jar.get(SESSION_COOKIE, '/user/') ? true : undefined;
  }, { tries, delayMs: 250 });
}

export interface GuardLogLine {
  time: string;
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** hub-guard's JSON log lines in `output`, which may interleave other lines (the hub's, when the hub starts it). */
export function guardLogLines(output: string): GuardLogLine[] {
  const lines: GuardLogLine[] = [];
  for (const line of output.split('\n')) {
    const start = line.indexOf('{"time":');
    if (start < 0) continue;
    try {
      const parsed = JSON.parse(line.slice(start)) as Partial<GuardLogLine>;
      if (typeof parsed.msg === 'string' && typeof parsed.level === 'string') lines.push(parsed as GuardLogLine);
    } catch {
      continue; // a line cut by interleaved output
    }
  }
  return lines;
}

/** The `"msg":"refused"` lines: one per request hub-guard answered itself instead of forwarding. */
export function refusalLines(output: string): GuardLogLine[] {
  return guardLogLines(output).filter((l) => l.msg === 'refused');
}

/**
 * The "refused" lines of the given request ids, waiting (a bounded number of polls) for the ones still in a pipe:
 * a response can arrive before the log line written for it has been read from hub-guard's stderr.
 */
export async function awaitRefusals(output: () => string, requestIds: string[]): Promise<Map<string, GuardLogLine>> {
  let found = new Map<string, GuardLogLine>();
  const missing = () => requestIds.filter((id) => !found.has(id));
  return pollUntil('hub-guard logs every refusal', async () => {
    found = new Map(refusalLines(output()).map((l) => [String(l.request_id), l]));
    return missing().length === 0 ? found : undefined;
  }, { tries: 20, delayMs: 100, describe: () => `no "refused" line for request ${missing().join(', ')}` });
}

export interface GuardPage {
  status: number;
  /** 'blocked', 'conflict', 'maintenance' or 'error' (the X-Hub-Guard-Page header). */
  kind: string;
  /** Machine reason, e.g. 'other-user-server', 'cookie-id-empty', 'maintenance-auto'. */
  reason: string;
  requestId: string | null;
  /** What the page tells the user, for narration. */
  message: string;
}

/** The hub-guard page a response is, or null when the response came from the hub or a user server. */
export function guardPage(ex: Exchange): GuardPage | null {
  const kind = ex.headers['x-hub-guard-page'];
  if (typeof kind !== 'string') return null;
  if (String(ex.headers['content-type'] ?? '').startsWith('application/json')) {
    const json = JSON.parse(ex.body) as { reason?: string; request_id?: string; message?: string };
    return { status: ex.status, kind, reason: json.reason ?? '', requestId: json.request_id ?? null, message: json.message ?? '' };
  }
  const text = (re: RegExp) => re.exec(ex.body)?.[1]?.replace(/<[^>]+>/g, '').trim() ?? null;
  return {
    status: ex.status,
    kind,
    reason: text(/Details: \d+ · ([^<]*)</) ?? '',
    requestId: text(/Request id: <code>([^<]*)<\/code>/),
    message: text(/<h1>([\s\S]*?)<\/h1>/) ?? '',
  };
}

export interface GuardStatus {
  maintenance: { on: boolean; mode?: string; reason?: string; since?: string };
  db: { state: string; findings?: { check: string; severity: string; message: string }[] };
  baseline: { high_water: number; users: number } | null;
  routes: { prefix: string; owner?: string; target?: string }[];
}

export interface RouteEntry {
  target?: string;
  user?: string;
  server_name?: string;
  hub?: boolean;
  jupyterhub?: boolean;
}

/** hub-guard's API port, as an operator (or the hub, for /api/routes) calls it. */
export class GuardApi {
  constructor(readonly apiUrl: string, private readonly token: string) {}

  private async call(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const res = await fetch(`${this.apiUrl}${path}`, {
      method,
      headers: { Authorization: `token ${this.token}`, 'X-Hub-Guard-Operator-Name': 'e2e', ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json: unknown = text;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON: keep the text for the error message
    }
    return { status: res.status, json };
  }

  private async ok<T>(method: string, path: string, body?: unknown): Promise<T> {
    const { status, json } = await this.call(method, path, body);
    if (status < 200 || status > 299) throw new Error(`${method} ${this.apiUrl}${path} answered ${status}: ${JSON.stringify(json)}`);
    return json as T;
  }

  /** GET /readyz: true once hub-guard serves with its first read of the hub database done. */
  async ready(): Promise<boolean> {
    try {
      return (await fetch(`${this.apiUrl}/readyz`)).status === 200;
    } catch {
      return false;
    }
  }

  status(): Promise<GuardStatus> {
    return this.ok('GET', '/api/guard/status');
  }

  routes(): Promise<Record<string, RouteEntry>> {
    return this.ok('GET', '/api/routes');
  }

  /** Switches maintenance off as an operator would: `hub-guard maintenance off` against this API port. */
  async clearMaintenance(reason: string): Promise<void> {
    const args = ['maintenance', 'off', '--api-url', this.apiUrl, '--reason', reason];
    const result = await runGuardToExit(args, { ...process.env, HUB_GUARD_OPERATOR_TOKEN: this.token }, 20_000);
    if (result.code !== 0) throw new Error(`hub-guard maintenance off failed (exit ${result.code}):\n${result.stdout}${result.stderr}`);
  }
}
