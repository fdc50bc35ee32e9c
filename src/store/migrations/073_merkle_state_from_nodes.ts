import { type Kysely, sql } from 'kysely';

/**
 * The Merkle log's size and compact range are read back from its stored subtrees (the last one
 * completed gives the size, the range is one subtree per set bit of it), so an append no longer
 * rewrites a state row: one page less written on every commit. The row keeps the log's origin.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table merkle_log drop column size`.execute(db);
  await sql`alter table merkle_log drop column compact_range`.execute(db);
}
