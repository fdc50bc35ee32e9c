import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, type Transaction } from 'kysely';
import { VtError } from '../errors.ts';
import { classifyFailure } from '../failures.ts';
import {
  configureSqlite,
  ImmediateSqliteDialect,
  type Synchronous,
  sqliteAfterMigrate,
} from './dialects/sqlite.ts';
import { GroupCommitter } from './group-commit.ts';
import { MIGRATIONS, migrationProvider } from './migrations/index.ts';
import { rebuildProjections } from './projector.ts';
import type { DB } from './schema.ts';
import { assertStoreFileSound } from './sqlite-file.ts';

export type Trx = Transaction<DB>;
export type Db = Kysely<DB>;

/** An open store: a Kysely handle plus the one way to write (an immediate transaction). */
export interface Store {
  readonly db: Db;
  readonly kind: 'sqlite' | 'postgres';
  /** Where it lives, safe to print (no password). */
  readonly location: string;
  /** Opened for reading only: `transaction` refuses, nothing is migrated. */
  readonly readonly?: boolean;
  transaction<T>(fn: (trx: Trx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** SQLite only: FULL (default) makes an acknowledged commit survive power loss; NORMAL is faster. */
  synchronous?: Synchronous;
  /**
   * Open for reading only (read commands): no migration and no write of any kind, so a store file
   * or folder that is read-only can still be read, and readers never queue on the write lock.
   */
  readonly?: boolean;
}

/** Open (creating and migrating when needed) the store named by a path, `sqlite:PATH`, or a postgres URL. */
export async function openStore(target: string, opts: StoreOptions = {}): Promise<Store> {
  if (/^postgres(ql)?:\/\//.test(target)) {
    throw new VtError('BAD_INPUT', 'PostgreSQL stores are not available in this version', {
      hint: 'Use a SQLite file: unset VT_DATABASE_URL or pass --db .vt/vt.db',
    });
  }
  const file = resolve(target.replace(/^sqlite:(\/\/)?/, ''));
  assertStoreFileSound(file);
  if (opts.readonly) {
    const ro = openReadonly(file);
    if (ro) return ro;
  }
  mkdirSync(dirname(file), { recursive: true });
  let raw: Database.Database;
  try {
    raw = new Database(file);
    configureSqlite(raw, opts.synchronous ?? 'FULL');
  } catch (err) {
    throw openError(file, err);
  }
  const db = new Kysely<DB>({ dialect: new ImmediateSqliteDialect(raw) });
  // Migrating takes the write lock even when there is nothing to do: look first.
  let reshaped = false;
  try {
    if (!isCurrent(raw)) reshaped = await migrate(db, (d) => sqliteAfterMigrate(d));
  } catch (err) {
    await db.destroy();
    throw openError(file, err);
  }
  const group = new GroupCommitter(db);
  const store: Store = {
    db,
    kind: 'sqlite',
    location: file,
    transaction: (fn) => group.run(fn),
    close: () => db.destroy(),
  };
  // A migration that reshaped projections leaves them to be rebuilt from the events.
  if (reshaped) await rebuildProjections(store);
  return store;
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

/** Migrate to the latest schema; true when a migration that reshapes projections ran on a store with events. */
async function migrate(db: Db, after: (db: Kysely<unknown>) => Promise<void>): Promise<boolean> {
  const { Migrator } = await import('kysely/migration');
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    const cause = (error as { code?: string }).code;
    if (cause) throw error; // a full disk or a damaged file: the caller names it
    throw new VtError('STORE_ERROR', `migration ${failed} failed: ${(error as Error).message ?? error}`);
  }
  await after(db as unknown as Kysely<unknown>);
  const reshaped = (results ?? []).some(
    (r) =>
      r.status === 'Success' &&
      (MIGRATIONS[r.migrationName] as { rebuildsProjections?: boolean } | undefined)?.rebuildsProjections,
  );
  if (!reshaped) return false;
  return !!(await db.selectFrom('events').select('seq').limit(1).executeTakeFirst());
}
