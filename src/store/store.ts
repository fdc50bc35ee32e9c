import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, sql, type Transaction } from 'kysely';
import { VtError } from '../errors.ts';
import { classifyFailure } from '../failures.ts';
import { beginDeferredAppends, flushDeferredAppends, logAppended } from './append.ts';
import type { PostgresOptions } from './dialects/postgres.ts';
import type { Listener, ListenOptions } from './dialects/postgres-listen.ts';
import {
  configureSqlite,
  ImmediateSqliteDialect,
  type Synchronous,
  sqliteAfterMigrate,
} from './dialects/sqlite.ts';
import { GroupCommitter } from './group-commit.ts';
import { sqliteSequencer } from './merkle-log.ts';
import { migrateToLatest, requireKnownSchema, reshapesProjections, schemaStatus } from './migrate.ts';
import { MIGRATIONS } from './migrations/index.ts';
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
  if (!isPostgresUrl(target) && opts.readonly) {
    const file = sqliteFile(target);
    assertStoreFileSound(file);
    const ro = openReadonly(file);
    if (ro) return ro;
  }
  const store = isPostgresUrl(target) ? await openPg(target, opts) : openSqlite(target, opts);
  try {
    if (opts.migrate !== 'never') await ensureSchema(store);
  } catch (err) {
    await store.close().catch(() => {});
    throw store.kind === 'sqlite' ? openError(store.location, err) : err;
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

function openSqlite(target: string, opts: StoreOptions): Store {
  const file = sqliteFile(target);
  assertStoreFileSound(file);
  mkdirSync(dirname(file), { recursive: true });
  let raw: Database.Database;
  try {
    raw = new Database(file);
    configureSqlite(raw, opts.synchronous ?? 'FULL');
  } catch (err) {
    throw openError(file, err);
  }
  const db = new Kysely<DB>({ dialect: new ImmediateSqliteDialect(raw) });
  // The Merkle log takes each transaction's events once, just before it commits.
  const sequencer = sqliteSequencer(raw);
  const group = new GroupCommitter(db, {
    beforeCommit: logAppended(sequencer.log),
    settled: sequencer.settled,
  });
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

/** A read-only store, or null when it must be opened for writing first (it needs migrating). */
function openReadonly(file: string): Store | null {
  if (!existsSync(file))
    throw new VtError('NOT_FOUND', `there is no store at ${file}`, {
      hint: 'Create one with: vt init (or name another with --db PATH)',
    });
  let raw: Database.Database;
  let current: boolean;
  try {
    raw = new Database(file, { readonly: true, fileMustExist: true });
    raw.pragma('busy_timeout = 10000');
    try {
      current = isCurrent(raw);
    } catch (err) {
      raw.close();
      throw err;
    }
  } catch (err) {
    // A WAL store in a folder this user cannot write: SQLite cannot make the shared-memory file a
    // reader needs. With no write-ahead log left over (a cleanly closed store), the file alone is the
    // whole database: read it into memory instead.
    const code = (err as { code?: string }).code ?? '';
    if (!/^SQLITE_(READONLY|CANTOPEN)/.test(code) || !walIsEmpty(file)) throw openError(file, err);
    try {
      const image = readFileSync(file);
      image[18] = 1; // "rollback journal" in the header: a database in memory cannot use WAL
      image[19] = 1;
      raw = new Database(image, { readonly: true });
      current = isCurrent(raw);
    } catch (inner) {
      throw openError(file, inner);
    }
  }
  if (!current) {
    raw.close();
    if (writable(file)) return null;
    throw new VtError('STORE_ERROR', `the store ${file} was made by an older vt and is read-only here`, {
      hint: 'Open it once with write access (any write command migrates it), or use the vt that made it',
    });
  }
  const db = new Kysely<DB>({ dialect: new ImmediateSqliteDialect(raw) });
  return {
    db,
    kind: 'sqlite',
    location: file,
    readonly: true,
    lockProject: async () => {},
    tryLockProject: async () => true,
    transaction: () =>
      Promise.reject(
        new VtError('INTERNAL', `the store ${file} was opened read-only; this command cannot write`),
      ),
    close: () => db.destroy(),
  };
}

/** Every migration this vt knows has run, and the append-only triggers are in place. */
function isCurrent(raw: Database.Database): boolean {
  const tables = raw
    .prepare(
      "select name from sqlite_master where (type = 'table' and name = 'kysely_migration') or (type = 'trigger' and name in ('events_no_update', 'events_no_delete'))",
    )
    .pluck()
    .all() as string[];
  if (tables.length < 3) return false;
  const done = new Set(raw.prepare('select name from kysely_migration').pluck().all() as string[]);
  return Object.keys(MIGRATIONS).every((m) => done.has(m));
}

function walIsEmpty(file: string): boolean {
  try {
    return statSync(`${file}-wal`).size === 0;
  } catch {
    return true;
  }
}

function writable(file: string): boolean {
  try {
    accessSync(file, constants.W_OK);
    accessSync(dirname(file), constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function openError(file: string, err: unknown): unknown {
  const known = classifyFailure(err, { store: file });
  if (known !== err) return known;
  return new VtError('STORE_ERROR', `cannot open the store ${file}: ${(err as Error).message}`, {
    details: { store: file, cause: (err as { code?: string }).code ?? null },
  });
}
