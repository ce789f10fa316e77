import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseHubDbUrl, redactDbUrl, type HubDbTarget } from '../../src/hubdb/url.js';

const env = { PGPASSWORD: 'pg-env-secret', MYSQL_PWD: 'my-env-secret' };
const parse = (url: string, e: Record<string, string | undefined> = {}) => parseHubDbUrl(url, '--hub-db', e, '/srv/jupyterhub');

describe('parseHubDbUrl accepts the db_url forms JupyterHub and z2jh use', () => {
  const server = (engine: 'postgres' | 'mysql', fields: Partial<Extract<HubDbTarget, { engine: 'postgres' | 'mysql' }>>) => ({
    engine, host: 'localhost', port: engine === 'postgres' ? 5432 : 3306, user: undefined, password: undefined, database: 'jupyterhub', options: {}, ...fields,
  });
  const cases: Array<[string, Record<string, string>, HubDbTarget]> = [
    ['sqlite:///jupyterhub.sqlite', {}, { engine: 'sqlite', file: '/srv/jupyterhub/jupyterhub.sqlite' }],
    ['sqlite:///data/hub.sqlite', {}, { engine: 'sqlite', file: '/srv/jupyterhub/data/hub.sqlite' }],
    ['sqlite:////srv/jupyterhub/jupyterhub.sqlite', {}, { engine: 'sqlite', file: '/srv/jupyterhub/jupyterhub.sqlite' }],
    ['sqlite+pysqlite:////tmp/x.sqlite', {}, { engine: 'sqlite', file: '/tmp/x.sqlite' }],
    ['postgresql://hub:p%40ss%2Fw@db.example:5433/jupyterhub?sslmode=require', {},
      server('postgres', { host: 'db.example', port: 5433, user: 'hub', password: 'p@ss/w', options: { sslmode: 'require' } })],
    ['postgresql+psycopg2://hub@postgres/jupyterhub', env, server('postgres', { host: 'postgres', user: 'hub', password: 'pg-env-secret' })],
    ['postgres://hub:url-wins@postgres/jupyterhub', env, server('postgres', { host: 'postgres', user: 'hub', password: 'url-wins' })],
    ['postgresql://hub:a:b/c@postgres/jupyterhub', {}, server('postgres', { host: 'postgres', user: 'hub', password: 'a:b/c' })],
    ['postgresql://u@[::1]:6543/jupyterhub', {}, server('postgres', { host: '::1', port: 6543, user: 'u' })],
    ['postgresql:///jupyterhub', {}, server('postgres', { host: '/var/run/postgresql' })],
    ['postgresql:///jupyterhub?host=/run/pg&port=5444&application_name=hg', {},
      server('postgres', { host: '/run/pg', port: 5444, options: { application_name: 'hg' } })],
    ['mysql://root@127.0.0.1/jupyterhub', env, server('mysql', { host: '127.0.0.1', user: 'root', password: 'my-env-secret' })],
    ['mysql+pymysql://hub:pw@mysql:3307/jupyterhub?charset=utf8mb4', {},
      server('mysql', { host: 'mysql', port: 3307, user: 'hub', password: 'pw', options: { charset: 'utf8mb4' } })],
    ['mysql+mysqlconnector://hub@mysql/jupyterhub', {}, server('mysql', { host: 'mysql', user: 'hub' })],
    ['mariadb+pymysql://hub@mariadb/jupyterhub?unix_socket=/run/mysqld/mysqld.sock', {},
      server('mysql', { host: 'mariadb', user: 'hub', options: { unix_socket: '/run/mysqld/mysqld.sock' } })],
  ];
  for (const [url, e, expected] of cases) {
    test(url, () => assert.deepEqual(parse(url, e), expected));
  }
});

describe('parseHubDbUrl refuses bad URLs with the flag named and the password hidden', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /required/],
    ['   ', /required/],
    ['jupyterhub.sqlite', /not a database URL/],
    ['user:secret@host/db', /not a database URL/],
    ['oracle://u:secret@h/db', /unsupported database type 'oracle'/],
    ['sqlite://', /in-memory/],
    ['sqlite:///:memory:', /in-memory/],
    ['sqlite://host/x.sqlite', /no host/],
    ['sqlite:////x.sqlite?mode=ro', /options are not supported: mode/],
    ['postgresql://u:secret@h', /names no database/],
    ['postgresql://u:secret@h/', /names no database/],
    ['postgresql://u:secret@h:99999/db', /port/],
    ['postgresql://u:secret@h:0/db', /port/],
    ['postgresql://u:secret@h:abc/db', /port/],
    ['postgresql://u:secret@h/db?foo=bar', /unsupported option 'foo'/],
    ['postgresql://u:secret@h/db?__proto__=x', /unsupported option '__proto__'/],
    ['postgresql://u:secret@h/db?sslmode=sometimes', /sslmode must be one of/],
    ['postgresql://u@h/db?password=secret', /not in a query option/],
    ['postgresql://u:secret@h/db?sslmode=require&sslmode=disable', /given twice/],
    ['mysql://u:secret@h/db?host=other', /unsupported option 'host'/],
    ['mysql://u:sec%ZZret@h/db', /bad %-escape/],
  ];
  for (const [url, reason] of cases) {
    test(JSON.stringify(url), () => {
      assert.throws(() => parse(url), (err: Error) => {
        assert.match(err.message, /^--hub-db: /);
        assert.match(err.message, reason);
        assert.ok(!/secret|sec%ZZret/.test(err.message), err.message);
        return true;
      });
    });
  }

  test('names the flag it was given', () => {
    assert.throws(() => parseHubDbUrl('nope', '--db-url'), /^Error: --db-url: /);
  });

  test('a value that is not a string is refused, not crashed on', () => {
    assert.throws(() => parseHubDbUrl(undefined as unknown as string), /--hub-db: a database URL is required/);
  });
});

describe('redactDbUrl', () => {
  const cases: Array<[string, string]> = [
    ['postgresql://u:secret@h/db', 'postgresql://u:***@h/db'],
    ['postgresql://u@h/db', 'postgresql://u@h/db'],
    ['postgresql://h:5432/db', 'postgresql://h:5432/db'],
    ['mysql+pymysql://u:p@ss@h/db', 'mysql+pymysql://u:***@h/db'],
    ['postgresql://:secret@h/db', 'postgresql://:***@h/db'],
    ['postgresql://u@h/db?password=secret&sslmode=require', 'postgresql://u@h/db?password=***&sslmode=require'],
    ['user:secret@host/db', 'user:***@host/db'],
    ['sqlite:////srv/jupyterhub/jupyterhub.sqlite', 'sqlite:////srv/jupyterhub/jupyterhub.sqlite'],
  ];
  for (const [url, expected] of cases) test(url, () => assert.equal(redactDbUrl(url), expected));
});
