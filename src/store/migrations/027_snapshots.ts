import type { Kysely } from 'kysely';

/**
 * The latest snapshot of each project's folded state, so loading a project reads the snapshot and
 * the events after it instead of the whole history. A cache: never a projection, never compared,
 * discarded when the state's shape changes (`shape`) or when it disagrees with the chain (`head_hash`).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('snapshots')
    .addColumn('project_id', 'text', (c) => c.primaryKey())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('head_hash', 'text', (c) => c.notNull())
    .addColumn('shape', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
}
