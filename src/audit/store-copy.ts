import { sql } from 'kysely';
import { VtError } from '../errors.ts';
import type { ChainHead } from '../store/chain.ts';
import { isPostgres } from '../store/dialect.ts';
import { readLogState } from '../store/merkle-log.ts';
import type { Db, Store, Trx } from '../store/store.ts';
import { verifyStore } from './audit.ts';
import { verifyLog } from './verify-log.ts';

/** Never copied: the schema's own bookkeeping, caches, and per-backend counters (set afterwards). */
const SKIP = new Set([
  'kysely_migration',
  'kysely_migration_lock',
  'snapshots',
  'counters',
  'sqlite_sequence',
]);

export interface CopyReport {
  from: string;
  to: string;
  tables: Record<string, number>;
  events: number;
  projects: number;
  verified: boolean;
}

/**
 * Copy a whole store into an empty one (SQLite to PostgreSQL or back): events with their stored
 * text and positions, projections and operational tables, in one transaction on the target, read
 * from one snapshot of the source (so a store in use copies as it stood when the copy began). Then
 * every chain of the target is recomputed and each head compared with the source's; a difference
 * is an error (the copy stays, for inspection; the source is never written).
 */
export async function copyStore(
  from: Store,
  to: Store,
  /** Told of each table as it is copied (awaited: a slow report slows the copy, never reorders it). */
  onTable: (table: string, rows: number) => void | Promise<void> = () => {},
): Promise<CopyReport> {
  const have = await to.db
    .selectFrom('events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  if (Number(have.n) > 0)
    throw new VtError(
      'CONFLICT',
      `the target ${to.location} already holds ${have.n} events; copy into an empty store`,
      {
        hint: 'Create a new database (createdb NAME) or choose a new SQLite file',
      },
    );
  // Every read of the source is in one snapshot, on one connection: writers go on, and the copy is
  // the store of the moment it began (its events, projections and Merkle log agree).
  const { tables, source, was } = await inSnapshot(from, async (src) => {
    const sourceTables = await tableColumns(src);
    const targetTables = await tableColumns(to.db);
    const tables: Record<string, number> = {};
    await to.db.transaction().execute(async (trx) => {
      for (const [table, cols] of Object.entries(sourceTables)) {
        if (SKIP.has(table) || table.startsWith('sqlite_')) continue;
        const target = targetTables[table];
        if (!target)
          throw new VtError('STORE_ERROR', `the target has no table ${table}: migrate it first`, {
            hint: `vt db migrate --db ${to.location}`,
          });
        const shared = cols.filter((c) => target.includes(c));
        await trx.deleteFrom(table as never).execute(); // a fresh store may hold rows of its own (none today)
        const key = await primaryKey(src, table);
        tables[table] = await copyTable(src, trx, table, shared, key.length ? key : null);
        await onTable(table, tables[table]!);
      }
      if (to.kind === 'postgres')
        await sql`update counters set value = (select coalesce(max(gseq), 0) from events) where name = 'gseq'`.execute(
          trx,
        );
    });
    return { tables, source: await heads(src), was: await readLogState(src) };
  });
  // The snapshot is over (a long verification must not hold the source's connection idle in it).
  const verified = await verifyStore(to.db);
  const copied = verified.heads;
  const differ = Object.keys(source).find(
    (p) => copied[p]?.seq !== source[p]!.seq || copied[p]?.hash !== source[p]!.hash,
  );
  if (!verified.ok || differ || Object.keys(copied).length !== Object.keys(source).length) {
    const why = verified.firstBad
      ? `event ${verified.firstBad.project_id}#${verified.firstBad.seq}: ${verified.firstBad.reason}`
      : `the chain of ${differ ?? '(a project)'} differs from the source`;
    throw new VtError('VERIFY_FAILED', `the copy in ${to.location} does not verify: ${why}`);
  }
  // The Merkle log came along with its tables: the copy is the same log (origin, size, root), and its
  // stored log agrees with a recomputation from the copied events, so its checkpoints still verify.
  const log = await verifyLog(to.db, { dir: null, key: null });
  const sameLog =
    was.origin === log.origin && was.range.size === log.size && was.root.toString('base64') === log.root;
  if (!log.ok || !sameLog)
    throw new VtError(
      'VERIFY_FAILED',
      `the copy in ${to.location} does not verify: ${log.findings[0]?.message ?? `its Merkle log (${log.origin}, size ${log.size}) is not the source's (${was.origin}, size ${was.range.size})`}`,
    );
  return {
    from: from.location,
    to: to.location,
    tables,
    events: verified.checked,
    projects: verified.projects,
    verified: true,
  };
}

/**
 * Run `fn` on one connection of `store` inside one read-only snapshot: PostgreSQL's repeatable read,
 * or a SQLite read transaction (which sees the write-ahead log as it stood at its first read).
 */
async function inSnapshot<T>(store: Store, fn: (db: Db) => Promise<T>): Promise<T> {
  return store.db.connection().execute(async (conn) => {
    const begin = store.kind === 'postgres' ? 'begin isolation level repeatable read read only' : 'begin';
    await sql.raw(begin).execute(conn);
    try {
      const out = await fn(conn);
      await sql.raw('commit').execute(conn);
      return out;
    } catch (err) {
      await sql
        .raw('rollback')
        .execute(conn)
        .catch(() => {});
      throw err;
    }
  });
}

async function heads(db: Db): Promise<Record<string, ChainHead>> {
  const out: Record<string, ChainHead> = {};
  for (const r of await db.selectFrom('projects').select(['id', 'head_seq', 'head_hash']).execute())
    out[r.id] = { seq: r.head_seq, hash: r.head_hash };
  return out;
}

/** A table's primary key columns, in key order (empty when it has none). */
async function primaryKey(db: Db, table: string): Promise<string[]> {
  if (isPostgres(db)) {
    const r = await sql<{ column_name: string }>`select a.attname as column_name
      from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
      where i.indrelid = ${table}::regclass and i.indisprimary
      order by array_position(i.indkey, a.attnum)`.execute(db);
    return r.rows.map((x) => x.column_name);
  }
  const r = await sql<{
    name: string;
    pk: number;
  }>`select name, pk from pragma_table_info(${table}) where pk > 0 order by pk`.execute(db);
  return r.rows.map((x) => x.name);
}

async function tableColumns(db: Db): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const t of await db.introspection.getTables()) out[t.name] = t.columns.map((c) => c.name);
  return out;
}

/**
 * Page through the source by its primary key (a seek each page) and insert in batches the target
 * accepts; a table without one pages by offset over all its columns.
 */
async function copyTable(
  src: Db,
  trx: Trx,
  table: string,
  cols: string[],
  key: string[] | null,
): Promise<number> {
  const batch = Math.max(1, Math.min(1000, Math.floor(30_000 / cols.length)));
  let after: unknown[] | null = null;
  let n = 0;
  for (;;) {
    const keyRow = sql.join((key ?? cols).map((k) => sql.ref(k)));
    let q = sql`select ${sql.join(cols.map((c) => sql.ref(c)))} from ${sql.table(table)}`;
    if (key && after) q = sql`${q} where (${keyRow}) > (${sql.join(after)})`;
    const tail = key ? sql`limit ${batch}` : sql`limit ${batch} offset ${n}`;
    const page = await sql<Record<string, unknown>>`${q} order by ${keyRow} ${tail}`.execute(src);
    const rows = page.rows;
    if (!rows.length) return n;
    await trx
      .insertInto(table as never)
      .values(rows as never)
      .execute();
    n += rows.length;
    if (rows.length < batch) return n;
    const last = rows[rows.length - 1]!;
    if (key) after = key.map((k) => last[k]);
  }
}
