import { type Kysely, sql } from 'kysely';
import { appendLeaf, emptyRange, eventLeafHash, type TreeNode } from '../../merkle.ts';
import { isPostgres } from '../dialect.ts';
import { encodeRange, insertNodes, newOrigin } from '../merkle-log.ts';
import type { DB } from '../schema.ts';

/**
 * The global Merkle log (RFC 6962) over all events in commit order: leaf gseq-1 is the event with
 * that gseq. `merkle_nodes` keeps every perfect subtree's hash (keyed by completion order), `merkle_log` the one row the
 * sequencer moves (origin, size, compact range). Events already stored are logged in gseq order.
 */
export async function up(raw: Kysely<unknown>): Promise<void> {
  const db = raw as unknown as Kysely<DB>;
  // Bytes are `blob` on SQLite and `bytea` on PostgreSQL. An integer key is SQLite's rowid (64-bit);
  // PostgreSQL's `integer` is 32-bit, and positions run to about twice the number of events.
  const pg = isPostgres(db);
  const bytes = pg ? 'bytea' : 'blob';
  const int64 = pg ? 'bigint' : 'integer';
  await db.schema
    .createTable('merkle_nodes')
    // Keyed by completion order: appends only ever touch the end of the index.
    .addColumn('pos', int64, (c) => c.primaryKey())
    .addColumn('level', 'integer', (c) => c.notNull())
    .addColumn('idx', int64, (c) => c.notNull())
    .addColumn('hash', bytes, (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('merkle_log')
    .addColumn('id', 'integer', (c) => c.primaryKey().check(sql`id = 1`))
    .addColumn('origin', 'text', (c) => c.notNull())
    .addColumn('size', int64, (c) => c.notNull())
    .addColumn('compact_range', bytes, (c) => c.notNull())
    .execute();

  // PostgreSQL: writers append while a migration runs; hold them off until the log covers every event.
  if (pg) await sql`lock table events in exclusive mode`.execute(db);
  const range = emptyRange();
  let after = 0;
  for (;;) {
    const rows = await db
      .selectFrom('events')
      .select(['project_id', 'seq', 'hash', 'gseq'])
      .where('gseq', '>', after)
      .orderBy('gseq')
      .limit(5000)
      .execute();
    const nodes: TreeNode[] = [];
    for (const e of rows) {
      if (e.gseq !== range.size + 1)
        throw new Error(
          `events are not numbered 1, 2, ...: event ${e.project_id}#${e.seq} has gseq ${e.gseq}`,
        );
      nodes.push(...appendLeaf(range, eventLeafHash(e)));
    }
    await insertNodes(db, nodes);
    if (rows.length < 5000) break;
    after = rows[rows.length - 1]!.gseq;
  }
  // The size and range columns of this version of the table (dropped again by migration 073).
  await sql`insert into merkle_log (id, origin, size, compact_range) values (1, ${newOrigin()}, ${range.size}, ${encodeRange(range)})`.execute(
    db,
  );
}
