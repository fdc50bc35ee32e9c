import {
  CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
  type SelectQueryNode,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  sql,
} from 'kysely';

/** The few parts of better-sqlite3 this driver uses; the store never imports the driver package itself. */
export interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
  exec(sql: string): unknown;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  close(): unknown;
  readonly inTransaction: boolean;
}
interface SqliteStatement {
  readonly reader: boolean;
  all(parameters: readonly unknown[]): unknown[];
  run(parameters: readonly unknown[]): { changes: number | bigint; lastInsertRowid: number | bigint };
}

/**
 * A Kysely dialect over better-sqlite3 that starts every transaction with BEGIN IMMEDIATE (so
 * several processes sharing one file queue on the write lock instead of failing with SQLITE_BUSY
 * half-way) and caches prepared statements.
 */
export class ImmediateSqliteDialect implements Dialect {
  readonly #db: SqliteDatabase;
  constructor(db: SqliteDatabase) {
    this.#db = db;
  }
  createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#db);
  }
  createQueryCompiler() {
    return new RowLockFreeSqliteCompiler();
  }
  createAdapter() {
    return new TransactionalDdlSqliteAdapter();
  }
  createIntrospector(db: Kysely<unknown>) {
    return new SqliteIntrospector(db);
  }
}

/**
 * SQLite has no row locks and no FOR UPDATE: every write transaction here begins IMMEDIATE, which
 * already holds the database's write lock. Dropping the clause lets one query lock a row on
 * PostgreSQL and run unchanged on SQLite.
 */
class RowLockFreeSqliteCompiler extends SqliteQueryCompiler {
  protected override visitSelectQuery(node: SelectQueryNode): void {
    const endModifiers = node.endModifiers?.filter((m) => m.modifier !== 'ForUpdate');
    super.visitSelectQuery(
      endModifiers?.length ? { ...node, endModifiers } : { ...node, endModifiers: undefined },
    );
  }
}

/**
 * SQLite runs DDL inside transactions; saying so makes Kysely's migrator wrap each migration in one,
 * so a process killed mid-migration leaves the previous schema, not half of the next.
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class ImmediateSqliteDriver implements Driver {
  readonly #connection: CachedConnection;
  readonly #db: SqliteDatabase;
  constructor(db: SqliteDatabase) {
    this.#db = db;
    this.#connection = new CachedConnection(db);
  }
  async init() {}
  async acquireConnection() {
    return this.#connection;
  }
  async beginTransaction(conn: DatabaseConnection) {
    await conn.executeQuery(CompiledQuery.raw('begin immediate'));
  }
  async commitTransaction(conn: DatabaseConnection) {
    await conn.executeQuery(CompiledQuery.raw('commit'));
  }
  async rollbackTransaction(conn: DatabaseConnection) {
    // SQLite rolls a transaction back by itself on some errors (SQLITE_FULL, SQLITE_IOERR, …); a
    // second rollback would fail with "no transaction is active" and hide the error that matters.
    if (!this.#db.inTransaction) return;
    await conn.executeQuery(CompiledQuery.raw('rollback'));
  }
  async releaseConnection() {}
  async destroy() {
    this.#db.close();
  }
}

class CachedConnection implements DatabaseConnection {
  readonly #db: SqliteDatabase;
  readonly #statements = new Map<string, SqliteStatement>();
  constructor(db: SqliteDatabase) {
    this.#db = db;
  }
  #prepare(text: string): SqliteStatement {
    let stmt = this.#statements.get(text);
    if (!stmt) {
      stmt = this.#db.prepare(text);
      if (this.#statements.size > 500) this.#statements.clear();
      this.#statements.set(text, stmt);
    }
    return stmt;
  }
  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const stmt = this.#prepare(query.sql);
    if (stmt.reader) return { rows: stmt.all(query.parameters) as R[] };
    const { changes, lastInsertRowid } = stmt.run(query.parameters);
    return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
  }
  // biome-ignore lint/correctness/useYield: streaming is not used by the store
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not supported by the SQLite store');
  }
}

export type Synchronous = 'FULL' | 'NORMAL';

/** Pragmas that make an acknowledged commit durable and let other processes wait their turn. */
export function configureSqlite(db: SqliteDatabase, synchronous: Synchronous): void {
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  db.pragma('busy_timeout = 10000');
  db.pragma('foreign_keys = ON');
}

/** The events table refuses edits: a tamper-evident log is append-only at the storage level too. */
export async function sqliteAfterMigrate(db: Kysely<unknown>): Promise<void> {
  await createEventGuards(db, false);
}

/**
 * The triggers that make events append-only. One UPDATE passes, the audited erasure: the payload
 * becomes an erasure marker (`{"erased_by_seq":N,"residue":{…}}`) naming an `event.erased` event
 * of the same project, later in its chain, that names this event; every other column is unchanged
 * (so the chain, which covers payload_sha256, still verifies) and the payload was not a marker
 * already. Anything else, and every DELETE, aborts. `replace` drops older versions first.
 */
export async function createEventGuards(db: Kysely<unknown>, replace: boolean): Promise<void> {
  if (replace) {
    await sql`drop trigger if exists events_no_update`.execute(db);
    await sql`drop trigger if exists events_no_delete`.execute(db);
  }
  await sql`create trigger if not exists events_no_update before update on events
    when not (
      new.project_id = old.project_id and new.seq = old.seq and new.ts = old.ts
      and new.actor = old.actor and new.type = old.type and new.payload_sha256 = old.payload_sha256
      and new.prev_hash = old.prev_hash and new.hash = old.hash
      and new.idempotency_key is old.idempotency_key and new.gseq is old.gseq
      and json_valid(new.payload)
      and json_type(new.payload, '$.erased_by_seq') = 'integer'
      and json_type(new.payload, '$.residue') = 'object'
      and (select count(*) from json_each(new.payload)) = 2
      and json_type(old.payload, '$.erased_by_seq') is null
      and exists (select 1 from events x
        where x.project_id = new.project_id
          and x.seq = json_extract(new.payload, '$.erased_by_seq') and x.seq > new.seq
          and x.type = 'event.erased' and json_extract(x.payload, '$.seq') = new.seq)
    )
    begin select raise(abort, 'events are append-only'); end`.execute(db);
  await sql`create trigger if not exists events_no_delete before delete on events
    begin select raise(abort, 'events are append-only'); end`.execute(db);
}
