import { type Kysely, sql } from 'kysely';

/**
 * When each project entered its current phase (a projection of project.created and phase.advanced),
 * so the portfolio's ages per phase are one indexed scan instead of a subquery per project.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('projects').addColumn('phase_since', 'text').execute();
  await sql`update projects set phase_since = coalesce(
    (select t.ts from transitions t where t.project_id = projects.id and t.to_phase is not null order by t.n desc limit 1),
    created_at)`.execute(db);
  await db.schema
    .createIndex('projects_status_phase_since')
    .on('projects')
    .columns(['status', 'phase', 'phase_since'])
    .execute();
}
