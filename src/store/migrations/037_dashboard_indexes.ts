import type { Kysely } from 'kysely';

/** Indexes the dashboard's pages read by: the portfolio by team and phase, the inbox by status and age. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('projects_team_phase').on('projects').columns(['team', 'phase']).execute();
  await db.schema.createIndex('projects_phase_status').on('projects').columns(['phase', 'status']).execute();
  await db.schema
    .createIndex('tickets_status_updated')
    .on('tickets')
    .columns(['status', 'updated_at', 'id'])
    .execute();
  await db.schema
    .createIndex('events_project_type')
    .on('events')
    .columns(['project_id', 'type', 'seq'])
    .execute();
  await db.schema.createIndex('waivers_expiry').on('waivers').column('expires_at').execute();
}
