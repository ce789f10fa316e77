// PostgreSQL and MariaDB that cannot be reached, do not answer, hold a lock, drop the connection, or refuse the
// login: read() rejects (within its timeout, never hanging) and the process survives.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { freePort } from '../helpers/ports.js';
import { createHubDatabases, hubDbs, insertUsers, MY, PG, scratchDir, type HubFixture } from './fixtures.js';

const errorOf = (p: Promise<unknown>) => p.then(() => assert.fail('read() should have rejected'), (e: { code?: string; message: string }) => e);
const HANG_GUARD = { timeout: 30_000 };

/** Accepts TCP connections and never says a word, like a database host whose server process is wedged. */
async function silentServer(): Promise<{ port: number; stop(): Promise<void> }> {
  const sockets: Socket[] = [];
  const server: Server = createServer((s) => { sockets.push(s); });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    stop: () => new Promise<void>((resolve) => { sockets.forEach((s) => s.destroy()); server.close(() => resolve()); }),
  };
}

const engines = [
  { engine: 'postgres' as const, url: (port: number, db = 'test') => `postgresql://${PG.user}@127.0.0.1:${port}/${db}` },
  { engine: 'mysql' as const, url: (port: number, db = 'test') => `mysql://${MY.user}@127.0.0.1:${port}/${db}` },
];

for (const { engine, url } of engines) {
  describe(`an unreachable or misbehaving ${engine}`, () => {
    const scratch = scratchDir();
    const { open, closeAll } = hubDbs(500);
    let fx: HubFixture;
    let silent: Awaited<ReturnType<typeof silentServer>>;

    before(async () => {
      [fx] = await createHubDatabases(engine, 1, scratch.dir);
      await fx.exec(insertUsers([{ id: 1, name: 'alice' }]));
      silent = await silentServer();
    });

    after(async () => {
      await closeAll();
      await silent.stop();
      await fx.drop();
      scratch.remove();
    });

    test('a closed port rejects with ECONNREFUSED', HANG_GUARD, async () => {
      const err = await errorOf(open(url(await freePort())).read());
      assert.equal(err.code, 'ECONNREFUSED');
    });

    test('a server that accepts but never answers rejects with ETIMEDOUT', HANG_GUARD, async () => {
      const db = open(url(silent.port));
      assert.equal((await errorOf(db.read())).code, 'ETIMEDOUT');
      assert.equal((await errorOf(db.read())).code, 'ETIMEDOUT', 'and again on the next read');
    });

    test('a table lock held by another session rejects with ETIMEDOUT, and reads work once it is released', HANG_GUARD, async () => {
      const db = open(fx.url, 1000);
      assert.deepEqual((await db.read()).users.map((u) => u.name), ['alice']);
      const dbName = fx.url.slice(fx.url.lastIndexOf('/') + 1);
      if (engine === 'postgres') {
        const locker = new pg.Client({ ...PG, database: dbName });
        await locker.connect();
        try {
          await locker.query('BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
          assert.equal((await errorOf(db.read())).code, 'ETIMEDOUT');
          await locker.query('ROLLBACK');
        } finally {
          await locker.end();
        }
      } else {
        const locker = await mysql.createConnection({ ...MY, database: dbName });
        try {
          await locker.query('LOCK TABLES users WRITE');
          assert.equal((await errorOf(db.read())).code, 'ETIMEDOUT');
          await locker.query('UNLOCK TABLES');
        } finally {
          await locker.end();
        }
      }
      assert.deepEqual((await db.read()).users.map((u) => u.name), ['alice']);
      await db.close();
    });

    test('an idle connection killed by the server does not crash the process; the next read reconnects', HANG_GUARD, async () => {
      const db = open(fx.url, 5000);
      await db.read();
      const dbName = fx.url.slice(fx.url.lastIndexOf('/') + 1);
      if (engine === 'postgres') {
        const admin = new pg.Client({ ...PG, database: 'test' });
        await admin.connect();
        const r = await admin.query('SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE datname = $1', [dbName]);
        await admin.end();
        assert.equal(r.rows.length, 1, 'exactly our idle connection was there to kill');
      } else {
        const admin = await mysql.createConnection({ ...MY });
        const [rows] = await admin.query('SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()', [dbName]);
        const ids = (rows as Array<{ id: number }>).map((r) => r.id);
        assert.equal(ids.length, 1, 'exactly our idle connection was there to kill');
        await admin.query(`KILL ${ids[0]}`);
        await admin.end();
      }
      assert.deepEqual((await db.read()).users.map((u) => u.name), ['alice']);
    });

    test('a refused login or missing database rejects without showing the password', HANG_GUARD, async () => {
      const secret = 'hunter2-do-not-log';
      const port = engine === 'postgres' ? PG.port : MY.port;
      // PostgreSQL here trusts local logins, so ask it for a database that does not exist instead.
      const u = url(port, engine === 'postgres' ? 'hg_no_such_database' : 'test').replace('@', `:${secret}@`);
      const db = open(u, 5000);
      assert.ok(!db.description.includes(secret));
      const err = await errorOf(db.read());
      assert.equal(err.code, engine === 'postgres' ? '3D000' : 'ER_ACCESS_DENIED_ERROR');
      assert.ok(!err.message.includes(secret), err.message);
      assert.match(err.message, /\*\*\*/, 'the message names the database, password hidden');
    });
  });
}
