import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, sql, type Transaction } from 'kysely';
import { VtError } from '../errors.ts';
import { beginDeferredAppends, flushDeferredAppends } from './append.ts';
import { openPostgres, type PostgresOptions, redactUrl } from './dialects/postgres.ts';
import { type Listener, type ListenOptions, listenPg } from './dialects/postgres-listen.ts';
import {
  configureSqlite,
  ImmediateSqliteDialect,
  type Synchronous,
  sqliteAfterMigrate,
} from './dialects/sqlite.ts';
import { GroupCommitter } from './group-commit.ts';
import { migrateToLatest, requireKnownSchema, reshapesProjections, schemaStatus } from './migrate.ts';
import { rebuildProjections } from './projector.ts';
import type { DB } from './schema.ts';

export type Trx = Transaction<DB>;
export type Db = Kysely<DB>;

/** An open store: a Kysely handle plus the one way to write (a transaction). */
export interface Store {
  readonly db: Db;
  readonly kind: 'sqlite' | 'postgres';
  /** Where it lives, safe to print (no password). */
  readonly location: string;
  transaction<T>(fn: (trx: Trx) => Promise<T>): Promise<T>;
  /**
   * Serialise writers of one project's chain until `trx` ends. PostgreSQL: a transaction-scoped
   * advisory lock on the project. SQLite: nothing to do, every write transaction holds the file's
   * write lock already.
   */
  lockProject(trx: Trx, projectId: string): Promise<void>;
  /** As lockProject, without waiting: false when another transaction holds the project. */
  tryLockProject(trx: Trx, projectId: string): Promise<boolean>;
  /**
   * PostgreSQL only: LISTEN on a channel the store's triggers NOTIFY (WORK_CHANNEL, EVENTS_CHANNEL),
   * over a connection of its own. Absent on SQLite, whose readers poll.
   */
  listen?(channel: string, opts: ListenOptions): Listener;
  close(): Promise<void>;
}

export interface StoreOptions extends PostgresOptions {
  /** SQLite only: FULL (default) makes an acknowledged commit survive power loss; NORMAL is faster. */
  synchronous?: Synchronous;
  /**
   * `auto` (default): read the schema version, and migrate only when it is behind. `never`: do not
   * migrate (vt db status, vt db migrate itself); the caller checks schemaStatus().
   */
  migrate?: 'auto' | 'never';
}

export const isPostgresUrl = (target: string) => /^postgres(ql)?:\/\//.test(target);

/** Open the store named by a path, `sqlite:PATH`, or a postgres URL; migrate it when it is behind. */
export async function openStore(target: string, opts: StoreOptions = {}): Promise<Store> {
  const store = isPostgresUrl(target) ? await openPg(target, opts) : openSqlite(target, opts);
  try {
    if (opts.migrate !== 'never') await ensureSchema(store);
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
  return store;
}

/** Migrate only when migrations are pending: an up-to-date store is opened with reads alone. */
async function ensureSchema(store: Store): Promise<void> {
  const status = await schemaStatus(store.db);
  requireKnownSchema(status, store.location);
  if (!status.pending.length) return;
  await applyMigrations(store);
}

/**
 * Apply pending migrations; a migration that reshaped projections leaves them to be rebuilt from
 * the events. Returns the names applied.
 */
export async function applyMigrations(store: Store): Promise<string[]> {
  const applied = await migrateToLatest(store.db, store.location);
  if (store.kind === 'sqlite') await sqliteAfterMigrate(store.db as unknown as Kysely<unknown>);
  if (
    reshapesProjections(applied) &&
    (await store.db.selectFrom('events').select('seq').limit(1).executeTakeFirst())
  )
    await rebuildProjections(store);
  return applied;
}

function openSqlite(target: string, opts: StoreOptions): Store {
  const file = resolve(target.replace(/^sqlite:(\/\/)?/, ''));
  mkdirSync(dirname(file), { recursive: true });
  let raw: Database.Database;
  try {
    raw = new Database(file);
    configureSqlite(raw, opts.synchronous ?? 'FULL');
  } catch (err) {
    throw new VtError('STORE_ERROR', `cannot open the store ${file}: ${(err as Error).message}`);
  }
  const db = new Kysely<DB>({ dialect: new ImmediateSqliteDialect(raw) });
  const group = new GroupCommitter(db);
  const store: Store = {
    db,
    kind: 'sqlite',
    location: file,
    transaction: (fn) => group.run(fn),
    lockProject: async () => {},
    tryLockProject: async () => true,
    close: () => db.destroy(),
  };
  return store;
}

/** Advisory locks in a key space of their own (two int4 keys: 'vt' and the project id's hash). */
const LOCK_SPACE = 0x7674;

async function openPg(url: string, opts: StoreOptions): Promise<Store> {
  const env = process.env;
  const db = await openPostgres(url, {
    poolMax: opts.poolMax ?? (Number(env.VT_PG_POOL_MAX) || undefined),
    statementTimeoutMs: opts.statementTimeoutMs ?? (Number(env.VT_PG_STATEMENT_TIMEOUT_MS) || undefined),
    connectTimeoutMs: opts.connectTimeoutMs,
  } as PostgresOptions);
  return {
    db,
    kind: 'postgres',
    location: redactUrl(url),
    // Events are inserted at the end of the transaction, under the store-wide counter's row lock
    // (see append.ts), so `gseq` follows commit order and the lock is held briefly.
    transaction: (fn) =>
      db.transaction().execute(async (trx) => {
        beginDeferredAppends(trx);
        const out = await fn(trx);
        await flushDeferredAppends(trx);
        return out;
      }),
    lockProject: async (trx, id) => {
      await sql`select pg_advisory_xact_lock(${LOCK_SPACE}, hashtext(${id}))`.execute(trx);
    },
    tryLockProject: async (trx, id) => {
      const r = await sql<{
        ok: boolean;
      }>`select pg_try_advisory_xact_lock(${LOCK_SPACE}, hashtext(${id})) as ok`.execute(trx);
      return r.rows[0]?.ok === true;
    },
    listen: (channel, o) => listenPg(url, channel, o),
    close: () => db.destroy(),
  };
}
