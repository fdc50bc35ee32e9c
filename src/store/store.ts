import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, type Transaction } from 'kysely';
import { Migrator } from 'kysely/migration';
import { VtError } from '../errors.ts';
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

export type Trx = Transaction<DB>;
export type Db = Kysely<DB>;

/** An open store: a Kysely handle plus the one way to write (an immediate transaction). */
export interface Store {
  readonly db: Db;
  readonly kind: 'sqlite' | 'postgres';
  /** Where it lives, safe to print (no password). */
  readonly location: string;
  transaction<T>(fn: (trx: Trx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** SQLite only: FULL (default) makes an acknowledged commit survive power loss; NORMAL is faster. */
  synchronous?: Synchronous;
}

/** Open (creating and migrating when needed) the store named by a path, `sqlite:PATH`, or a postgres URL. */
export async function openStore(target: string, opts: StoreOptions = {}): Promise<Store> {
  if (/^postgres(ql)?:\/\//.test(target)) {
    throw new VtError('BAD_INPUT', 'PostgreSQL stores are not available in this version', {
      hint: 'Use a SQLite file: unset VT_DATABASE_URL or pass --db .vt/vt.db',
    });
  }
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
  const reshaped = await migrate(db, (d) => sqliteAfterMigrate(d));
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

/** Migrate to the latest schema; true when a migration that reshapes projections ran on a store with events. */
async function migrate(db: Db, after: (db: Kysely<unknown>) => Promise<void>): Promise<boolean> {
  // Each part of vt numbers its migrations in its own range (001-009, 010-014, ...): a store made
  // before a lower-numbered migration existed must still take it.
  const migrator = new Migrator({ db, provider: migrationProvider, allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
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
