import { type Kysely, sql } from 'kysely';
import { isPostgres } from '../dialect.ts';

/**
 * A global position for every event (`gseq`), assigned in the append transaction: the order events
 * were committed in across all projects. Live streams resume from it and the Merkle log's leaf
 * index follows it. Existing events are numbered in the order they were inserted.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  if (isPostgres(db)) {
    // PostgreSQL stores start at this version or later: no trigger yet, and no rowid to number by.
    await db.schema.alterTable('events').addColumn('gseq', 'bigint').execute();
    await sql`update events set gseq = o.n from
      (select project_id, seq, row_number() over (order by project_id, seq) as n from events) o
      where events.project_id = o.project_id and events.seq = o.seq`.execute(db);
  } else {
    await db.schema.alterTable('events').addColumn('gseq', 'integer').execute();
    // The append-only triggers are re-created after every migration run (sqliteAfterMigrate).
    await sql`drop trigger if exists events_no_update`.execute(db);
    await sql`update events set gseq = rowid`.execute(db);
  }
  await db.schema.createIndex('events_gseq').on('events').column('gseq').unique().execute();
}
