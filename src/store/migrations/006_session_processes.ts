import type { Kysely } from 'kysely';

/**
 * The process each executor runs as (its group leader), by pid and start time, while its session is
 * live: a `vt` started anywhere below it is known to act for that session even with its environment
 * stripped. Operational state: never a projection, never rebuilt.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('session_processes')
    .addColumn('session', 'text', (c) => c.notNull())
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('pid', 'integer', (c) => c.notNull())
    .addColumn('start', 'integer', (c) => c.notNull())
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('session_processes_pk', ['host', 'pid', 'start'])
    .execute();
}
