import { type Kysely, sql } from 'kysely';

/**
 * Scheduled visits (a projection of visit.scheduled, visit.due and schedule.missed): one row per due
 * time of a project's phase, the primary key making a second visit for the same due time impossible.
 * Workers find what is due with the partial index over the rows still waiting. Earlier events hold no
 * schedules, so the new table starts empty without a rebuild.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('scheduled_visits')
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('phase', 'text', (c) => c.notNull())
    .addColumn('due_at', 'text', (c) => c.notNull())
    .addColumn('visit', 'integer', (c) => c.notNull())
    .addColumn('schedule', 'text', (c) => c.notNull())
    .addColumn('period_ms', 'double precision', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('ticket', 'text')
    .addColumn('queued_at', 'text')
    .addColumn('late_ms', 'double precision')
    .addColumn('missed', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('scheduled_visits_pk', ['project_id', 'phase', 'due_at'])
    .execute();
  await db.schema
    .createIndex('scheduled_visits_waiting')
    .on('scheduled_visits')
    .column('due_at')
    .where(sql.ref('ticket'), 'is', null)
    .execute();
}
