// User steps the incident tests and the demo share, on top of Browser: a login that may be refused, a file
// written into a user's server, and bounded polling.
import { setTimeout as sleep } from 'node:timers/promises';
import { parseForm, userPrefix, type Browser, type Page } from './browser.js';

/**
 * Logs in through the hub's login form like Browser.login, but resolves with whatever the browser ends up on
 * (a refusal or maintenance page included) instead of throwing when the login does not succeed.
 */
export async function tryLogin(b: Browser, name: string, password: string, next = '/hub/home'): Promise<Page> {
  const form = await b.navigate(`/hub/login?next=${encodeURIComponent(next)}`);
  if (form.status !== 200 || !parseForm(form.body)) return form;
  const page = await b.submitForm({ username: name, password });
  if (page.status === 200 && !new URL(page.url).pathname.endsWith('/hub/login')) b.user = name;
  return page;
}

/** Writes a text file into `user`'s server through the notebook contents API, as the notebook's editor saves. */
export async function putTextFile(b: Browser, user: string, path: string, text: string): Promise<void> {
  const prefix = userPrefix(user);
  // the contents API wants the _xsrf cookie the server sets on its pages
  await b.navigate(`${prefix}tree`);
  const res = await b.fetch(`${prefix}api/contents/${encodeURIComponent(path)}`, {
    method: 'PUT',
    json: { type: 'file', format: 'text', content: text },
  });
  if (res.status !== 200 && res.status !== 201) throw new Error(`saving ${path} in ${prefix} answered ${res.status}: ${res.body.slice(0, 300)}`);
}

/**
 * Calls `attempt` until it returns something other than undefined, at most `tries` times with `delayMs` between
 * tries; then throws, naming `what` and the last attempt's `describe`d state.
 */
export async function pollUntil<T>(
  what: string,
  attempt: () => Promise<T | undefined>,
  { tries = 40, delayMs = 250, describe = () => '' }: { tries?: number; delayMs?: number; describe?: () => string } = {},
): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (i < tries - 1) await sleep(delayMs);
  }
  const last = describe();
  throw new Error(`${what}: not reached within ${tries} tries${last ? `; last: ${last}` : ''}`);
}
