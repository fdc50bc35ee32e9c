import { type Kysely, sql } from 'kysely';
import { appendLeaf, emptyRange, eventLeafHash, type TreeNode } from '../../audit/merkle.ts';
import { encodeRange, insertNodes, newOrigin } from '../merkle-log.ts';
import type { DB } from '../schema.ts';

/**
 * The global Merkle log (RFC 6962) over all events in commit order: leaf gseq-1 is the event with
 * that gseq. `merkle_nodes` keeps every perfect subtree's hash (keyed by completion order), `merkle_log` the one row the
 * sequencer moves (origin, size, compact range). Events already stored are logged in gseq order.
 */
export async function up(raw: Kysely<unknown>): Promise<void> {
  const db = raw as unknown as Kysely<DB>;
  await db.schema
    .createTable('merkle_nodes')
    // Keyed by completion order (an integer key is SQLite's rowid): appends only ever touch the end.
    .addColumn('pos', 'integer', (c) => c.primaryKey())
    .addColumn('level', 'integer', (c) => c.notNull())
    .addColumn('idx', 'integer', (c) => c.notNull())
    .addColumn('hash', 'blob', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('merkle_log')
    .addColumn('id', 'integer', (c) => c.primaryKey().check(sql`id = 1`))
    .addColumn('origin', 'text', (c) => c.notNull())
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('compact_range', 'blob', (c) => c.notNull())
    .execute();

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
  await db
    .insertInto('merkle_log')
    .values({ id: 1, origin: newOrigin(), size: range.size, compact_range: encodeRange(range) })
    .execute();
}
