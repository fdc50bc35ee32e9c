import type { Kysely } from 'kysely';

/**
 * What each idempotency key was first used for, so the same key with a different command is refused
 * instead of silently replaying the first. Operational state, written with the events it keys.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('idempotency_requests')
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('request', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('idempotency_requests_pk', ['project_id', 'key'])
    .execute();
}
