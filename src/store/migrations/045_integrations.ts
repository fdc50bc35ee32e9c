import type { Kysely } from 'kysely';

/**
 * Integrations (operational state, not projections of events): one row per webhook delivery attempt,
 * the MLflow aliases the guard has seen, and an index so deliverers find their due outbox rows.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('webhook_attempts')
    .addColumn('outbox_id', 'text', (c) => c.notNull())
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('endpoint', 'text', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('http_status', 'integer')
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addColumn('error', 'text')
    .addPrimaryKeyConstraint('webhook_attempts_pk', ['outbox_id', 'attempt'])
    .execute();
  await db.schema
    .createTable('mlflow_aliases')
    .addColumn('tracking_uri', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('alias', 'text', (c) => c.notNull())
    .addColumn('version', 'text')
    .addColumn('seen_at', 'text', (c) => c.notNull())
    .addColumn('flagged_version', 'text')
    .addPrimaryKeyConstraint('mlflow_aliases_pk', ['tracking_uri', 'model', 'alias'])
    .execute();
  await db.schema
    .createIndex('outbox_due')
    .on('outbox')
    .columns(['kind', 'delivered_at', 'next_at'])
    .execute();
}
