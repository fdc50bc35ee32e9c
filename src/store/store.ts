import { resolve } from 'node:path';
import { type Kysely, sql, type Transaction } from 'kysely';
import { beginDeferredAppends, flushDeferredAppends } from './append.ts';
import type { PostgresOptions } from './dialects/postgres.ts';
import type { Listener, ListenOptions } from './dialects/postgres-listen.ts';
import { type Synchronous, sqliteAfterMigrate } from './dialects/sqlite.ts';
import { migrateToLatest, requireKnownSchema, reshapesProjections, schemaStatus } from './migrate.ts';
import { rebuildProjections } from './projector.ts';
import type { DB } from './schema.ts';
import { assertStoreFileSound } from './sqlite-file.ts';

export type Trx = Transaction<DB>;
export type Db = Kysely<DB>;

/** An open store: a Kysely handle plus the one way to write (a transaction). */
export interface Store {
  readonly db: Db;
  readonly kind: 'sqlite' | 'postgres';
  /** Where it lives, safe to print (no password). */
  readonly location: string;
  /** Opened for reading only: `transaction` refuses, nothing is migrated. */
  readonly readonly?: boolean;
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
  /**
   * Open for reading only (read commands): no migration and no write of any kind, so a store file
   * or folder that is read-only can still be read, and readers never queue on the write lock.
   * (SQLite; a PostgreSQL store is opened as usual.)
   */
  readonly?: boolean;
}

export const isPostgresUrl = (target: string) => /^postgres(ql)?:\/\//.test(target);

/** Open the store named by a path, `sqlite:PATH`, or a postgres URL; migrate it when it is behind. */
export async function openStore(target: string, opts: StoreOptions = {}): Promise<Store> {
  // better-sqlite3 (a native module) only for a SQLite store, as pg only for a PostgreSQL one.
  const sqlite = isPostgresUrl(target) ? null : await import('./sqlite-open.ts');
  if (sqlite && opts.readonly) {
    const file = sqliteFile(target);
    assertStoreFileSound(file);
    const ro = sqlite.openReadonly(file);
    if (ro) return ro;
  }
  const store = sqlite ? sqlite.openSqlite(sqliteFile(target), opts) : await openPg(target, opts);
  try {
    if (opts.migrate !== 'never') await ensureSchema(store);
  } catch (err) {
    await store.close().catch(() => {});
    throw sqlite ? sqlite.openError(store.location, err) : err;
  }
  return store;
}

const sqliteFile = (target: string) => resolve(target.replace(/^sqlite:(\/\/)?/, ''));

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

/** Advisory locks in a key space of their own (two int4 keys: 'vt' and the project id's hash). */
const LOCK_SPACE = 0x7674;

async function openPg(url: string, opts: StoreOptions): Promise<Store> {
  // The pg driver (and the net, dns and stream modules it loads) only for a PostgreSQL store: a
  // command on a SQLite store starts without them.
  const [{ openPostgres, redactUrl }, { listenPg }] = await Promise.all([
    import('./dialects/postgres.ts'),
    import('./dialects/postgres-listen.ts'),
  ]);
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
