import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { IdpVerifier, normaliseUsername } from '../../src/identity/idp.js';
import { identify } from '../../src/identity/identify.js';
import { createSignedValue } from '../../src/identity/tornado.js';
import { UsersIndex } from '../../src/identity/users-index.js';

let dir: string;
let key: CryptoKey;
let jwksFile: string;
const secret = Buffer.alloc(32, 3);

before(async () => {
  const pair = await generateKeyPair('ES256');
  key = pair.privateKey;
  dir = mkdtempSync(join(tmpdir(), 'hg-idp-'));
  jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k', alg: 'ES256' }] }));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const jwt = (claims: Record<string, unknown>, iss = 'https://idp.example', aud = 'hub') =>
  new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setIssuer(iss).setAudience(aud).setIssuedAt().setExpirationTime('5m').sign(key);

const verifier = (header = 'X-Id') => new IdpVerifier({ header, jwksFile, issuer: 'https://idp.example', audience: 'hub', usernameClaim: 'email' });

test('the user name is lower-cased and loses its e-mail domain', async () => {
  assert.equal(normaliseUsername('Alice.Smith@Example.org'), 'alice.smith');
  const v = verifier();
  assert.equal(await v.verify(await jwt({ email: 'Alice.Smith@Example.org' })), 'alice.smith');
});

test('wrong issuer, wrong audience, a missing claim or another key verify to nobody', async () => {
  const v = verifier();
  assert.equal(await v.verify(await jwt({ email: 'a@x' }, 'https://evil.example')), null);
  assert.equal(await v.verify(await jwt({ email: 'a@x' }, undefined, 'other')), null);
  assert.equal(await v.verify(await jwt({ sub: 'a' })), null);
  const other = await generateKeyPair('ES256');
  const forged = await new SignJWT({ email: 'a@x' }).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setIssuer('https://idp.example').setAudience('hub').sign(other.privateKey);
  assert.equal(await v.verify(forged), null);
  assert.equal(await v.verify('not.a.jwt'), null);
});

test('Authorization carries the IdP JWT only as a Bearer JWT; a hub API token is left alone', async () => {
  const v = verifier('Authorization');
  const t = await jwt({ email: 'a@x' });
  assert.equal(v.token({ authorization: `Bearer ${t}` }), t);
  assert.equal(v.token({ authorization: 'token 0123456789abcdef' }), undefined);
  assert.equal(v.token({ authorization: 'Bearer 0123456789abcdef' }), undefined);
});

test('an unreadable JWKS file fails naming the flag', () => {
  assert.throws(() => new IdpVerifier({ header: 'X-Id', jwksFile: join(dir, 'missing.json'), usernameClaim: 'email' }), /--jwks-file/);
});

test('the IdP is the authority: a hub cookie naming someone else is a conflict, a bad cookie_id still a problem', async () => {
  const users = new UsersIndex(Buffer.alloc(32));
  const cidA = 'a'.repeat(32);
  const cidB = 'b'.repeat(32);
  users.update({ takenAt: Date.now(), tables: [], alembicVersion: null, users: [
    { id: 1, name: 'alice', admin: false, cookieId: cidA, created: null },
    { id: 2, name: 'bob', admin: false, cookieId: cidB, created: null },
  ], cookieIdConstraint: null, access: new Map(), groups: new Map(), apiTokens: 0 });
  const deps = { secret, maxAgeDays: 14, users, idp: verifier() };
  const hub = (cid: string) => `jupyterhub-hub-login="${createSignedValue(secret, 'jupyterhub-hub-login', cid, Math.floor(Date.now() / 1000))}"`;
  const asAlice = await jwt({ email: 'alice@example.org' });
  assert.deepEqual((await identify({ 'x-id': asAlice }, deps)).identity, { kind: 'user', name: 'alice', id: 1, source: 'idp' });
  assert.deepEqual((await identify({ 'x-id': asAlice, cookie: hub(cidA) }, deps)).identity, { kind: 'user', name: 'alice', id: 1, source: 'idp' });
  assert.deepEqual((await identify({ 'x-id': asAlice, cookie: hub(cidB) }, deps)).identity, { kind: 'problem', reason: 'identity-conflict', name: 'alice' });
  assert.deepEqual((await identify({ 'x-id': asAlice, cookie: hub('') }, deps)).identity, { kind: 'problem', reason: 'cookie-id-empty' });
});
