// JupyterHub's conventions: the facts hub-guard relies on, against the vectors in ../shared/jupyterhub-facts.md.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeSignedValue } from '../../src/identity/tornado.js';
import { HUB_COOKIES, PREFIXED_HUB_LOGIN_COOKIE, baseUrlOf, isHubMonitoringPath, cookieIdProblem, hubCookiesToClear, isCookieId, pyQuote, serverCookieName, userServerOf } from '../../src/jupyterhub/conventions.js';

describe('isCookieId', () => {
  test('exactly 32 lowercase hex characters', () => {
    assert.equal(isCookieId('6f1c3b2a9d8e4f7a8b0c1d2e3f405162'), true);
    assert.equal(isCookieId('0'.repeat(32)), true);
    for (const v of ['', '6f1c3b2a9d8e4f7a8b0c1d2e3f40516', '6f1c3b2a9d8e4f7a8b0c1d2e3f4051620', '6F1C3B2A9D8E4F7A8B0C1D2E3F405162',
      '6f1c3b2a-9d8e-4f7a-8b0c-1d2e3f405162', '6f1c3b2a9d8e4f7a8b0c1d2e3f40516g', ' 6f1c3b2a9d8e4f7a8b0c1d2e3f40516', '６f1c3b2a9d8e4f7a8b0c1d2e3f40516']) {
      assert.equal(isCookieId(v), false, v);
    }
  });
});

describe('cookieIdProblem', () => {
  test('empty, not of the form, or fine', () => {
    assert.equal(cookieIdProblem(''), 'cookie-id-empty');
    assert.equal(cookieIdProblem('not-a-cookie-id'), 'cookie-id-malformed');
    assert.equal(cookieIdProblem('6f1c3b2a9d8e4f7a8b0c1d2e3f405162'), undefined);
  });
});

describe('names and paths', () => {
  test("servers' OAuth cookies are named after quote(name) and quote(server)", () => {
    assert.equal(serverCookieName('alice', ''), 'jupyterhub-user-alice');
    assert.equal(serverCookieName('john.doe', 'gpu'), 'jupyterhub-user-john.doe-gpu');
    assert.equal(serverCookieName('jane doe', "it's"), 'jupyterhub-user-jane%20doe-it%27s');
    assert.equal(pyQuote('a/b!c'), 'a/b%21c');
  });

  test('hub cookies are cleared where the hub set them', () => {
    assert.deepEqual(hubCookiesToClear('/'), ['jupyterhub-hub-login; Path=/hub/', 'jupyterhub-services; Path=/services/', '__Host-jupyterhub-hub-login; Path=/; Secure']);
    assert.deepEqual(hubCookiesToClear(baseUrlOf('/jhub')).slice(0, 2), ['jupyterhub-hub-login; Path=/jhub/hub/', 'jupyterhub-services; Path=/jhub/services/']);
  });

  test('the owner a /user/ path names, outside /hub/', () => {
    assert.deepEqual(userServerOf('/user/alice/tree'), { owner: 'alice', server: '' });
    assert.deepEqual(userServerOf('/jhub/user/bob/gpu/lab'), { owner: 'bob', server: '' });
    assert.equal(userServerOf('/hub/user/alice/'), undefined);
    assert.equal(userServerOf('/user/alice'), undefined);
  });
});

describe('the __Host- layout (vector G of the facts)', () => {
  const secret = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
  const G = '2|1:0|10:1700000000|27:__Host-jupyterhub-hub-login|44:NmYxYzNiMmE5ZDhlNGY3YThiMGMxZDJlM2Y0MDUxNjI=|2655f37e21a66cb2c6657fb33af98f205fa753e18ef3f3b77ada102e3cb56a69';
  test('the signature covers the prefixed name: it reads only under that name', () => {
    const now = 1700000000;
    assert.equal(decodeSignedValue(secret, PREFIXED_HUB_LOGIN_COOKIE, G, 14, now)?.toString(), '6f1c3b2a9d8e4f7a8b0c1d2e3f405162');
    assert.equal(decodeSignedValue(secret, 'jupyterhub-hub-login', G, 14, now), null);
    assert.ok(HUB_COOKIES.includes(PREFIXED_HUB_LOGIN_COOKIE));
  });
});

describe('isHubMonitoringPath', () => {
  test("the hub's health (both paths) and metrics, under base_url, and nothing else", () => {
    for (const p of ['/hub/health', '/hub/api/health', '/hub/metrics', '/hub/health/']) assert.equal(isHubMonitoringPath(p, '/'), true, p);
    for (const p of ['/hub/healthz', '/hub/home', '/user/alice/hub/health', '/jhub/hub/health']) assert.equal(isHubMonitoringPath(p, '/'), false, p);
    assert.equal(isHubMonitoringPath('/jhub/hub/metrics', '/jhub/'), true);
  });
});
