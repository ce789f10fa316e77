// `hub-guard maintenance … --state-dir DIR`: switching a stopped hub-guard through its state files, which it
// reads when it starts.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { maintenanceCli, startGuard, type Guard } from '../helpers/guard.js';
import { writeSecret, type Secret } from '../helpers/secret.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

let dir: string;
let stateDir: string;
let secret: Secret;
let hub: Upstream;
const running: Guard[] = [];

async function guardWithState(): Promise<Guard> {
  const g = await startGuard({ secret, flags: ['--state-dir', stateDir] });
  running.push(g);
  await g.addRoute('/', { hub: true, target: hub.url });
  return g;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hg-guard-state-'));
  stateDir = join(dir, 'state');
  secret = writeSecret(dir);
  hub = await startUpstream('hub', { echoHeaders: true });
});

after(async () => {
  await Promise.all(running.map((g) => g.stop()));
  await hub?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the maintenance command on --state-dir', () => {
  test('switches a stopped hub-guard, which starts in maintenance and shows the reason; off lets it start normally', async () => {
    // a first run creates the state directory, as a deployment would have it
    await (await guardWithState()).stop();
    const env = { USER: 'tester' };

    const on = await maintenanceCli(['on', '--reason', 'Upgrade tonight', '--state-dir', stateDir], env);
    assert.equal(on.code, 0, on.stderr);
    assert.match(on.stdout, /Maintenance switched on/);
    assert.match(on.stderr, /reads --state-dir only when it starts/);
    const audit = on.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((l) => l.audit === true);
    assert.equal(audit?.action, 'on');
    assert.equal(audit?.by, `tester@${hostname()} via --state-dir`);

    const status = await maintenanceCli(['status', '--json', '--state-dir', stateDir], env);
    assert.equal(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout);
    assert.equal(s.maintenance.on, true);
    assert.equal(s.maintenance.reason, 'Upgrade tonight');
    assert.equal(s.history.at(-1).action, 'on');

    const paused = await guardWithState();
    const page = await paused.get('/hub/home', { accept: 'application/json' });
    assert.equal(page.status, 503);
    assert.equal(page.json().message, 'Upgrade tonight');
    await paused.stop();

    const off = await maintenanceCli(['off', '--reason', 'upgrade done', '--state-dir', stateDir], env);
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, /switched off/);
    const back = await guardWithState();
    assert.equal((await back.get('/hub/home', { accept: 'application/json' })).status, 200);
  });

  test('a state directory that does not exist is an error, and is not created', async () => {
    const nowhere = join(dir, 'typo');
    const r = await maintenanceCli(['on', '--reason', 'x', '--state-dir', nowhere]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--state-dir .*typo: no such directory/);
    assert.equal(existsSync(nowhere), false);
  });
});
