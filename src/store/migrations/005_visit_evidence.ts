import type { Kysely } from 'kysely';

/**
 * Evidence belongs to a visit: checklist and artifact rows are kept per (phase, visit), with the
 * session that made them and the commit they were judged in; commits and gate evaluations get tables
 * of their own. The reshaped projections are rebuilt from the events after migrating.
 */
export const rebuildsProjections = true;

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('checklist').execute();
  await db.schema
    .createTable('checklist')
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('phase', 'text', (c) => c.notNull())
    .addColumn('visit', 'integer', (c) => c.notNull())
    .addColumn('item', 'text', (c) => c.notNull())
    .addColumn('ticked', 'integer', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('ts', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('session', 'text')
    .addColumn('carried_from', 'integer')
    .addPrimaryKeyConstraint('checklist_pk', ['project_id', 'phase', 'visit', 'item'])
    .execute();
  await db.schema.dropTable('artifacts').execute();
  await db.schema
    .createTable('artifacts')
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('phase', 'text', (c) => c.notNull())
    .addColumn('visit', 'integer', (c) => c.notNull())
    .addColumn('artifact', 'text', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('workspace', 'text', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('ts', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('session', 'text')
    .addColumn('commit_sha', 'text')
    .addColumn('carried_from', 'integer')
    .addPrimaryKeyConstraint('artifacts_pk', ['project_id', 'phase', 'visit', 'artifact'])
    .execute();
  await db.schema.alterTable('metrics').addColumn('session', 'text').execute();
  await db.schema.alterTable('metrics').addColumn('carried_from', 'integer').execute();
  await db.schema
    .createTable('commits')
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('phase', 'text', (c) => c.notNull())
    .addColumn('visit', 'integer', (c) => c.notNull())
    .addColumn('session', 'text')
    .addColumn('ticket', 'text')
    .addColumn('commit_sha', 'text', (c) => c.notNull())
    .addColumn('tree', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('ts', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('commits_pk', ['project_id', 'seq'])
    .execute();
  await db.schema
    .createTable('gate_evaluations')
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('phase', 'text', (c) => c.notNull())
    .addColumn('visit', 'integer', (c) => c.notNull())
    .addColumn('side', 'text', (c) => c.notNull())
    .addColumn('passed', 'integer', (c) => c.notNull())
    .addColumn('results', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('ts', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('gate_evaluations_pk', ['project_id', 'seq'])
    .execute();
  await db.schema
    .createIndex('gate_evaluations_phase')
    .on('gate_evaluations')
    .columns(['project_id', 'phase', 'visit'])
    .execute();
  await db.schema.alterTable('waivers').addColumn('visit', 'integer').execute();
  await db.schema.alterTable('waivers').addColumn('confirms', 'integer').execute();
  await db.schema
    .alterTable('projects')
    .addColumn('phase_visit', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema.alterTable('tickets').addColumn('reason', 'text').execute();
}
