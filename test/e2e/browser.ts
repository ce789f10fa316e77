// A scripted browser for end-to-end tests: a cookie jar, Referer/Origin/Accept as a browser sends
// them, redirects followed one by one, and a record of every response, so tests can assert on
// what any response ever carried. It only talks to one origin (the public proxy URL) and refuses
// to follow a redirect that leaves it.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';

/** One request and its response, as recorded in Browser.history. */
export interface Exchange {
  method: string;
  url: string;
  requestHeaders: Record<string, string>;
  status: number;
  location: string | null;
  setCookie: string[];
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** The final response of a navigation, with every response of its redirect chain (final one included). */
export interface Page extends Exchange {
  chain: Exchange[];
}

export interface StoredCookie {
  name: string;
  /** As sent by the server, surrounding quotes included. */
  value: string;
  path: string;
  secure: boolean;
  httpOnly: boolean;
  /** Epoch ms, or null for a session cookie. */
  expires: number | null;
}

export interface BrowserOptions {
  maxRedirects?: number;
  /** Per request. */
  timeoutMs?: number;
}

export interface FetchInit {
  method?: string;
  /** Sent as JSON with Content-Type application/json. */
  json?: unknown;
  body?: string;
  headers?: Record<string, string>;
}

const NAV_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) hub-guard-e2e/1.0';

/** `/user/<name>/` as JupyterHub builds it (`quote(name, safe='@~')`). */
export function userPrefix(name: string): string {
  const escaped = encodeURIComponent(name)
    .replace(/%40/g, '@')
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `/user/${escaped}/`;
}

/** RFC 6265 §5.1.4 path-match. */
function pathMatches(cookiePath: string, requestPath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

/** RFC 6265 §5.1.4 default-path. */
function defaultPath(requestPath: string): string {
  if (!requestPath.startsWith('/')) return '/';
  const last = requestPath.lastIndexOf('/');
  return last <= 0 ? '/' : requestPath.slice(0, last);
}

/** Cookies of the single host the browser talks to (so the Domain attribute is ignored). */
export class CookieJar {
  private cookies: StoredCookie[] = [];

  /** Applies one Set-Cookie header received for a response to request path `requestPath`. */
  receive(header: string, requestPath: string, https = false): void {
    const [pair, ...attrs] = header.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) return;
    const cookie: StoredCookie = {
      name: pair.slice(0, eq).trim(),
      value: pair.slice(eq + 1).trim(),
      path: defaultPath(requestPath),
      secure: false,
      httpOnly: false,
      expires: null,
    };
    let maxAge: number | null = null;
    for (const attr of attrs) {
      const i = attr.indexOf('=');
      const key = (i < 0 ? attr : attr.slice(0, i)).trim().toLowerCase();
      const val = i < 0 ? '' : attr.slice(i + 1).trim();
      if (key === 'path' && val.startsWith('/')) cookie.path = val;
      else if (key === 'secure') cookie.secure = true;
      else if (key === 'httponly') cookie.httpOnly = true;
      else if (key === 'max-age' && /^-?\d+$/.test(val)) maxAge = Number(val);
      else if (key === 'expires' && !Number.isNaN(Date.parse(val))) cookie.expires = Date.parse(val);
    }
    // Max-Age wins over Expires (RFC 6265 §5.3 step 3).
    if (maxAge !== null) cookie.expires = Date.now() + maxAge * 1000;
    // A Secure cookie from an http response is ignored, as browsers do.
    if (cookie.secure && !https) return;
    this.cookies = this.cookies.filter((c) => !(c.name === cookie.name && c.path === cookie.path));
    if (cookie.expires === null || cookie.expires > Date.now()) this.cookies.push(cookie);
  }

  /** Sets a cookie directly, as a user could with devtools. */
  set(name: string, value: string, path = '/'): void {
    this.cookies = this.cookies.filter((c) => !(c.name === name && c.path === path));
    this.cookies.push({ name, value, path, secure: false, httpOnly: false, expires: null });
  }

  delete(name: string, path?: string): void {
    this.cookies = this.cookies.filter((c) => !(c.name === name && (path === undefined || c.path === path)));
  }

  /** Cookies sent to request path `path`, longest cookie path first (then oldest first), as browsers order them. */
  forPath(path: string, https = false): StoredCookie[] {
    const now = Date.now();
    this.cookies = this.cookies.filter((c) => c.expires === null || c.expires > now);
    return this.cookies
      .map((c, i) => ({ c, i }))
      .filter(({ c }) => pathMatches(c.path, path) && (!c.secure || https))
      .sort((a, b) => b.c.path.length - a.c.path.length || a.i - b.i)
      .map(({ c }) => c);
  }

  /** The Cookie header for `path` ('' when no cookie applies). */
  header(path: string, https = false): string {
    return this.forPath(path, https).map((c) => `${c.name}=${c.value}`).join('; ');
  }

  /** The cookie called `name` that would be sent to `path`, or undefined. */
  get(name: string, path = '/'): StoredCookie | undefined {
    return this.forPath(path).find((c) => c.name === name);
  }

  all(): StoredCookie[] {
    return [...this.cookies];
  }
}

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_m, e: string) => {
    const lower = e.toLowerCase();
    if (lower.startsWith('#x')) return String.fromCodePoint(parseInt(lower.slice(2), 16));
    if (lower.startsWith('#')) return String.fromCodePoint(parseInt(lower.slice(1), 10));
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[lower];
  });
}

function attributes(tag: string): Map<string, string> {
  const attrs = new Map<string, string>();
  const re = /([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?/g;
  for (const m of tag.matchAll(re)) attrs.set(m[1].toLowerCase(), decodeEntities(m[2] ?? m[3] ?? m[4] ?? ''));
  return attrs;
}

export interface HtmlForm {
  method: string;
  /** As written in the page; '' means the page's own URL. */
  action: string;
  /** What a browser would submit without user input (hidden fields, defaults, checked boxes). */
  fields: [string, string][];
}

/** The first <form> of a page, or null. */
export function parseForm(html: string): HtmlForm | null {
  const m = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!m) return null;
  const formAttrs = attributes(m[1]);
  const fields: [string, string][] = [];
  for (const input of m[2].matchAll(/<input\b([^>]*)>/gi)) {
    const a = attributes(input[1]);
    const name = a.get('name');
    const type = (a.get('type') ?? 'text').toLowerCase();
    if (!name || type === 'submit' || type === 'button' || type === 'image' || type === 'reset') continue;
    if ((type === 'checkbox' || type === 'radio') && !a.has('checked')) continue;
    fields.push([name, a.get('value') ?? (type === 'checkbox' || type === 'radio' ? 'on' : '')]);
  }
  return { method: (formAttrs.get('method') ?? 'GET').toUpperCase(), action: formAttrs.get('action') ?? '', fields };
}

function snippet(ex: Exchange): string {
  return `${ex.method} ${ex.url} → ${ex.status}${ex.location ? ` (Location: ${ex.location})` : ''}\n${ex.body.slice(0, 600)}`;
}

export class Browser {
  readonly base: URL;
  readonly jar = new CookieJar();
  /** Every response this browser received, in order. */
  readonly history: Exchange[] = [];
  /** The user this browser logged in as. */
  user: string | null = null;
  /** The current document: the final response of the last navigation. */
  document: Page | null = null;
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly maxRedirects: number;
  private readonly timeoutMs: number;
  private apiToken: string | null = null;

  constructor(baseUrl: string, opts: BrowserOptions = {}) {
    this.base = new URL(baseUrl);
    this.maxRedirects = opts.maxRedirects ?? 20;
    this.timeoutMs = opts.timeoutMs ?? 30000;
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  /** Responses (of any request so far) that satisfy `pred`. */
  responses(pred: (ex: Exchange) => boolean): Exchange[] {
    return this.history.filter(pred);
  }

  /** Every Set-Cookie header received for cookie `name`. */
  setCookiesNamed(name: string): string[] {
    return this.history.flatMap((ex) => ex.setCookie.filter((h) => h.split('=', 1)[0].trim() === name));
  }

  private resolve(pathOrUrl: string, relativeTo?: string): URL {
    const url = new URL(pathOrUrl, relativeTo ?? this.base);
    if (url.origin !== this.base.origin) throw new Error(`refusing to leave ${this.base.origin}: ${url.href}`);
    return url;
  }

  /**
   * One HTTP request; records and returns the response. With `useJar` false (scripts) no cookies
   * are sent and none are stored.
   */
  private send(method: string, target: URL | string, headers: Record<string, string>, body?: string, useJar = true): Promise<Exchange> {
    // A string is a raw path for the request line, left untouched; cookies path-match it as written.
    const path = typeof target === 'string' ? target : `${target.pathname}${target.search}`;
    const url = typeof target === 'string' ? this.base.origin + target : target.href;
    const https = this.base.protocol === 'https:';
    const requestHeaders: Record<string, string> = { 'User-Agent': USER_AGENT, ...headers };
    const cookie = useJar ? this.jar.header(path.split('?')[0], https) : '';
    if (cookie) requestHeaders.Cookie = cookie;
    if (body !== undefined) requestHeaders['Content-Length'] = String(Buffer.byteLength(body));
    return new Promise((resolve, reject) => {
      const req = http.request({
        host: this.base.hostname,
        port: this.base.port,
        path,
        method,
        headers: requestHeaders,
        agent: this.agent,
        timeout: this.timeoutMs,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const setCookie = res.headers['set-cookie'] ?? [];
          if (useJar) for (const h of setCookie) this.jar.receive(h, path.split('?')[0], https);
          const ex: Exchange = {
            method,
            url,
            requestHeaders,
            status: res.statusCode ?? 0,
            location: typeof res.headers.location === 'string' ? res.headers.location : null,
            setCookie,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          };
          this.history.push(ex);
          resolve(ex);
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out after ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /**
   * Follows redirects one at a time. The Referer stays the one of the initiating document for
   * the whole chain, as browsers keep the request's referrer across redirects.
   */
  private async follow(method: string, url: URL, headers: Record<string, string>, body?: string): Promise<Page> {
    const chain: Exchange[] = [];
    for (;;) {
      const ex = await this.send(method, url, headers, body);
      chain.push(ex);
      if (![301, 302, 303, 307, 308].includes(ex.status) || !ex.location) return { ...ex, chain };
      if (chain.length > this.maxRedirects) {
        throw new Error(`more than ${this.maxRedirects} redirects:\n${chain.map((c) => `${c.status} ${c.url}`).join('\n')}`);
      }
      url = this.resolve(ex.location, ex.url);
      if (ex.status === 303 || ((ex.status === 301 || ex.status === 302) && method === 'POST')) {
        method = 'GET';
        body = undefined;
        headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !/^(content-type|origin)$/i.test(k)));
      }
    }
  }

  /** Top-level navigation (address bar, link or form): the final page becomes the current document. */
  async navigate(path: string, init: { method?: string; form?: [string, string][] } = {}): Promise<Page> {
    const method = init.method ?? (init.form ? 'POST' : 'GET');
    const url = this.resolve(path, this.document?.url);
    const headers: Record<string, string> = {
      Accept: NAV_ACCEPT,
      'Sec-Fetch-Mode': 'navigate',
      'Sec-Fetch-Dest': 'document',
      'Sec-Fetch-Site': this.document ? 'same-origin' : 'none',
    };
    if (this.document) headers.Referer = this.document.url;
    let body: string | undefined;
    if (init.form) {
      body = new URLSearchParams(init.form).toString();
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
    }
    if (method !== 'GET' && method !== 'HEAD') headers.Origin = this.base.origin;
    const page = await this.follow(method, url, headers, body);
    this.document = page;
    return page;
  }

  /** GET as a top-level navigation. */
  get(path: string): Promise<Page> {
    return this.navigate(path);
  }

  /** Submits the current document's first form, with `values` filled in over its defaults. */
  async submitForm(values: Record<string, string> = {}): Promise<Page> {
    const doc = this.document;
    const form = doc ? parseForm(doc.body) : null;
    if (!doc || !form) throw new Error(`no form on the current page${doc ? `:\n${snippet(doc)}` : ''}`);
    const fields = form.fields.filter(([k]) => !(k in values));
    fields.push(...Object.entries(values));
    const action = this.resolve(form.action || doc.url, doc.url).href;
    if (form.method === 'GET') {
      const target = new URL(action);
      target.search = new URLSearchParams(fields).toString();
      return this.navigate(target.href);
    }
    return this.navigate(action, { method: form.method, form: fields });
  }

  /**
   * A script request from the current document (XMLHttpRequest/fetch): cookies, Referer, and the
   * `_xsrf` cookie echoed in X-XSRFToken as the notebook's JavaScript does. Redirects are followed;
   * the current document does not change.
   */
  async fetch(path: string, init: FetchInit = {}): Promise<Page> {
    const method = init.method ?? 'GET';
    const url = this.resolve(path, this.document?.url);
    const headers: Record<string, string> = {
      Accept: 'application/json, text/javascript, */*; q=0.01',
      'Sec-Fetch-Mode': 'cors',
      'Sec-Fetch-Dest': 'empty',
      'Sec-Fetch-Site': 'same-origin',
      'X-Requested-With': 'XMLHttpRequest',
    };
    if (this.document) headers.Referer = this.document.url;
    const xsrf = this.jar.get('_xsrf', url.pathname);
    if (xsrf) headers['X-XSRFToken'] = xsrf.value;
    let body = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers['Content-Type'] = 'application/json';
    }
    if (method !== 'GET' && method !== 'HEAD') headers.Origin = this.base.origin;
    return this.follow(method, url, { ...headers, ...init.headers }, body);
  }

  /**
   * A request whose path goes on the wire exactly as given (no dot-segment removal or
   * re-encoding, unlike a browser, as `curl --path-as-is` sends it), with the cookies whose
   * path matches it. Redirects are not followed; the current document does not change.
   */
  raw(rawPath: string, init: FetchInit = {}): Promise<Exchange> {
    if (!rawPath.startsWith('/')) throw new Error(`raw path must start with "/": ${rawPath}`);
    const headers: Record<string, string> = { Accept: '*/*' };
    let body = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers['Content-Type'] = 'application/json';
    }
    return this.send(init.method ?? 'GET', rawPath, { ...headers, ...init.headers }, body);
  }

  /** Logs in through the hub's login form. `next` defaults to /hub/home so that login alone does not spawn. */
  async login(name: string, password: string, next = '/hub/home'): Promise<Page> {
    await this.navigate(`/hub/login?next=${encodeURIComponent(next)}`);
    const page = await this.submitForm({ username: name, password });
    if (!this.jar.get('jupyterhub-hub-login', '/hub/') || new URL(page.url).pathname.endsWith('/hub/login')) {
      throw new Error(`login as ${name} failed:\n${page.chain.map(snippet).join('\n')}`);
    }
    this.user = name;
    return page;
  }

  /**
   * Starts the logged-in user's default server from /hub/spawn, waits on the spawn-pending page
   * until the hub redirects to the server, goes through the OAuth dance (approving the consent
   * form if the hub shows one) and resolves with /user/<name>/api/status.
   */
  async spawn(timeoutMs = 90000): Promise<unknown> {
    const name = this.requireUser();
    const prefix = userPrefix(name);
    const deadline = Date.now() + timeoutMs;
    let page = await this.navigate('/hub/spawn');
    for (;;) {
      const path = new URL(page.url).pathname;
      if (path.startsWith(prefix) && page.status === 200) break;
      if (path.endsWith('/hub/api/oauth2/authorize') && page.status === 200 && parseForm(page.body)) {
        page = await this.submitForm();
        continue;
      }
      if (Date.now() > deadline) throw new Error(`server of ${name} not reachable after ${timeoutMs} ms; last page:\n${snippet(page)}`);
      await sleep(300);
      page = await this.navigate(`/hub/spawn-pending/${prefix.slice('/user/'.length, -1)}`);
    }
    const status = await this.fetch(`${prefix}api/status`);
    if (status.status !== 200) throw new Error(`${prefix}api/status after spawn:\n${snippet(status)}`);
    return JSON.parse(status.body) as unknown;
  }

  /** Creates a hub API token for the logged-in user, as the /hub/token page does. */
  async createToken(note = 'e2e'): Promise<string> {
    const name = this.requireUser();
    await this.navigate('/hub/token');
    const res = await this.fetch(`/hub/api/users/${encodeURIComponent(name)}/tokens`, { method: 'POST', json: { note } });
    if (res.status !== 201) throw new Error(`token request failed:\n${snippet(res)}`);
    return (JSON.parse(res.body) as { token: string }).token;
  }

  /**
   * A script-style API call: `Authorization: token …` and no cookies or Referer. The token
   * defaults to one created once for the logged-in user.
   */
  async api(path: string, init: FetchInit & { token?: string } = {}): Promise<Exchange & { json: unknown }> {
    const token = init.token ?? (this.apiToken ??= await this.createToken());
    const url = this.resolve(path);
    const headers: Record<string, string> = { Accept: 'application/json', Authorization: `token ${token}` };
    let body = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers['Content-Type'] = 'application/json';
    }
    const ex = await this.send(init.method ?? 'GET', url, { ...headers, ...init.headers }, body, false);
    let json: unknown;
    try {
      json = JSON.parse(ex.body);
    } catch {
      json = undefined;
    }
    return { ...ex, json };
  }

  /**
   * Starts a kernel on `name`'s server through the notebook REST API, opens its channels websocket
   * with this browser's cookies and Origin, runs `code` and resolves with its stdout. The kernel is
   * deleted afterwards. Rejects with the recorded response when the websocket is refused.
   */
  async kernelWebsocket(name = this.requireUser(), code = 'print(6*7)', timeoutMs = 60000): Promise<string> {
    const prefix = userPrefix(name);
    if (!this.document || !new URL(this.document.url).pathname.startsWith(prefix)) await this.navigate(`${prefix}tree`);
    const created = await this.fetch(`${prefix}api/kernels`, { method: 'POST', json: { name: 'python3' } });
    if (created.status !== 201) throw new Error(`starting a kernel on ${prefix} failed:\n${snippet(created)}`);
    const kernelId = (JSON.parse(created.body) as { id: string }).id;
    try {
      return await this.runOverWebsocket(name, kernelId, code, timeoutMs);
    } finally {
      await this.fetch(`${prefix}api/kernels/${kernelId}`, { method: 'DELETE' }).catch(() => undefined);
    }
  }

  private runOverWebsocket(user: string, kernelId: string, code: string, timeoutMs: number): Promise<string> {
    const session = randomUUID().replace(/-/g, '');
    const httpUrl = this.resolve(`${userPrefix(user)}api/kernels/${kernelId}/channels?session_id=${session}`);
    const wsUrl = httpUrl.href.replace(/^http/, 'ws');
    const requestHeaders: Record<string, string> = { Origin: this.base.origin, 'User-Agent': USER_AGENT };
    const cookie = this.jar.header(httpUrl.pathname, this.base.protocol === 'https:');
    if (cookie) requestHeaders.Cookie = cookie;
    const msgId = randomUUID().replace(/-/g, '');
    const record = (res: http.IncomingMessage, body: string) => {
      const setCookie = res.headers['set-cookie'] ?? [];
      for (const h of setCookie) this.jar.receive(h, httpUrl.pathname, this.base.protocol === 'https:');
      const ex: Exchange = {
        method: 'GET',
        url: wsUrl,
        requestHeaders,
        status: res.statusCode ?? 0,
        location: typeof res.headers.location === 'string' ? res.headers.location : null,
        setCookie,
        headers: res.headers,
        body,
      };
      this.history.push(ex);
      return ex;
    };

    return new Promise((resolve, reject) => {
      const ws = new WebSocket(wsUrl, { headers: requestHeaders, perMessageDeflate: false });
      let output = '';
      let done = false;
      const finish = (err: Error | null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        ws.terminate();
        if (err) reject(err);
        else resolve(output);
      };
      const timer = setTimeout(() => finish(new Error(`no result from kernel ${kernelId} on ${wsUrl} within ${timeoutMs} ms; output so far: ${JSON.stringify(output)}`)), timeoutMs);
      ws.on('upgrade', (res) => record(res, ''));
      ws.on('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => finish(new Error(`websocket refused:\n${snippet(record(res, Buffer.concat(chunks).toString('utf8')))}`)));
        res.on('error', (e) => finish(e));
      });
      ws.on('error', (e) => finish(e));
      ws.on('close', () => finish(new Error(`websocket ${wsUrl} closed before the execution finished; output so far: ${JSON.stringify(output)}`)));
      ws.on('open', () => {
        ws.send(JSON.stringify({
          header: { msg_id: msgId, username: user, session, msg_type: 'execute_request', version: '5.3', date: new Date().toISOString() },
          parent_header: {},
          metadata: {},
          content: { code, silent: false, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: true },
          channel: 'shell',
          buffers: [],
        }));
      });
      ws.on('message', (data) => {
        let msg: { channel?: string; msg_type?: string; header?: { msg_type?: string }; parent_header?: { msg_id?: string }; content?: Record<string, unknown> };
        try {
          msg = JSON.parse(data.toString()) as typeof msg;
        } catch {
          return; // binary frames carry buffers we do not ask for
        }
        if (msg.parent_header?.msg_id !== msgId) return;
        const type = msg.header?.msg_type ?? msg.msg_type;
        const content = msg.content ?? {};
        if (type === 'stream') output += String(content.text ?? '');
        else if (type === 'error') finish(new Error(`kernel error: ${String(content.ename)}: ${String(content.evalue)}`));
        else if (type === 'status' && content.execution_state === 'idle' && msg.channel === 'iopub') finish(null);
      });
    });
  }

  private requireUser(): string {
    if (!this.user) throw new Error('log in first');
    return this.user;
  }
}
