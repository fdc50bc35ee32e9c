// The SQLite store: loaded only for a SQLite target, so a command on PostgreSQL starts without the
// native better-sqlite3 module (as one on SQLite starts without pg).
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely } from 'kysely';
import { VtError } from '../errors.ts';
import { classifyFailure } from '../failures.ts';
import { logAppended } from './append.ts';
import { configureSqlite, ImmediateSqliteDialect } from './dialects/sqlite.ts';
import { GroupCommitter } from './group-commit.ts';
import { sqliteSequencer } from './merkle-log.ts';
import { MIGRATIONS } from './migrations/index.ts';
import type { DB } from './schema.ts';
import { assertStoreFileSound } from './sqlite-file.ts';
import type { Store, StoreOptions } from './store.ts';

/** Open (creating it if need be) the SQLite store in `file`, for reading and writing. */
export function openSqlite(file: string, opts: StoreOptions): Store {
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

/** A read-only store, or null when it must be opened for writing first (it needs migrating). */
export function openReadonly(file: string): Store | null {
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

/** An error opening `file`, as vt reports it: a known failure, or STORE_ERROR with the cause. */
export function openError(file: string, err: unknown): unknown {
  const known = classifyFailure(err, { store: file });
  if (known !== err) return known;
  return new VtError('STORE_ERROR', `cannot open the store ${file}: ${(err as Error).message}`, {
    details: { store: file, cause: (err as { code?: string }).code ?? null },
  });
}
