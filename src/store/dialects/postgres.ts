import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { VtError } from '../../errors.ts';
import type { DB } from '../schema.ts';

export interface PostgresOptions {
  /** Connections per process (default 10; env VT_PG_POOL_MAX). */
  poolMax?: number;
  /** A statement running longer is cancelled (default 30 s; env VT_PG_STATEMENT_TIMEOUT_MS). */
  statementTimeoutMs?: number;
  /** Giving up on reaching the server (default 10 s). */
  connectTimeoutMs?: number;
}

/** `postgres://user:secret@host/db` without the password, safe to print. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable URL)';
  }
}

/**
 * A Kysely handle over a `pg` pool. Every connection gets a statement timeout and an
 * idle-in-transaction timeout, so a stuck client can neither hang a command nor hold a lock forever,
 * and commits synchronously, so no acknowledged commit is lost when the server crashes.
 * Integers of type bigint (counts, sums) come back as JS numbers: the store's counts fit.
 */
export async function openPostgres(url: string, opts: PostgresOptions = {}): Promise<Kysely<DB>> {
  const statementTimeout = opts.statementTimeoutMs ?? 30_000;
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolMax ?? 10,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    statement_timeout: statementTimeout,
    idle_in_transaction_session_timeout: Math.max(statementTimeout * 2, 60_000),
    application_name: 'vt',
    // Idle pooled connections do not keep a finished command (or a test process) alive.
    allowExitOnIdle: true,
  });
  // An idle client losing its server (a restart) must not crash the process.
  pool.on('error', () => {});
  // Nor may a checked-out one, which the pool's listener does not cover: a connection the server
  // ends while it waits inside a transaction (the idle-in-transaction timeout ending a worker that
  // was stopped, a restart) fails that transaction's next statement, and the pool drops it.
  pool.on('connect', (client) => {
    client.on('error', () => {});
    // A commit is acknowledged only once it is in the server's write-ahead log, whatever the
    // server's default: with synchronous_commit off a server crash loses commits it acknowledged.
    // Queued ahead of any query the pool's caller sends on this connection.
    client.query('set synchronous_commit = on').catch(() => {});
  });
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool, cursor: Cursor }) });
  try {
    await sql`select 1`.execute(db);
  } catch (err) {
    await db.destroy().catch(() => {});
    throw unreachable(url, err);
  }
  return db;
}

/** Set the pg driver to return int8 (counts) as numbers; done once per process. */
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

function unreachable(url: string, err: unknown): VtError {
  const e = err as { code?: string; message?: string };
  const where = redactUrl(url);
  const hints: Record<string, string> = {
    ECONNREFUSED: 'Is the server running and listening there? Check host and port in VT_DATABASE_URL.',
    ENOTFOUND: 'The host name does not resolve: check VT_DATABASE_URL.',
    ETIMEDOUT: 'The server did not answer: check the network and the port.',
    '28P01': 'The password was refused: check the user and password in VT_DATABASE_URL.',
    '28000': 'The server refused this user: check pg_hba.conf and the user in VT_DATABASE_URL.',
    '3D000': 'The database does not exist: create it first (createdb NAME), then run: vt db migrate',
  };
  const code = e.code ?? '';
  return new VtError('STORE_ERROR', `cannot reach PostgreSQL at ${where}: ${e.message ?? String(err)}`, {
    hint: hints[code] ?? (/timeout/i.test(e.message ?? '') ? hints.ETIMEDOUT! : 'Check VT_DATABASE_URL'),
    details: { code },
  });
}

/**
 * SQL that creates an application role able to run vt but not to edit history: it may read and
 * insert events and the Merkle log's nodes, never update or delete them (the trigger refuses too,
 * but a table owner can drop a trigger; a role without the privilege cannot). Run it as the owner
 * of the vt tables.
 */
export function appRoleSql(role: string, opts: { password?: string } = {}): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(role))
    throw new VtError('BAD_INPUT', `"${role}" is not a plain role name: lowercase letters, digits and _`);
  const login = opts.password ? ` login password '${opts.password.replace(/'/g, "''")}'` : ' login';
  return `-- An application role for vt: everything but UPDATE, DELETE and TRUNCATE on events.
do $$ begin
  if not exists (select 1 from pg_roles where rolname = '${role}') then
    create role ${role}${login};
  end if;
end $$;
grant usage on schema public to ${role};
grant select, insert, update, delete on all tables in schema public to ${role};
revoke update, delete, truncate on events from ${role};
-- The Merkle log's stored subtrees are only ever added to, like events.
revoke update, delete, truncate on merkle_nodes from ${role};
grant select on kysely_migration, kysely_migration_lock to ${role};
revoke insert, update, delete on kysely_migration, kysely_migration_lock from ${role};
-- Tables that later migrations create (run by this same owner) get the same grants.
alter default privileges in schema public grant select, insert, update, delete on tables to ${role};
`;
}
