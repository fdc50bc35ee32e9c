import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { forgetFolderDatabases, ROOT, testBackend } from './helpers.ts';

/**
 * PostgreSQL for tests: the server named by VT_TEST_PG_URL (CI starts a throwaway one), or, when
 * that is unset, a throwaway server this process starts with scripts/pg-throwaway.sh and stops on
 * exit. Without either, PostgreSQL tests fail with a message saying what to do: never a silent skip.
 */
let server: Promise<string> | null = null;

function startThrowaway(): string {
  const hasPgCtl = (() => {
    try {
      execFileSync('sh', ['-c', 'command -v pg_ctl || ls -d /usr/lib/postgresql/*/bin/pg_ctl'], {
        stdio: 'pipe',
      });
      return true;
    } catch {
      return false;
    }
  })();
  if (!hasPgCtl)
    throw new Error(
      'PostgreSQL tests need a server: set VT_TEST_PG_URL=postgres://user@127.0.0.1:PORT/postgres, or install PostgreSQL (apt-get install postgresql) so the tests can start a throwaway one',
    );
  // initdb refuses root and runs as the postgres user: the data dir's parents must be world-executable.
  const dir = join(mkdtempSync('/tmp/vt-pg-'), 'srv');
  execFileSync('chmod', ['755', join(dir, '..')]);
  const port = 20000 + Math.floor(Math.random() * 30000);
  const url = execFileSync(
    'bash',
    [join(ROOT, 'scripts', 'pg-throwaway.sh'), 'start', dir, String(port), 'vt_test'],
    {
      encoding: 'utf8',
    },
  ).trim();
  process.on('exit', () => {
    try {
      execFileSync('bash', [join(ROOT, 'scripts', 'pg-throwaway.sh'), 'stop', dir], { stdio: 'ignore' });
      rmSync(join(dir, '..'), { recursive: true, force: true });
    } catch {}
  });
  return url;
}

/** The URL of a server the tests may create databases on. */
export function pgServer(): Promise<string> {
  server ??= Promise.resolve(process.env.VT_TEST_PG_URL || startThrowaway());
  return server;
}

const created: { admin: string; name: string }[] = [];

/** A new, empty database on the test server; dropped by dropTestDatabases(). */
export async function freshPgUrl(): Promise<string> {
  const admin = await pgServer();
  const name = `vt_t_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  try {
    await c.query(`create database ${name}`);
  } finally {
    await c.end();
  }
  created.push({ admin, name });
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Run SQL on a database as its connection string says (e.g. as another role). */
export async function pgQuery(url: string, text: string, params: unknown[] = []) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(text, params);
  } finally {
    await c.end();
  }
}

/**
 * Everything a store holds, as [where, bytes] to search (for secrets, say): a SQLite file and its
 * WAL, or every row of every table of a PostgreSQL database, as text.
 */
export async function storeContents(target: string): Promise<[string, Buffer][]> {
  if (!target.startsWith('postgres'))
    return [target, `${target}-wal`].filter((f) => existsSync(f)).map((f) => [f, readFileSync(f)]);
  const db = await rawStore(target);
  try {
    const tables = await db.all<{ table_name: string }>(
      "select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE' order by 1",
    );
    const out: [string, Buffer][] = [];
    for (const { table_name: name } of tables) {
      const rows = await db.all<{ row: string }>(`select t::text as row from "${name}" t`);
      out.push([`table ${name}`, Buffer.from(rows.map((r) => r.row).join('\n'))]);
    }
    return out;
  } finally {
    await db.close();
  }
}

/** storeContents as one buffer, to search. */
export async function storeBytes(target: string): Promise<Buffer> {
  return Buffer.concat((await storeContents(target)).map(([, bytes]) => bytes));
}

export type Row = Record<string, unknown>;
/** SQL on a store's tables as whoever controls the database runs it (`?` placeholders on both backends). */
export interface RawStore {
  /** Whether this is a PostgreSQL database (which numbers events from its `counters` row). */
  postgres: boolean;
  all<T = Row>(text: string, ...params: unknown[]): Promise<T[]>;
  run(text: string, ...params: unknown[]): Promise<void>;
  close(): Promise<void>;
}

/** A direct connection to a store, bypassing vt: its SQLite file, or its PostgreSQL database. */
export async function rawStore(target: string): Promise<RawStore> {
  if (!target.startsWith('postgres')) {
    const db = new Database(target);
    return {
      postgres: false,
      all: async <T>(text: string, ...params: unknown[]) => db.prepare(text).all(...params) as T[],
      run: async (text, ...params) => void db.prepare(text).run(...params),
      close: async () => void db.close(),
    };
  }
  const c = new pg.Client({ connectionString: target });
  await c.connect();
  const query = (text: string, params: unknown[]) => {
    let n = 0;
    return c.query(
      text.replace(/\?/g, () => `$${++n}`),
      params,
    );
  };
  return {
    postgres: true,
    all: async <T>(text: string, ...params: unknown[]) => (await query(text, params)).rows as T[],
    run: async (text, ...params) => void (await query(text, params)),
    close: () => c.end(),
  };
}

/** rawStore with the append-only guards off, as an attacker who owns the database has it. */
export async function tamperable(target: string): Promise<RawStore> {
  const db = await rawStore(target);
  if (db.postgres) await db.run('alter table events disable trigger events_no_update');
  else for (const t of ['events_no_update', 'events_no_delete']) await db.run(`drop trigger if exists ${t}`);
  return db;
}

/** The same database as another role. */
export function asRole(url: string, role: string): string {
  const u = new URL(url);
  u.username = role;
  u.password = '';
  return u.toString();
}

export async function dropTestDatabases(): Promise<void> {
  while (created.length) {
    const { admin, name } = created.pop()!;
    await pgQuery(admin, `drop database if exists ${name} with (force)`).catch(() => {});
  }
}

export const BACKENDS = ['sqlite', 'postgres'] as const;
export type Backend = (typeof BACKENDS)[number];

/** The same suite once per backend, each test on its own database. */
export function describeOnBackends(name: string, fn: () => void): void {
  for (const backend of BACKENDS) {
    describe(`${name} [${backend}]`, () => {
      before(() => {
        testBackend.current = backend;
      });
      fn();
      // After the suite's own after hooks, which close what they opened on these databases.
      after(async () => {
        testBackend.current = 'sqlite';
        forgetFolderDatabases();
        await dropTestDatabases();
      });
    });
  }
}
